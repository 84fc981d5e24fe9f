using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Models;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class RopeTests
{
    private static readonly RopeScaling Linear4 = new(RopeType.Linear, Factor: 4);
    private static readonly RopeScaling Llama31 = new(RopeType.Llama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192);

    // One F32 rounding of cos/sin of the same double angle: at most 1 ulp of a value ≤ 1, i.e. 2⁻²³ ≈ 1.2e-7.
    private const float TableTolerance = 1.2e-7f;

    public static TheoryData<string> ScalingNames => new() { "default", "linear", "llama3" };

    private static RopeScaling Scaling(string name) => name switch
    {
        "linear" => Linear4,
        "llama3" => Llama31,
        _ => RopeScaling.None,
    };

    [Theory, MemberData(nameof(ScalingNames))]
    public void TablesMatchReference(string scalingName)
    {
        var scaling = Scaling(scalingName);
        const int headDim = 128, maxPositions = 12000;
        var table = RopeTable.Create(headDim, maxPositions, 500000, scaling);
        double[] inv = RopeReference.InverseFrequencies(headDim, 500000, scaling);
        var cos = new float[maxPositions * 64];
        var sin = new float[maxPositions * 64];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < 64; i++)
            {
                cos[p * 64 + i] = (float)Math.Cos(p * inv[i]);
                sin[p * 64 + i] = (float)Math.Sin(p * inv[i]);
            }
        Assert.Equal(headDim, table.HeadDim);
        Assert.Equal(maxPositions, table.MaxPositions);
        AssertClose.Equal(cos, table.CosValues, atol: TableTolerance, rtol: 0, what: "cos");
        AssertClose.Equal(sin, table.SinValues, atol: TableTolerance, rtol: 0, what: "sin");
    }

    [Fact]
    public void Llama3KeepsHighFrequenciesAndDividesLowOnes()
    {
        // Llama 3.1 (theta 500000, headDim 128): wavelengths under 8192/4 = 2048 positions are untouched, those over
        // 8192 are divided by 8, the band in between is blended.
        double[] plain = RopeTable.InverseFrequencies(128, 500000, RopeScaling.None);
        double[] scaled = RopeTable.InverseFrequencies(128, 500000, Llama31);
        int untouched = 0, divided = 0, blended = 0;
        for (int i = 0; i < 64; i++)
        {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 2048) { Assert.Equal(plain[i], scaled[i]); untouched++; }
            else if (wavelen > 8192) { Assert.Equal(plain[i] / 8, scaled[i], 1e-15); divided++; }
            else { Assert.InRange(scaled[i], plain[i] / 8, plain[i]); blended++; }
        }
        Assert.True(untouched > 0 && divided > 0 && blended > 0, $"{untouched}/{divided}/{blended}");
        double[] linear = RopeTable.InverseFrequencies(128, 500000, Linear4);
        for (int i = 0; i < 64; i++) Assert.Equal(plain[i] / 4, linear[i], 1e-15);
    }

    // tokens, heads, headDim: half-dims 1, 3, 17, 63, 65, 576 hit every SIMD width and the scalar tail;
    // the last two are ≥ 64K elements and take the parallel token split.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 2 }, { 3, 2, 6 }, { 5, 3, 34 }, { 7, 2, 126 }, { 4, 4, 130 }, { 3, 1, 1152 }, { 200, 8, 64 }, { 64, 9, 128 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void ForwardAndBackwardMatchReference(int tokens, int heads, int headDim)
    {
        const int maxPositions = 4096;
        var table = RopeTable.Create(headDim, maxPositions, 10000, RopeScaling.None);
        double[] inv = RopeReference.InverseFrequencies(headDim, 10000, RopeScaling.None);
        var rng = new Random(tokens * 131 + headDim);
        int[] positions = Enumerable.Range(0, tokens).Select(_ => rng.Next(maxPositions)).ToArray();
        positions[^1] = maxPositions - 1;
        float[] x = TestData.Normal(rng, tokens * heads * headDim);

        // Both sides rotate the same F32 inputs; the kernel's cos/sin are F32 (≤ 6e-8 off) and it rounds 2 products and
        // a sum: ≤ ~3e-7·max|x| with |x| ≲ 5 here, so 1e-6 absolute.
        var y = (float[])x.Clone();
        Rope.Forward(y, tokens, heads, headDim, positions, table);
        AssertClose.Equal(RopeReference.Rotate(x, tokens, heads, headDim, positions, inv, +1), y, atol: 1e-6f, rtol: 1e-6f, what: "forward");

        var dx = (float[])x.Clone();
        Rope.Backward(dx, tokens, heads, headDim, positions, table);
        AssertClose.Equal(RopeReference.Rotate(x, tokens, heads, headDim, positions, inv, -1), dx, atol: 1e-6f, rtol: 1e-6f, what: "backward");

        // The backward rotation undoes the forward one (cos² + sin² = 1 up to the F32 table rounding).
        Rope.Backward(y, tokens, heads, headDim, positions, table);
        AssertClose.Equal(x, y, atol: 2e-6f, rtol: 1e-6f, what: "backward∘forward");
    }

    [Fact]
    public void MatchesTransformersRotaryEmbedding()
    {
        var cases = new[]
        {
            new RopeCase(3, 1, 2, 10000, "default", 1, 1, 4, 8192, 64),
            new RopeCase(5, 3, 64, 10000, "default", 1, 1, 4, 8192, 2048),
            new RopeCase(4, 2, 34, 10000, "linear", 4, 1, 4, 8192, 1000),
            new RopeCase(9, 4, 128, 500000, "llama3", 8, 1, 4, 8192, 12000),    // Llama 3.1
            new RopeCase(6, 2, 126, 500000, "llama3", 32, 1, 4, 8192, 9000),    // Llama 3.2's factor, odd half-dim
            new RopeCase(200, 3, 130, 1000000, "default", 1, 1, 4, 8192, 8192),  // parallel path, Qwen-style theta
        };
        var rng = new Random(77);
        var inputs = new Dictionary<string, OracleTensor>();
        var data = new List<(float[] X, int[] Pos, float[] Dy)>();
        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            int n = c.tokens * c.heads * c.headDim;
            int[] pos = Enumerable.Range(0, c.tokens).Select(_ => rng.Next(c.maxPositions)).ToArray();
            pos[0] = 0; pos[^1] = c.maxPositions - 1;
            float[] x = TestData.Normal(rng, n), dy = TestData.Normal(rng, n);
            data.Add((x, pos, dy));
            inputs[$"x{i}"] = new(x, c.tokens, c.heads, c.headDim);
            inputs[$"pos{i}"] = new(pos, c.tokens);
            inputs[$"dy{i}"] = new(dy, c.tokens, c.heads, c.headDim);
        }
        var expected = TorchOracle.Run("kernels_rope.py", inputs, new { cases });

        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            var (x, pos, dy) = data[i];
            var scaling = c.type switch
            {
                "linear" => new RopeScaling(RopeType.Linear, c.factor),
                "llama3" => new RopeScaling(RopeType.Llama3, c.factor, c.low, c.high, c.old),
                _ => RopeScaling.None,
            };
            var table = RopeTable.Create(c.headDim, c.maxPositions, c.theta, scaling);
            string what = $"case {i} ({c.type}, headDim {c.headDim})";
            // Tables: the same double angle rounded once to F32 on both sides (≤ 1 ulp apart at rounding ties).
            AssertClose.Equal(expected[$"cos{i}"].Floats, table.CosValues, atol: TableTolerance, rtol: 0, what: what + " cos");
            AssertClose.Equal(expected[$"sin{i}"].Floats, table.SinValues, atol: TableTolerance, rtol: 0, what: what + " sin");

            // The oracle rotates in float64: the kernel's error is its F32 table and 3 F32 roundings, ≤ ~3e-7·max|x|.
            var y = (float[])x.Clone();
            Rope.Forward(y, c.tokens, c.heads, c.headDim, pos, table);
            AssertClose.Equal(expected[$"y{i}"].Floats, y, atol: 1e-6f, rtol: 1e-6f, what: what + " y");
            var dx = (float[])dy.Clone();
            Rope.Backward(dx, c.tokens, c.heads, c.headDim, pos, table);
            AssertClose.Equal(expected[$"dx{i}"].Floats, dx, atol: 1e-6f, rtol: 1e-6f, what: what + " dx");
        }
    }

    // Serialised to the oracle's args.json: field names are the script's keys.
    private sealed record RopeCase(int tokens, int heads, int headDim, double theta, string type, double factor, double low,
        double high, int old, int maxPositions);

    [Theory]
    [InlineData(-1)]
    [InlineData(16)]
    [InlineData(int.MaxValue)]
    public void PositionOutOfRangeThrowsBeforeRotating(int badPosition)
    {
        var table = RopeTable.Create(8, 16, 10000, RopeScaling.None);
        float[] x = TestData.Normal(new Random(1), 3 * 2 * 8), original = (float[])x.Clone();
        int[] positions = [0, 15, badPosition]; // the bad one last: nothing may have been rotated before the check
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Forward(x, 3, 2, 8, positions, table));
        Assert.Contains(badPosition.ToString(), e.Message);
        Assert.Equal(original, x);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Backward(x, 3, 2, 8, positions, table));
        Assert.Equal(original, x);
    }

    [Fact]
    public void RejectsBadShapesAndScalings()
    {
        var table = RopeTable.Create(8, 16, 10000, RopeScaling.None);
        Assert.Throws<ArgumentException>(() => Rope.Forward(new float[32], 2, 2, 6, [0, 1], table));  // headDim ≠ table's
        Assert.Throws<ArgumentException>(() => Rope.Forward(new float[31], 2, 2, 8, [0, 1], table));  // x too short
        Assert.Throws<ArgumentException>(() => Rope.Forward(new float[32], 2, 2, 8, [0], table));     // positions too short
        Assert.Throws<ArgumentException>(() => RopeTable.Create(7, 16, 10000, RopeScaling.None));     // odd headDim
        Assert.Throws<ArgumentOutOfRangeException>(() => RopeTable.Create(8, 0, 10000, RopeScaling.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => RopeTable.Create(8, 16, 10000, new RopeScaling(RopeType.Linear, 0)));
        Assert.Throws<ArgumentException>(() => RopeTable.Create(8, 16, 10000, new RopeScaling(RopeType.Llama3, 8, 4, 4, 8192)));
    }
}
