using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>One tensor to write: its values are produced only when its shard is written.</summary>
public sealed record CheckpointTensor(string Name, int[] Shape, Func<float[]> Values);

/// <summary>
/// Writes Hugging Face checkpoint weights: one model.safetensors, or shards of at most a given size named
/// <c>model-0000i-of-0000N.safetensors</c> plus model.safetensors.index.json, as transformers' save_pretrained does.
/// Only one tensor is in memory at a time: each is produced while its shard is written.
/// </summary>
public static class CheckpointWriter
{
    public const long DefaultMaxShardBytes = 5_000_000_000;

    public static void Write(string directory, IReadOnlyList<CheckpointTensor> tensors, DType storeAs, long maxShardBytes = DefaultMaxShardBytes)
    {
        if (storeAs is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"cannot store weights as {storeAs}");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        Directory.CreateDirectory(directory);

        // Greedy shards in tensor order, like transformers: a tensor larger than the limit gets a shard of its own.
        var shards = new List<List<CheckpointTensor>> { new() };
        long current = 0, total = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Shape.Aggregate(1L, (a, b) => a * b) * storeAs.SizeOf();
            if (current > 0 && current + bytes > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(t);
            current += bytes;
            total += bytes;
        }

        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        if (shards.Count == 1)
        {
            WriteShard(Path.Combine(directory, CheckpointReader.SingleFileName), shards[0], storeAs, metadata);
            return;
        }
        var weightMap = new JsonObject();
        for (int s = 0; s < shards.Count; s++)
        {
            string file = $"model-{s + 1:D5}-of-{shards.Count:D5}.safetensors";
            WriteShard(Path.Combine(directory, file), shards[s], storeAs, metadata);
            foreach (var t in shards[s]) weightMap[t.Name] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        string indexPath = Path.Combine(directory, CheckpointReader.IndexFileName);
        string temp = indexPath + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temp, indexPath, overwrite: true);
    }

    private static void WriteShard(string path, List<CheckpointTensor> tensors, DType storeAs, Dictionary<string, string> metadata)
    {
        var writer = new SafeTensorsWriter();
        foreach (var t in tensors) writer.Add(t.Name, storeAs, t.Shape, () => t.Values());   // produced one at a time while saving
        writer.Save(path, metadata);
    }
}
