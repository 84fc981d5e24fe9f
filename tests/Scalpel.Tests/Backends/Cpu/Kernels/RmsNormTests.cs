using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class RmsNormTests
{
    // rows, dim, weightOffset, eps, scale of x. Odd dims hit the 16-wide, 8-wide and scalar paths; rows·dim ≥ 64K
    // takes the parallel row split and the parallel dweight column blocks (1200×64: narrow rows, many blocks).
    public static TheoryData<int, int, float, float, float> Cases => new()
    {
        { 1, 1, 0f, 1e-6f, 1f },
        { 3, 3, 1f, 1e-6f, 1f },
        { 5, 17, 0f, 1e-5f, 1f },
        { 7, 63, 1f, 1e-6f, 1f },
        { 4, 65, 0f, 1e-5f, 1f },
        { 9, 127, 0f, 1e-6f, 3f },
        { 2, 576, 1f, 1e-6f, 1f },
        { 300, 576, 0f, 1e-5f, 1f },
        { 1200, 64, 1f, 1e-6f, 1f },
        { 33, 2048, 0f, 1e-5f, 0.01f },
        { 2, 4096, 1f, 1e-6f, 100f },
    };

    [Theory, MemberData(nameof(Cases))]
    public void MatchesReference(int rows, int dim, float offset, float eps, float scale)
    {
        var rng = new Random(rows * 7919 + dim);
        float[] x = TestData.Normal(rng, rows * dim, scale), w = Weights(rng, dim, offset), dy = TestData.Normal(rng, rows * dim);
        float[] dwStart = TestData.Uniform(rng, dim);    // dweight must accumulate onto what is there

        float[] y = new float[rows * dim], rstd = new float[rows], dx = new float[rows * dim], dw = (float[])dwStart.Clone();
        RmsNorm.Forward(x, w, offset, eps, rows, dim, y, rstd);
        RmsNorm.Backward(dy, x, w, offset, rstd, rows, dim, dx, dw);

        float[] yRef = new float[rows * dim], rstdRef = new float[rows], dxRef = new float[rows * dim], dwRef = (float[])dwStart.Clone();
        RmsNormReference.Forward(x, w, offset, eps, rows, dim, yRef, rstdRef);
        RmsNormReference.Backward(dy, x, w, offset, eps, rows, dim, dxRef, dwRef);

        // Both sides accumulate in double; what differs is the kernel's F32 rstd and its 2-3 F32 roundings per element
        // (≤ ~4 ulp ≈ 5e-7 relative). dx = rstd·g − x·c cancels (completely when dim = 1), so its error is relative
        // to the size of the terms, max|rstd·g|: 1e-5 of it. dweight sums F32 products over rows in double: ~1e-6 of Σ|terms|.
        AssertClose.Equal(rstdRef, rstd, atol: 0, rtol: 1e-6f, what: "rstd");
        AssertClose.Equal(yRef, y, atol: 1e-6f * MaxAbs(yRef), rtol: 1e-6f, what: "y");
        AssertClose.Equal(dxRef, dx, atol: 1e-5f * TermScale(dy, w, offset, rstdRef, rows, dim), rtol: 1e-5f, what: "dx");
        AssertClose.Equal(dwRef, dw, atol: 1e-6f * MaxColumnAbsSum(dy, x, rstdRef, rows, dim) + 1e-7f, rtol: 1e-6f, what: "dweight");

        // Frozen weight: dweight empty, dx unchanged.
        var dxFrozen = new float[rows * dim];
        RmsNorm.Backward(dy, x, w, offset, rstd, rows, dim, dxFrozen, Span<float>.Empty);
        Assert.Equal(dx, dxFrozen);
    }

    [Fact]
    public void MatchesTransformersRmsNorm()
    {
        // rows, dim, offset (0 = LlamaRMSNorm, 1 = GemmaRMSNorm), eps
        (int Rows, int Dim, float Offset, float Eps)[] cases =
            [(1, 1, 0, 1e-6f), (5, 17, 1, 1e-6f), (7, 63, 0, 1e-5f), (4, 65, 1, 1e-6f), (9, 127, 0, 1e-5f),
             (64, 576, 0, 1e-5f), (130, 576, 1, 1e-6f), (4, 4096, 0, 1e-5f)];
        var rng = new Random(2024);
        var inputs = new Dictionary<string, OracleTensor>();
        var data = new List<(float[] X, float[] W, float[] Dy)>();
        for (int i = 0; i < cases.Length; i++)
        {
            var (rows, dim, offset, _) = cases[i];
            float[] x = TestData.Normal(rng, rows * dim, 2f), w = Weights(rng, dim, offset), dy = TestData.Normal(rng, rows * dim);
            data.Add((x, w, dy));
            inputs[$"x{i}"] = new(x, rows, dim); inputs[$"w{i}"] = new(w, dim); inputs[$"dy{i}"] = new(dy, rows, dim);
        }
        var expected = TorchOracle.Run("kernels_rmsnorm.py", inputs,
            new { cases = cases.Select(c => new { rows = c.Rows, dim = c.Dim, offset = c.Offset, eps = c.Eps }).ToArray() });

        for (int i = 0; i < cases.Length; i++)
        {
            var (rows, dim, offset, eps) = cases[i];
            var (x, w, dy) = data[i];
            float[] y = new float[rows * dim], rstd = new float[rows], dx = new float[rows * dim], dw = new float[dim];
            RmsNorm.Forward(x, w, offset, eps, rows, dim, y, rstd);
            RmsNorm.Backward(dy, x, w, offset, rstd, rows, dim, dx, dw);

            // PyTorch runs the module in F32 (as transformers does): its mean of squares and its autograd chain round
            // in F32, a few ulp each, so y/rstd agree to ~2e-6 relative; dx to 2e-5 of its terms' size max|rstd·g| (they
            // cancel), dweight (an F32 sum over up to 130 rows) to 2e-5 of its largest magnitude.
            string c = $"case {i} [{rows}×{dim}, offset {offset}]";
            AssertClose.Equal(expected[$"rstd{i}"].Floats, rstd, atol: 0, rtol: 2e-6f, what: c + " rstd");
            AssertClose.Equal(expected[$"y{i}"].Floats, y, atol: 2e-6f * MaxAbs(y), rtol: 2e-6f, what: c + " y");
            AssertClose.Equal(expected[$"dx{i}"].Floats, dx, atol: 2e-5f * TermScale(dy, w, offset, rstd, rows, dim), rtol: 1e-5f, what: c + " dx");
            AssertClose.Equal(expected[$"dw{i}"].Floats, dw, atol: 2e-5f * MaxAbs(dw), rtol: 1e-5f, what: c + " dweight");
        }
    }

    [Fact]
    public void ZeroRowGivesZeroOutputAndScaledGradient()
    {
        // x = 0: rstd = 1/√eps, y = 0, and the mean(g·x) term vanishes so dx = rstd·dy·w.
        const int dim = 37;
        var rng = new Random(5);
        float[] x = new float[dim], w = Weights(rng, dim, 0), dy = TestData.Normal(rng, dim);
        float[] y = new float[dim], rstd = new float[1], dx = new float[dim], dw = new float[dim];
        RmsNorm.Forward(x, w, 0, 1e-6f, 1, dim, y, rstd);
        RmsNorm.Backward(dy, x, w, 0, rstd, 1, dim, dx, dw);
        Assert.Equal(1000f, rstd[0], 0.01f);
        Assert.All(y, v => Assert.Equal(0f, v));
        Assert.All(dw, v => Assert.Equal(0f, v));
        AssertClose.Equal(dy.Select((g, j) => rstd[0] * g * w[j]).ToArray(), dx, atol: 0, rtol: 1e-6f, what: "dx");
    }

    [Fact]
    public void RejectsShortBuffers()
    {
        var x = new float[6];
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(x, new float[3], 0, 1e-6f, 2, 3, new float[5], new float[2]));
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(x, new float[2], 0, 1e-6f, 2, 3, new float[6], new float[2]));
        Assert.Throws<ArgumentException>(() =>
            RmsNorm.Backward(new float[6], x, new float[3], 0, new float[2], 2, 3, new float[6], new float[2]));
    }

    // Llama-style weights near 1; Gemma-style (offset 1) stored as w − 1, so near 0.
    private static float[] Weights(Random rng, int dim, float offset)
    {
        var w = TestData.Normal(rng, dim, 0.2f);
        if (offset == 0) for (int j = 0; j < dim; j++) w[j] += 1f;
        return w;
    }

    internal static float MaxAbs(ReadOnlySpan<float> a)
    {
        float m = 0;
        foreach (float v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }

    // max |rstd·dy·(w + offset)|: the size of the two terms dx is the difference of.
    private static float TermScale(float[] dy, float[] w, float offset, float[] rstd, int rows, int dim)
    {
        float m = 0;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < dim; j++) m = Math.Max(m, Math.Abs(rstd[r] * dy[r * dim + j] * (w[j] + offset)));
        return m;
    }

    // max over columns of Σ_r |dy·x·rstd|: the scale an accumulated dweight's rounding error is relative to.
    private static float MaxColumnAbsSum(float[] dy, float[] x, float[] rstd, int rows, int dim)
    {
        double worst = 0;
        for (int j = 0; j < dim; j++)
        {
            double s = 0;
            for (int r = 0; r < rows; r++) s += Math.Abs((double)dy[r * dim + j] * x[r * dim + j] * rstd[r]);
            worst = Math.Max(worst, s);
        }
        return (float)worst;
    }
}
