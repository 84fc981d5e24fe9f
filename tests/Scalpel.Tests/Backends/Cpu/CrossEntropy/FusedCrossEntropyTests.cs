using Scalpel.Backends.Cpu.Kernels;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.CrossEntropy;

/// <summary>The chunked fused kernel against its naive double-precision twin.</summary>
public class FusedCrossEntropyTests
{
    public sealed record Fast(CrossEntropyResult Result, float[] DHidden, float[] DWeight);

    /// <summary>dHidden starts as NaN (must be overwritten); dWeight starts at <paramref name="dWeightStart"/> (must be added to).</summary>
    public static Fast RunFast(CrossEntropyCase c, CrossEntropyCase.Inputs x, int maxChunkRows = 0, float dWeightStart = 0.5f)
    {
        var dHidden = new float[c.Tokens * c.Dim];
        Array.Fill(dHidden, float.NaN);
        float[] dWeight = c.Bf16 ? [] : Enumerable.Repeat(dWeightStart, c.Vocab * c.Dim).ToArray();
        CrossEntropyResult r;
        if (maxChunkRows > 0)
            r = FusedCrossEntropy.ForwardBackward(x.Hidden, c.Bf16 ? [] : x.Weight, x.WeightBf16, c.Tokens, c.Dim, c.Vocab, x.Targets,
                x.TokenWeights, c.GradScale, dHidden, dWeight, maxChunkRows);
        else if (c.Bf16)
            r = FusedCrossEntropy.ForwardBackward(x.Hidden, x.WeightBf16, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights, c.GradScale, dHidden);
        else
            r = FusedCrossEntropy.ForwardBackward(x.Hidden, x.Weight, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights, c.GradScale,
                dHidden, dWeight);
        for (int i = 0; i < dWeight.Length; i++) dWeight[i] -= dWeightStart;
        return new Fast(r, dHidden, dWeight);
    }

