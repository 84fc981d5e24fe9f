using Scalpel.Tensors;

namespace Scalpel.Tests.Backends.Cpu.CrossEntropy;

public enum TokenWeighting { None, Uniform, Mixed }

/// <summary>
/// One LM-head loss problem. Every 5th target (offset by the seed) is IgnoreIndex; with Mixed weighting every 7th
/// token has weight 0 and the others weights in [0.25, 2).
/// </summary>
public sealed record CrossEntropyCase(int Tokens, int Dim, int Vocab, bool Bf16, TokenWeighting Weighting, float GradScale, int Seed = 1)
{
    public sealed record Inputs(float[] Hidden, float[] Weight, ushort[] WeightBf16, int[] Targets, float[] TokenWeights);

    public Inputs MakeInputs()
    {
        var rng = new Random(Seed * 1009 + Tokens * 17 + Vocab);
        float[] hidden = TestData.Normal(rng, Tokens * Dim);
        // logits ~ N(0, 2²): a spread-out softmax with a few dominant entries
        float[] weight = TestData.Normal(rng, Vocab * Dim, 2f / MathF.Sqrt(Dim));
        ushort[] bf16 = [];
        if (Bf16)
        {
            bf16 = new ushort[weight.Length];
            BFloat16Bits.Narrow(weight, bf16);
            BFloat16Bits.Widen(bf16, weight); // the reference sees exactly the values the BF16 head holds
        }
        var targets = new int[Tokens];
        var weights = Weighting == TokenWeighting.None ? [] : new float[Tokens];
        for (int t = 0; t < Tokens; t++)
        {
            targets[t] = (t + Seed) % 5 == 0 ? -100 : rng.Next(Vocab);
            if (Weighting == TokenWeighting.Uniform) weights[t] = 1f;
            if (Weighting == TokenWeighting.Mixed) weights[t] = t % 7 == 3 ? 0f : 0.25f + (float)rng.NextDouble() * 1.75f;
        }
        return new Inputs(hidden, weight, bf16, targets, weights);
    }

    public override string ToString() => $"T{Tokens} D{Dim} V{Vocab} {(Bf16 ? "bf16" : "f32")} {Weighting} g{GradScale}";
}
