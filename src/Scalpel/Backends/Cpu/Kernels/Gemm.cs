using Scalpel.Tensors;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// General matrix multiply, row-major: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
/// op(A) = A stored m×k (lda ≥ k), or Aᵀ with A stored k×m (lda ≥ m) when <c>transA</c>.
/// op(B) = B stored k×n (ldb ≥ n), or Bᵀ with B stored n×k (ldb ≥ k) when <c>transB</c>.
/// B may be BF16 (raw bits): model weights stay BF16 in memory and are widened while packing.
/// When beta is 0, C is overwritten without being read (NaN in C does not leak through).
/// <c>threads</c> = 0 uses every core.
/// </summary>
public static class Gemm
{
    // PLACEHOLDER: simple and correct; the packed, cache-blocked SIMD version replaces it.
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, int threads = 0)
    {
        var bw = new float[(long)k * n];
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++)
                bw[p * n + j] = transB ? b[j * ldb + p] : b[p * ldb + j];
        MultiplyWide(transA, m, n, k, alpha, a, lda, bw, beta, c, ldc);
    }

    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> bBf16, int ldb, float beta, Span<float> c, int ldc, int threads = 0)
    {
        var bw = new float[(long)k * n];
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++)
                bw[p * n + j] = BFloat16Bits.ToSingle(transB ? bBf16[j * ldb + p] : bBf16[p * ldb + j]);
        MultiplyWide(transA, m, n, k, alpha, a, lda, bw, beta, c, ldc);
    }

    private static void MultiplyWide(bool transA, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        float[] b, float beta, Span<float> c, int ldc)
    {
        var row = new float[n];
        for (int i = 0; i < m; i++)
        {
            Array.Clear(row);
            for (int p = 0; p < k; p++)
            {
                float av = transA ? a[p * lda + i] : a[i * lda + p];
                for (int j = 0; j < n; j++) row[j] += av * b[p * n + j];
            }
            for (int j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0f ? alpha * row[j] : alpha * row[j] + beta * c[i * ldc + j];
        }
    }
}
