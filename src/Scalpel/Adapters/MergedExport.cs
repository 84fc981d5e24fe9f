using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Backends;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Adapters;

/// <summary>
/// The base model with its LoRA adapter folded in (W ← W + scaling · B·A; with DoRA W ← m / ‖W + s·B·A‖ ⊙ (W + s·B·A)
/// row-wise; modules_to_save as trained) as a plain Hugging Face folder:
/// config.json, tokenizer and generation files copied from the base, weights in the chosen dtype, sharded with an
/// index above the shard size. Written to a temp folder and renamed, so the output is never half-written.
/// </summary>
public static class MergedExport
{
    /// <summary>Files of a model folder that travel with the weights.</summary>
    public static readonly string[] CompanionFiles =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt",
        "added_tokens.json", "generation_config.json", "chat_template.jinja", "chat_template.json",
    ];

    public static void Write(DecoderModel model, string sourceDirectory, string outputDirectory, DType storeAs,
        long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes)
    {
        if (Directory.Exists(outputDirectory) && Directory.EnumerateFileSystemEntries(outputDirectory).Any())
            throw new IOException($"{outputDirectory}: already exists and is not empty; choose another --out or remove it");
        string full = Path.GetFullPath(outputDirectory);
        string temp = full.TrimEnd(Path.DirectorySeparatorChar) + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            CheckpointWriter.Write(temp, MergedTensors(model), storeAs, maxShardBytes);

            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(sourceDirectory, "config.json")))!.AsObject();
            config["torch_dtype"] = storeAs switch { DType.BF16 => "bfloat16", DType.F16 => "float16", _ => "float32" };
            // Training embed_tokens or lm_head of a tied checkpoint unties them (modules_to_save): both are written.
            if (model.Spec.TieWordEmbeddings && !model.TiedEmbeddings) config["tie_word_embeddings"] = false;
            File.WriteAllText(Path.Combine(temp, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            foreach (var name in CompanionFiles)
            {
                string source = Path.Combine(sourceDirectory, name);
                if (File.Exists(source)) File.Copy(source, Path.Combine(temp, name));
            }
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(temp, full);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>
    /// Every base parameter under its Hugging Face name (adapter tensors left out), each with a producer of its F32
    /// values with the LoRA delta folded in. Shared by the merged-folder and GGUF exports.
    /// </summary>
    public static IReadOnlyList<CheckpointTensor> MergedTensors(DecoderModel model)
    {
        var adapted = model.Blocks.SelectMany(b => b.Linears).Where(l => l.Lora is not null).ToDictionary(l => l.Weight.Name);
        return model.Parameters
            .Where(p => !p.Name.Contains(".lora_", StringComparison.Ordinal))
            .Select(p => new CheckpointTensor(p.Name, p.Value.Shape, () => MergedValues(model, p, adapted.GetValueOrDefault(p.Name)))
            {
                // Weights without a LoRA delta (all of them after full fine-tuning) are written a band of rows at a time.
                Fill = adapted.ContainsKey(p.Name) || p.Value.DType.IsQuantized() ? null : model.Backend.RangeDownloader(p.Value),
            })
            .ToList();
    }

    private static float[] MergedValues(DecoderModel model, Parameter p, Linear? linear)
    {
        var be = model.Backend;
        var values = new float[p.Value.Length];
        be.Download(p.Value, values);
        if (linear?.Lora is not { } lora) return values;
        using var delta = be.Allocate(DType.F32, linear.Out, linear.In);
        be.MatMul(delta, lora.B.Value, false, lora.A.Value, false, alpha: lora.Scaling);   // s·B·A  [out, in]
        var d = new float[delta.Length];
        be.Download(delta, d);
        System.Numerics.Tensors.TensorPrimitives.Add(values, d, values);
        if (lora.Dora is { } dora)
        {
            // DoRA: each row of W + s·B·A rescaled to its learnt magnitude.
            var m = new float[linear.Out];
            be.Download(dora.Magnitude.Value, m);
            for (int i = 0; i < linear.Out; i++)
            {
                var row = values.AsSpan(i * linear.In, linear.In);
                double norm = Math.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(row));
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, (float)(m[i] / norm), row);
            }
        }
        return values;
    }
}
