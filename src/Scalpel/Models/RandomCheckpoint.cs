using Scalpel.IO;
using Scalpel.Tensors;

namespace Scalpel.Models;

/// <summary>
/// Writes a model with random weights in the real Hugging Face layout (config.json + model.safetensors, or shards
/// plus model.safetensors.index.json). Used by tests, the demo and benchmarks: no weights are ever downloaded for
/// them. Returns the weights exactly as stored (after BF16 rounding when stored as BF16).
/// </summary>
public static class RandomCheckpoint
{
    public static Dictionary<string, float[]> Write(ModelSpec spec, string directory, int seed, DType storeAs = DType.F32, int shards = 1)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), spec.ToConfigJson());
        var rng = new Random(seed);
        var weights = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();

        void Add(string name, int[] shape, Func<float> value)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            var data = new float[n];
            for (int i = 0; i < n; i++) data[i] = value();
            if (storeAs == DType.BF16)
                for (int i = 0; i < n; i++) data[i] = BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(data[i]));
            weights[name] = data;
            shapes[name] = shape;
        }
        float Matrix() => (float)(rng.NextDouble() * 2 - 1) * 0.25f;
        float Norm() => spec.NormWeightOffset != 0 ? (float)(rng.NextDouble() - 0.5) * 0.4f : 1f + (float)(rng.NextDouble() - 0.5) * 0.4f;
        float Bias() => (float)(rng.NextDouble() - 0.5) * 0.2f;

        int d = spec.HiddenSize, qDim = spec.NumHeads * spec.HeadDim, kvDim = spec.NumKvHeads * spec.HeadDim, inter = spec.IntermediateSize;
        Add("model.embed_tokens.weight", [spec.VocabSize, d], () => (float)(rng.NextDouble() * 2 - 1));
        for (int l = 0; l < spec.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Add(p + "input_layernorm.weight", [d], Norm);
            foreach (var (m, o, i, bias) in new[] { ("q_proj", qDim, d, spec.AttentionBias), ("k_proj", kvDim, d, spec.AttentionBias),
                         ("v_proj", kvDim, d, spec.AttentionBias), ("o_proj", d, qDim, spec.AttentionOutputBias) })
            {
                Add(p + "self_attn." + m + ".weight", [o, i], Matrix);
                if (bias) Add(p + "self_attn." + m + ".bias", [o], Bias);
            }
            if (spec.QkNorm)
            {
                Add(p + "self_attn.q_norm.weight", [spec.HeadDim], Norm);
                Add(p + "self_attn.k_norm.weight", [spec.HeadDim], Norm);
            }
            Add(p + "post_attention_layernorm.weight", [d], Norm);
            foreach (var (m, o, i) in new[] { ("gate_proj", inter, d), ("up_proj", inter, d), ("down_proj", d, inter) })
            {
                Add(p + "mlp." + m + ".weight", [o, i], Matrix);
                if (spec.MlpBias) Add(p + "mlp." + m + ".bias", [o], Bias);
            }
        }
        Add("model.norm.weight", [d], Norm);
        if (!spec.TieWordEmbeddings) Add("lm_head.weight", [spec.VocabSize, d], Matrix);

        long totalBytes = weights.Values.Sum(w => (long)w.Length) * storeAs.SizeOf();
        long maxShardBytes = shards <= 1 ? long.MaxValue : (totalBytes + shards - 1) / shards;
        CheckpointWriter.Write(directory, weights.Select(kv => new CheckpointTensor(kv.Key, shapes[kv.Key], () => kv.Value)).ToList(),
            storeAs, maxShardBytes);
        return weights;
    }

}
