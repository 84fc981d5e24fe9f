using Scalpel.Tensors;

namespace Scalpel.Models;

/// <summary>
/// A named weight of a model. Names follow Hugging Face (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>,
/// LoRA: <c>model.layers.0.self_attn.q_proj.lora_A.weight</c>) so adapters and exports need no name mapping.
/// Trainable parameters are F32 and carry a gradient of the same shape.
/// </summary>
public sealed class Parameter(string name, Tensor value) : IDisposable
{
    public string Name { get; } = name;
    public Tensor Value { get; internal set; } = value;
    public Tensor? Grad { get; internal set; }
    public bool Trainable => Grad is not null;

    /// <summary>
    /// Counts writes made through <see cref="MarkChanged"/> (optimizer steps, adapter loads), so values derived from a
    /// parameter (DoRA's norms in generation) are recomputed only when it changed.
    /// </summary>
    internal int Version { get; private set; }

    internal void MarkChanged() => Version++;

    /// <summary>Whether AdamW's weight decay applies: matrices yes; biases and norm weights (1-D) no, like HF's Trainer.</summary>
    public bool Decays => Value.Shape.Length >= 2;

    public void Dispose()
    {
        Value.Dispose();
        Grad?.Dispose();
    }
}
