using Scalpel.IO;
using Scalpel.Models;

namespace Scalpel.Cli.Commands;

/// <summary><c>scalpel inspect MODEL_DIR</c>: what a checkpoint folder holds, read the way training will read it.</summary>
internal static class InspectCommand
{
    public static int Run(string[] args)
    {
        if (args is not [var dir]) throw new UsageException("usage: scalpel inspect MODEL_DIR");
        if (!Directory.Exists(dir)) throw new IOException($"{dir}: no such folder");
        var spec = ModelSpec.FromConfigFile(Path.Combine(dir, "config.json"));
        using var reader = CheckpointReader.Open(dir);
        Console.WriteLine($"{spec.Architecture} ({spec.ModelType}): {spec.NumLayers} layers, hidden {spec.HiddenSize}, " +
                          $"intermediate {spec.IntermediateSize}, heads {spec.NumHeads}/{spec.NumKvHeads} kv, head_dim {spec.HeadDim}, vocab {spec.VocabSize}");
        Console.WriteLine($"rope theta {spec.RopeTheta}, scaling {spec.Rope.Type}, tied embeddings {spec.TieWordEmbeddings}");
        long total = 0;
        foreach (var name in reader.TensorNames.Order(StringComparer.Ordinal))
        {
            var info = reader.Info(name);
            total += info.ElementCount;
            Console.WriteLine($"  {name,-60} {info.DType,-5} [{string.Join(", ", info.Shape)}]");
        }
        Console.WriteLine($"{total:N0} parameters");
        return 0;
    }
}