    public static TheoryData<CrossEntropyCase, int> Cases => new()
    {
        { new CrossEntropyCase(9, 5, 1, false, TokenWeighting.None, 1f), 0 },          // one-word vocabulary: loss 0, grads 0
        { new CrossEntropyCase(23, 13, 37, false, TokenWeighting.Mixed, 0.37f), 4 },   // 4-row chunks, ragged last one
        { new CrossEntropyCase(23, 13, 37, true, TokenWeighting.Mixed, 0.37f), 5 },
        { new CrossEntropyCase(40, 33, 1000, false, TokenWeighting.Uniform, 1f / 32), 0 },
        { new CrossEntropyCase(40, 33, 1000, true, TokenWeighting.None, 2.5f), 16 },
        { new CrossEntropyCase(31, 67, 5003, false, TokenWeighting.Mixed, 0.05f), 7 },
        { new CrossEntropyCase(31, 67, 5003, true, TokenWeighting.Mixed, 0.05f), 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesNaiveReference(CrossEntropyCase c, int maxChunkRows)
    {
        var x = c.MakeInputs();
        var expected = NaiveCrossEntropy.Run(x.Hidden, x.Weight, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights, c.GradScale);
        var actual = RunFast(c, x, maxChunkRows);
        CrossEntropyAssert.Close(expected, actual, c.Bf16, c.ToString());

        // The loss-only entry points run the same chunks: the same numbers to the bit.
        var forward = c.Bf16
            ? FusedCrossEntropy.Forward(x.Hidden, x.WeightBf16, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights)
            : FusedCrossEntropy.Forward(x.Hidden, x.Weight, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights);
        if (maxChunkRows == 0) Assert.Equal(actual.Result, forward);
        else CrossEntropyAssert.Loss(expected, forward, c.ToString() + " forward");
    }

    [Fact]
    public void IgnoredAndZeroWeightTokensGetZeroGradientAndNoLoss()
    {
        var c = new CrossEntropyCase(30, 11, 50, false, TokenWeighting.Mixed, 1f);
        var x = c.MakeInputs();
        var fast = RunFast(c, x);
        int counted = 0;
        for (int t = 0; t < c.Tokens; t++)
        {
            if (x.Targets[t] != FusedCrossEntropy.IgnoreIndex) counted++;
            bool silent = x.Targets[t] == FusedCrossEntropy.IgnoreIndex || x.TokenWeights[t] == 0;
            for (int i = 0; i < c.Dim; i++)
                if (silent) Assert.Equal(0f, fast.DHidden[t * c.Dim + i]);
                else Assert.NotEqual(0f, fast.DHidden[t * c.Dim + i]);
        }
        Assert.Equal(counted, fast.Result.Count); // weight-0 tokens still count
        Assert.Contains(x.TokenWeights.Where((w, t) => x.Targets[t] != FusedCrossEntropy.IgnoreIndex), w => w == 0);

        // Changing what an ignored or weight-0 token holds changes nothing at all.
        for (int t = 0; t < c.Tokens; t++)
            if (x.Targets[t] == FusedCrossEntropy.IgnoreIndex || x.TokenWeights[t] == 0)
                for (int i = 0; i < c.Dim; i++) x.Hidden[t * c.Dim + i] = 1e4f;
        var again = RunFast(c, x);
        Assert.Equal(fast.Result, again.Result);
        Assert.Equal(fast.DHidden, again.DHidden);
        Assert.Equal(fast.DWeight, again.DWeight);
    }

    [Fact]
    public void AllIgnoredGivesZeroesEverywhere()
    {
        var c = new CrossEntropyCase(6, 4, 9, false, TokenWeighting.None, 1f);
        var x = c.MakeInputs();
        Array.Fill(x.Targets, FusedCrossEntropy.IgnoreIndex);
        var fast = RunFast(c, x);
        Assert.Equal(new CrossEntropyResult(0, 0, 0), fast.Result);
        Assert.All(fast.DHidden, v => Assert.Equal(0f, v));
        Assert.All(fast.DWeight, v => Assert.Equal(0f, v));
        Assert.Equal(new CrossEntropyResult(0, 0, 0), FusedCrossEntropy.Forward([], new float[36], 0, 4, 9, [], []));
    }

    [Theory]
    [InlineData(9)]
    [InlineData(-1)]
    [InlineData(-101)]
    public void RejectsTargetsOutsideTheVocabularyBeforeWriting(int bad)
    {
        var c = new CrossEntropyCase(6, 4, 9, false, TokenWeighting.None, 1f);
        var x = c.MakeInputs();
        x.Targets[4] = bad;
        var dHidden = Enumerable.Repeat(7f, c.Tokens * c.Dim).ToArray();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
            FusedCrossEntropy.ForwardBackward(x.Hidden, x.Weight, c.Tokens, c.Dim, c.Vocab, x.Targets, [], 1f, dHidden, []));
        Assert.Contains("token 4", ex.Message);
        Assert.Contains($"target {bad}", ex.Message);
        Assert.All(dHidden, v => Assert.Equal(7f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            FusedCrossEntropy.Forward(x.Hidden, x.WeightBf16.Length > 0 ? x.WeightBf16 : new ushort[36], c.Tokens, c.Dim, c.Vocab, x.Targets, []));
    }

    [Fact]
    public void RejectsMismatchedLengths()
    {
        var h = new float[12];
        var w = new float[15];
        int[] y = [0, 1, 2];
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() =>
            FusedCrossEntropy.Forward(h, new float[14], 3, 4, 5, y, [])).ParamName);
        Assert.Throws<ArgumentException>(() => FusedCrossEntropy.Forward(new float[11], new float[20], 3, 4, 5, y, []));
        Assert.Throws<ArgumentException>(() => FusedCrossEntropy.Forward(h, new float[20], 3, 4, 5, [0, 1], []));
        Assert.Equal("tokenWeights", Assert.Throws<ArgumentException>(() =>
            FusedCrossEntropy.Forward(h, new float[20], 3, 4, 5, y, [1f, 1f])).ParamName);
        Assert.Equal("dHidden", Assert.Throws<ArgumentException>(() =>
            FusedCrossEntropy.ForwardBackward(h, new float[20], 3, 4, 5, y, [], 1f, new float[11], [])).ParamName);
        Assert.Equal("dWeight", Assert.Throws<ArgumentException>(() =>
            FusedCrossEntropy.ForwardBackward(h, new float[20], 3, 4, 5, y, [], 1f, new float[12], w)).ParamName);
    }
}

public static class CrossEntropyAssert
{
    /// <summary>
    /// fp32 logits (GEMM over dim ≤ 67 terms, |logit| ≲ 10) sit within ~1e-6 of double ones. Measured: LossSum (≈ 280
    /// over ≤ 40 tokens) within 3.4e-6, bound 1e-5 + 1e-7·|LossSum|. Gradients carry fp32 rounding of p − onehot
    /// and of sums over up to 5003 vocabulary rows: measured worst errors are 0.2-0.9 ppm of the tensor's largest
    /// magnitude, bound 1e-5 of it (plus 1e-5 relative). A wrong row, target, weight or scale moves values by far more.
    /// </summary>
    public static void Close(NaiveCrossEntropy.Result expected, FusedCrossEntropyTests.Fast actual, bool bf16, string what)
    {
        Loss(expected, actual.Result, what);
        Gradient(expected.DHidden, actual.DHidden, what + " dHidden");
        if (!bf16) Gradient(expected.DWeight, actual.DWeight, what + " dWeight");
    }

    public static void Gradient(float[] expected, float[] actual, string what)
    {
        float scale = expected.Length == 0 ? 0 : expected.Max(MathF.Abs);
        AssertClose.Equal(expected, actual, atol: 1e-5f * scale + 1e-12f, rtol: 1e-5f, what: what);
    }

    public static void Loss(NaiveCrossEntropy.Result expected, CrossEntropyResult actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.WeightSum, actual.WeightSum, 1e-9);
        double tolerance = 1e-5 + 1e-7 * Math.Abs(expected.LossSum);
        Assert.True(Math.Abs(expected.LossSum - actual.LossSum) <= tolerance,
            $"{what}: LossSum expected {expected.LossSum:G10} got {actual.LossSum:G10} (tolerance {tolerance:G3})");
    }
}
