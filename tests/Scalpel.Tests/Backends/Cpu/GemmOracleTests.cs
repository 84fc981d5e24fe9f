using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

/// <summary>
/// Gemm.Multiply against PyTorch (float64 matmul) on the same inputs. All cases go to the oracle in one call
/// (<see cref="GemmOracleFixture"/>); each case is then checked as its own test.
/// </summary>
public class GemmOracleTests(GemmOracleFixture oracle) : IClassFixture<GemmOracleFixture>
{
    public static TheoryData<int> Cases() => new(Enumerable.Range(0, GemmOracleFixture.Cases.Length));

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorch(int index)
    {
        var t = GemmOracleFixture.Cases[index];
        var (a, b, c0) = GemmOracleFixture.Inputs(index);
        float[] c = (float[])c0.Clone();
        int lda = t.TransA ? t.M : t.K, ldb = t.TransB ? t.K : t.N;
        if (t.Bf16)
        {
            ushort[] bits = b.Select(BFloat16Bits.FromSingle).ToArray(); // exact: b already holds BF16 values
            Gemm.Multiply(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, lda, bits, ldb, t.Beta, c, t.N);
        }
        else
        {
            Gemm.Multiply(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, lda, b, ldb, t.Beta, c, t.N);
        }
        // Operands are uniform in [-1, 1). fp32 accumulation of k terms errs by about k·u/3 (u = 2⁻²⁴) in
        // typical cases: ≤ 2e-5 for k ≤ 1000. atol 1e-4 leaves 5× room; a wrong or missing term (|a·b| ~ 0.25)
        // is three orders of magnitude past it.
        AssertClose.Equal(oracle.Expected[index], c, atol: 1e-4f, rtol: 1e-5f, what: $"gemm case {index} {t}");
    }
}

/// <summary>Runs tests/oracles/gemm.py once for every case and keeps PyTorch's results.</summary>
public sealed class GemmOracleFixture
{
    public sealed record Case(bool TransA, bool TransB, int M, int N, int K, float Alpha, float Beta, bool Bf16 = false);

    public static readonly Case[] Cases =
    [
        new(false, false, 37, 53, 29, 0.75f, 0.5f),
        new(false, true, 65, 17, 130, 0.75f, 0.5f),
        new(true, false, 9, 70, 33, 0.75f, 0.5f),
        new(true, true, 1, 129, 257, 0.75f, 0.5f),
        new(false, true, 300, 700, 500, 1f, 0f),        // past the default Nc and Kc blocks, beta = 0
        new(true, false, 16, 576, 1000, 1f, 1f),        // LoRA-like dA = dHᵀ·X, accumulating
        new(false, true, 129, 16, 576, 2f, 0f),         // narrow C: the 24×16 kernel
        new(false, true, 70, 100, 90, 1f, 0f, Bf16: true),   // X·Wᵀ with BF16 weights
        new(false, false, 33, 200, 47, -0.5f, 1f, Bf16: true),
    ];

    public GemmOracleFixture()
    {
        var inputs = new Dictionary<string, OracleTensor>();
        for (int i = 0; i < Cases.Length; i++)
        {
            var t = Cases[i];
            var (a, b, c) = Inputs(i);
            inputs[$"a{i}"] = new(a, t.TransA ? [t.K, t.M] : [t.M, t.K]);
            inputs[$"b{i}"] = new(b, t.TransB ? [t.N, t.K] : [t.K, t.N]);
            inputs[$"c{i}"] = new(c, t.M, t.N);
        }
        var cases = Cases.Select(t => new { transA = t.TransA, transB = t.TransB, alpha = (double)t.Alpha, beta = (double)t.Beta });
        var outputs = TorchOracle.Run("gemm.py", inputs, new { cases });
        Expected = Enumerable.Range(0, Cases.Length).Select(i => outputs[$"c{i}"].Floats).ToArray();
    }

    public float[][] Expected { get; }

    /// <summary>Deterministic inputs of case i; BF16 cases hold B already rounded to BF16 values.</summary>
    public static (float[] A, float[] B, float[] C) Inputs(int i)
    {
        var t = Cases[i];
        var rng = new Random(t.M * 1000 + t.N * 10 + t.K);
        float[] a = TestData.Uniform(rng, t.M * t.K), b = TestData.Uniform(rng, t.K * t.N), c = TestData.Uniform(rng, t.M * t.N);
        if (t.Bf16) b = b.Select(x => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(x))).ToArray();
        return (a, b, c);
    }
}
