using System.Runtime.Intrinsics;
using Scalpel.Backends.Cpu.Kernels;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Attention;

/// <summary>The flash kernel against its naive double-precision twin, at every SIMD width this CPU runs.</summary>
public class CausalAttentionTests
{
    public sealed record Fast(float[] Output, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    internal static Fast RunFast(AttentionCase c, AttentionCase.Inputs x, CausalAttention.SimdWidth width = CausalAttention.SimdWidth.Auto)
    {
        int t = c.Tokens;
        var output = new float[t * c.QHeads * c.HeadDim];
        var lse = new float[c.QHeads * t];
        var dq = new float[x.Q.Length];
        var dk = new float[x.K.Length];
        var dv = new float[x.V.Length];
        // NaN-filled gradients prove the kernel overwrites every element.
        Array.Fill(dq, float.NaN); Array.Fill(dk, float.NaN); Array.Fill(dv, float.NaN);
        int[] seg = c.SegmentStart();
        CausalAttention.Forward(x.Q, x.K, x.V, seg, t, c.QHeads, c.KvHeads, c.HeadDim, c.Scale, c.Window, output, lse, width);
        CausalAttention.Backward(x.DOut, x.Q, x.K, x.V, output, lse, seg, t, c.QHeads, c.KvHeads, c.HeadDim, c.Scale, c.Window,
            dq, dk, dv, width);
        return new Fast(output, lse, dq, dk, dv);
    }

    internal static IEnumerable<CausalAttention.SimdWidth> Widths()
    {
        yield return CausalAttention.SimdWidth.Bits128;
        if (Vector256.IsHardwareAccelerated) yield return CausalAttention.SimdWidth.Bits256;
        if (Vector512.IsHardwareAccelerated) yield return CausalAttention.SimdWidth.Bits512;
    }

    private static readonly int[] Packed = [1, 7, 33, 64, 130];

    public static TheoryData<AttentionCase> Cases => new()
    {
        // GQA ratio 1, 2, 4; head sizes 16, 64 and odd ones that need padded rows at every width.
        new AttentionCase(Packed, 2, 2, 16, 0),
        new AttentionCase(Packed, 4, 2, 24, 0),
        new AttentionCase(Packed, 8, 2, 64, 0),
        new AttentionCase(Packed, 4, 1, 40, 0, InputStd: 2f),  // peaky softmax: the running max moves a lot
        new AttentionCase(Packed, 6, 3, 64, 5),                // window smaller than a tile
        new AttentionCase(Packed, 4, 4, 24, 50),               // window cutting through tiles
        new AttentionCase([300], 3, 1, 40, 0),                 // one long sequence, several tiles
        new AttentionCase([300], 4, 2, 16, 70, InputStd: 2f),
        new AttentionCase([150, 150], 2, 1, 64, 200),          // window longer than the sequences: same as none
        new AttentionCase([5, 1, 1, 3], 2, 2, 8, 2),           // tiny sequences, tile mostly padding
        new AttentionCase([90, 20], 2, 1, 80, 0),              // 5 vectors of 16 (or 10 of 8) per row: every block shape
        new AttentionCase([70], 4, 2, 128, 0),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesNaiveReference(AttentionCase c)
    {
        var x = c.MakeInputs();
        var expected = NaiveAttention.Run(x.Q, x.K, x.V, x.DOut, c.SegmentStart(), c.Tokens, c.QHeads, c.KvHeads, c.HeadDim, c.Scale, c.Window);
        foreach (var width in Widths())
            AttentionAssert.Close(expected, RunFast(c, x, width), $"{c} at {width}");
    }

    [Fact]
    public void PackedSequencesDoNotSeeEachOther()
    {
        // Three sequences, GQA 3:1 (the dk/dv head sums cross q heads, never tokens). Rewrite every input of the middle
        // one: the outer two must come out bit for bit the same, forward and backward.
        var c = new AttentionCase([70, 100, 40], 6, 2, 24, 0);
        var x = c.MakeInputs();
        var before = RunFast(c, x);

        var rng = new Random(99);
        int lo = 70, hi = 170;
        void Scramble(float[] a, int heads)
        {
            for (int i = lo * heads * c.HeadDim; i < hi * heads * c.HeadDim; i++) a[i] = (float)(rng.NextDouble() * 8 - 4);
        }
        Scramble(x.Q, c.QHeads); Scramble(x.K, c.KvHeads); Scramble(x.V, c.KvHeads); Scramble(x.DOut, c.QHeads);
        var after = RunFast(c, x);

        void Same(float[] a, float[] b, int heads, string what)
        {
            int row = heads * c.HeadDim;
            for (int i = 0; i < a.Length; i++)
            {
                int t = i / row;
                if (t >= lo && t < hi) continue;
                Assert.True(BitConverter.SingleToInt32Bits(a[i]) == BitConverter.SingleToInt32Bits(b[i]),
                    $"{what}: token {t} changed ({a[i]:G9} → {b[i]:G9}) when another sequence did");
            }
        }
        Same(before.Output, after.Output, c.QHeads, "output");
        Same(before.Dq, after.Dq, c.QHeads, "dq");
        Same(before.Dk, after.Dk, c.KvHeads, "dk");
        Same(before.Dv, after.Dv, c.KvHeads, "dv");
        for (int h = 0; h < c.QHeads; h++)
            for (int t = 0; t < c.Tokens; t++)
                if (t < lo || t >= hi) Assert.Equal(before.Lse[h * c.Tokens + t], after.Lse[h * c.Tokens + t]);
        // ...while the middle sequence did change (the scramble reached the kernel).
        Assert.NotEqual(before.Output[lo * c.QHeads * c.HeadDim], after.Output[lo * c.QHeads * c.HeadDim]);
    }

    [Fact]
    public void ZeroTokensIsANoOp()
    {
        CausalAttention.Forward([], [], [], [], 0, 2, 1, 8, 1f, 0, [], []);
        CausalAttention.Backward([], [], [], [], [], [], [], 0, 2, 1, 8, 1f, 0, [], [], []);
    }

    [Theory]
    [InlineData(new[] { 0, 0, 3 }, "segmentStart[2]")]     // starts after the token itself
    [InlineData(new[] { 0, -1, 1 }, "segmentStart[1]")]    // negative
    [InlineData(new[] { 0, 1, 0 }, "segmentStart[2]")]     // jumps back into an earlier sequence
    [InlineData(new[] { 1, 1, 1 }, "segmentStart[0]")]     // first token's sequence starts after it
    [InlineData(new[] { 0, 0, 1 }, "segmentStart[2]")]     // points into the middle of the previous sequence
    public void RejectsBadSegmentStarts(int[] segmentStart, string mention)
    {
        var ex = Assert.Throws<ArgumentException>(() => Call(segmentStart, 3, 2, 1));
        Assert.Contains(mention, ex.Message);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => Call([0, 0, 0], 3, 3, 2));    // 3 q heads over 2 kv heads
        Assert.Throws<ArgumentException>(() => Call([0, 0], 3, 2, 1));       // segmentStart too short
        var q = new float[3 * 2 * 4];
        var ex = Assert.Throws<ArgumentException>(() =>
            CausalAttention.Forward(q, new float[3 * 4], new float[3 * 4 - 1], [0, 0, 0], 3, 2, 1, 4, 1f, 0, new float[24], new float[6]));
        Assert.Equal("v", ex.ParamName);
        Assert.Throws<ArgumentException>(() =>
            CausalAttention.Backward(q, q, new float[12], new float[12], q, new float[6], [0, 0, 0], 3, 2, 1, 4, 1f, 0,
                new float[24], new float[11], new float[12]));
    }

    private static void Call(int[] segmentStart, int tokens, int qHeads, int kvHeads)
    {
        const int d = 4;
        CausalAttention.Forward(new float[tokens * qHeads * d], new float[tokens * kvHeads * d], new float[tokens * kvHeads * d],
            segmentStart, tokens, qHeads, kvHeads, d, 1f, 0, new float[tokens * qHeads * d], new float[qHeads * tokens]);
    }
}

public static class AttentionAssert
{
    /// <summary>
    /// fp32 kernel vs a double (or float64 PyTorch) result. Scores are O(1..10) and rows sum up to a few hundred terms;
    /// measured worst errors are ~2.5e-6 in outputs and lse and ~6e-6 in gradients of magnitude up to ~9 (dS sums over
    /// the sequence, dk/dv add up to 8 q heads). Bounds sit 4-8× above that; a masking or head-mapping mistake
    /// moves values by O(0.1).
    /// </summary>
    public static void Close(NaiveAttention.Result expected, CausalAttentionTests.Fast actual, string what)
    {
        AssertClose.Equal(expected.Output, actual.Output, atol: 1e-5f, rtol: 1e-5f, what: what + " output");
        AssertClose.Equal(expected.Lse, actual.Lse, atol: 1e-5f, rtol: 1e-5f, what: what + " lse");
        AssertClose.Equal(expected.Dq, actual.Dq, atol: 4e-5f, rtol: 1e-5f, what: what + " dq");
        AssertClose.Equal(expected.Dk, actual.Dk, atol: 4e-5f, rtol: 1e-5f, what: what + " dk");
        AssertClose.Equal(expected.Dv, actual.Dv, atol: 4e-5f, rtol: 1e-5f, what: what + " dv");
    }
}
