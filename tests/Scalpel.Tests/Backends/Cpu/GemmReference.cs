namespace Scalpel.Tests.Backends.Cpu;

/// <summary>
/// The reference twin of Gemm.Multiply: the textbook triple loop, accumulated in double. B arrives already
/// as f32 (BF16 callers widen it first, bits &lt;&lt; 16, which is exact).
/// </summary>
public static class GemmReference
{
    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C (beta == 0 ignores C). Also returns, per element, the magnitude
    /// |alpha|·Σ|a||b| + |beta·c| that bounds the rounding error of any fp32 evaluation order.
    /// </summary>
    public static (double[] C, double[] Magnitude) Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var result = new double[m * n];
        var magnitude = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[p * lda + i] : a[i * lda + p];
                    double bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                    abs += Math.Abs(av * bv);
                }
                double old = beta == 0f ? 0 : beta * (double)c[i * ldc + j];
                result[i * n + j] = alpha * sum + old;
                magnitude[i * n + j] = Math.Abs(alpha) * abs + Math.Abs(old);
            }
        }
        return (result, magnitude);
    }

    /// <summary>
    /// Every C element within the fp32 dot-product bound (k+4)·2⁻²⁴·Σ|ab| of the reference, and the padding columns
    /// past n (set to <paramref name="sentinel"/> before the call) untouched.
    /// </summary>
    public static void AssertClose(float[] c, double[] expected, double[] magnitude, int m, int n, int k, int ldc, float sentinel, string what)
    {
        const double U = 1.0 / (1 << 24);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                float got = c[i * ldc + j];
                if (j >= n)
                {
                    if (got != sentinel) Xunit.Assert.Fail($"{what}: wrote outside C at row {i} column {j}");
                    continue;
                }
                double want = expected[i * n + j], tol = (k + 4) * U * magnitude[i * n + j] + 1e-30;
                if (!(Math.Abs(got - want) <= tol))
                    Xunit.Assert.Fail($"{what}: C[{i},{j}] = {got:G9}, expected {want:G9} (tolerance {tol:G3})");
            }
        }
    }
}
