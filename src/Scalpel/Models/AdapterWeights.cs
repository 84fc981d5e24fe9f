using Scalpel.Adapters;

namespace Scalpel.Models;

/// <summary>
/// A LoRA adapter held next to a base model without being applied to it, so one base can serve several adapters: the
/// cached forward applies, to each sequence's rows, the adapter that sequence asked for. Loaded by
/// <see cref="PeftAdapter.LoadDetached"/>; dispose to free its tensors.
/// </summary>
public sealed class AdapterWeights : IDisposable
{
    internal AdapterWeights(string name, string directory, LoraConfig config, LoraWeights?[][] perLayer)
    {
        Name = name;
        Directory = directory;
        Config = config;
        PerLayer = perLayer;
    }

    public string Name { get; }
    public string Directory { get; }
    public LoraConfig Config { get; }
    /// <summary>[layer][linear in q, k, v, o, gate, up, down order]; null where the adapter has no LoRA.</summary>
    internal LoraWeights?[][] PerLayer { get; }

    public long ByteLength => PerLayer.SelectMany(l => l).OfType<LoraWeights>().SelectMany(w => w.Parameters()).Sum(p => p.Value.ByteLength);

    public void Dispose()
    {
        foreach (var w in PerLayer.SelectMany(l => l).OfType<LoraWeights>()) w.Dispose();
    }
}
