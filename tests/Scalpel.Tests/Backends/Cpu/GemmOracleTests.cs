using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

public class GemmOracleTests
{
    [Theory]
    [InlineData(false, false, 37, 53, 29)]
    [InlineData(false, true, 65, 17, 130)]
    [InlineData(true, false, 9, 70, 33)]
    [InlineData(true, true, 1, 129, 257)]
    public void MatchesPyTorch(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n * 10 + k);
        float[] a = TestData.Uniform(rng, m * k), b = TestData.Uniform(rng, k * n), c = TestData.Uniform(rng, m * n);
        int[] aShape = transA ? [k, m] : [m, k], bShape = transB ? [n, k] : [k, n];
        var expected = TorchOracle.Run("gemm.py", new Dictionary<string, OracleTensor>
        {
            ["a"] = new(a, aShape), ["b"] = new(b, bShape), ["c0"] = new((float[])c.Clone(), m, n),
        }, new { transA, transB, alpha = 0.75, beta = 0.5 })["c"].Floats;

        Gemm.Multiply(transA, transB, m, n, k, 0.75f, a, aShape[1], b, bShape[1], 0.5f, c, n);
        // fp32 accumulation over k ≤ 257 terms of magnitude ≤ 1: error well under 1e-4.
        AssertClose.Equal(expected, c, atol: 1e-4f, rtol: 1e-5f, what: "gemm");
    }
}
