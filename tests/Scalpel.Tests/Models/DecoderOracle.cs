using Scalpel.Models;
using Scalpel.Tests.Oracles;

namespace Scalpel.Tests.Models;

/// <summary>Builds inputs for tests/oracles/decoder.py (the PyTorch reference decoder) and compares results.</summary>
public static class DecoderOracle
{
    public static object SpecArgs(ModelSpec s) => new
    {
        hidden = s.HiddenSize, layers = s.NumLayers, heads = s.NumHeads, kv_heads = s.NumKvHeads, head_dim = s.HeadDim,
        eps = s.RmsNormEps, theta = s.RopeTheta,
        rope = new
        {
            type = s.Rope.Type switch { RopeType.Linear => "linear", RopeType.Llama3 => "llama3", _ => "default" },
            factor = s.Rope.Factor, low = s.Rope.LowFreqFactor, high = s.Rope.HighFreqFactor, original = s.Rope.OriginalMaxPositions,
        },
        qk_norm = s.QkNorm, norm_offset = s.NormWeightOffset, embed_scale = s.EmbeddingScale,
        activation = s.Activation == Activation.Silu ? "silu" : "gelu_tanh", sliding_window = s.SlidingWindow, tie = s.TieWordEmbeddings,
    };

    /// <summary>Packed micro-batches with awkward segment lengths, sprinkled ignored targets and uneven weights.</summary>
    public static TokenBatch[] Batches(int vocab, int seed, params int[][] segmentLengths)
    {
        var rng = new Random(seed);
        return segmentLengths.Select(lengths =>
        {
            var seqs = lengths.Select(n => (Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray(),
                Enumerable.Range(0, n).Select(i => i > 0 && rng.NextDouble() < 0.8).ToArray())).ToList();
            var weights = lengths.Select(n => Enumerable.Range(0, n).Select(_ => rng.NextDouble() < 0.1 ? 0f : 0.5f + (float)rng.NextDouble()).ToArray()).ToList();
            return TokenBatch.Pack(seqs, weights);
        }).ToArray();
    }

    public static Dictionary<string, OracleTensor> Inputs(ModelSpec spec, Dictionary<string, float[]> weights, DecoderModel model,
        IReadOnlyList<TokenBatch> batches)
    {
        var inputs = new Dictionary<string, OracleTensor>();
        foreach (var p in model.Parameters)
        {
            var values = weights.TryGetValue(p.Name, out var w) ? w : Download(model, p);
            inputs[p.Name] = new OracleTensor(values, p.Value.Shape);
        }
        for (int i = 0; i < batches.Count; i++)
        {
            var b = batches[i];
            inputs[$"mb{i}_ids"] = new OracleTensor(b.InputIds, b.Count);
            inputs[$"mb{i}_positions"] = new OracleTensor(b.Positions, b.Count);
            inputs[$"mb{i}_segstart"] = new OracleTensor(b.SegmentStart, b.Count);
            inputs[$"mb{i}_targets"] = new OracleTensor(b.Targets, b.Count);
            inputs[$"mb{i}_weights"] = new OracleTensor(b.Weights ?? Enumerable.Repeat(1f, b.Count).ToArray(), b.Count);
        }
        return inputs;
    }

    public static float[] Download(DecoderModel model, Parameter p)
    {
        var values = new float[p.Value.Length];
        model.Backend.Download(p.Value, values);
        return values;
    }

    public static float[] DownloadGrad(DecoderModel model, Parameter p)
    {
        var values = new float[p.Grad!.Length];
        model.Backend.Download(p.Grad, values);
        return values;
    }

    /// <summary>
    /// Gives LoRA B random values (B = 0 at init would make every A gradient zero and hide errors in A's path).
    /// </summary>
    public static void RandomizeLoraB(DecoderModel model, int seed)
    {
        var rng = new Random(seed);
        foreach (var (_, _, b) in model.LoraModules)
            model.Backend.Upload(b.Value, TestData.Uniform(rng, (int)b.Value.Length, 0.2f));
    }

    /// <summary>
    /// fp32 engine vs float64 oracle: each element within atol = scaleTol · max|expected| (so tiny gradients of a
    /// tensor are judged against its own scale) plus rtol · |expected|.
    /// </summary>
    public static void AssertTensorClose(float[] expected, float[] actual, float scaleTol, float rtol, string what)
    {
        float max = expected.Length == 0 ? 0 : expected.Max(MathF.Abs);
        AssertClose.Equal(expected, actual, atol: Math.Max(scaleTol * max, 1e-7f), rtol: rtol, what: what);
    }
}
