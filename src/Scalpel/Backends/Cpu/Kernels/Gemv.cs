using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Scalpel.Tensors;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// A few rows times a transposed weight, the product of decoding one token per sequence:
/// C[m, n] = alpha · A[m, k] · Bᵀ + beta · C, with A stored m×k (lda ≥ k), B stored n×k (ldb ≥ k; a weight
/// [out, in], F32, BF16 raw bits, or NF4 / Q8_0 dequantized four rows at a time) and C m×n (ldc ≥ n). When beta is 0, C is overwritten without being read.
/// <c>threads</c> = 0 uses every core. Any m works; it pays off for m ≤ <see cref="MaxRows"/>.
/// </summary>
/// <remarks>
/// <see cref="Gemm"/> packs all of B on every call, which at m = 1 doubles the memory traffic of a product
/// that is bound by it. Here each weight row is read once, where it lies, and dotted with every row of A (which
/// stays in L1):
/// <code>
/// for j in this thread's rows of B, step 4:              4 weight rows, streamed from memory once
///   for i in 0..m, step R (4 with AVX-512, else 2):      the same 4 rows again, now from L1
///     acc[r, q] += A[i+r, p..p+W] · B[j+q, p..p+W]        4·R accumulators of W lanes, p in steps of W
///                                                        (the first pass prefetches rows j+4..j+7)
///     C[i+r, j+q] = alpha · (Σ lanes of acc[r, q] + scalar tail of p) + beta · C[i+r, j+q]
/// </code>
/// The prefetch keeps memory busy while later passes compute from L1: without it, m = 8 rows from memory took
/// the time of the load plus the compute (bench gemv-cpu, mlp up BF16: 228 µs, 86 µs with it, one thread).
/// A single row of A (one sequence) has no reuse to block for: the 4 weight rows are read one after another, in
/// address order like a plain read (lm head F32, one thread: 69 % → 83 % of the time to just read the weight).
/// Threads take equal runs of weight rows (<see cref="GemmParallel"/>). The lanes split k, so the sum order is
/// not GEMM's: results agree with it within the rounding bound of a dot product, not bit for bit.
/// </remarks>
public static class Gemv
{
    /// <summary>
    /// Up to this many rows of A the CPU backend sends a product with a transposed weight here. Measured with bench
    /// gemv-cpu on Zen 5 (2 cores), weights from memory: faster than GEMM on every decode shape up to 16 rows, F32 and
    /// BF16 (1.1–2.6× at 16), about even at 24; with cache-resident weights it stays ahead up to 12 and ties at 16.
    /// </summary>
    public const int MaxRows = 16;

    /// <summary>How far ahead of its reads a single-row product prefetches the weight.</summary>
    private const int OneRowPrefetchBytes = 8 << 10;

    /// <summary>Each thread streams at least this many bytes of B, so small weights stay on one thread.</summary>
    internal const long MinBytesPerThread = 1L << 17;

    public static void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply<float, F32Element>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, GemmPath.Auto, MinBytesPerThread);

    public static void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> bBf16, int ldb,
        float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply<ushort, Bf16Element>(m, n, k, alpha, a, lda, bBf16, ldb, beta, c, ldc, threads, GemmPath.Auto, MinBytesPerThread);

    /// <summary>B block-quantized (NF4, Q8_0), stored n×k (a weight [out, in]); dequantized four rows at a time.</summary>
    public static void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, QuantizedMatrix b,
        float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply(m, n, k, alpha, a, lda, b, beta, c, ldc, threads, GemmPath.Auto, MinBytesPerThread);

    internal static unsafe void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, QuantizedMatrix b,
        float beta, Span<float> c, int ldc, int threads, GemmPath path, long minBytesPerThread)
    {
        if (b.Rows != n || b.Cols != k) throw new ArgumentException($"quantized b is {b.Rows}×{b.Cols}; the product needs {n}×{k}", nameof(b));
        Gemm.Validate(false, true, m, n, k, a.Length, lda, (int)Math.Min(int.MaxValue, b.Length), k, c.Length, ldc, threads);
        if (m == 0 || n == 0) return;
        if (path is GemmPath.Auto or GemmPath.Avx512Narrow) path = Gemm.BestPath;
        if (!Gemm.IsSupported(path)) throw new PlatformNotSupportedException($"GEMV path {path} is not supported on this CPU");
        fixed (float* pa = a)
        fixed (float* pc = c)
        {
            if (k == 0)
            {
                GemmDriver.Scale(pc, ldc, m, n, beta);
                return;
            }
            var job = new Job<float>(m, k, alpha, pa, lda, null, k, beta, pc, ldc);
            int quads = (n + 3) / 4;
            long bytes = b.Format.StorageBytes(b.Length);
            int workers = (int)Math.Clamp(bytes / Math.Max(1, minBytesPerThread), 1,
                Math.Min(threads == 0 ? Environment.ProcessorCount : threads, quads));
            GemmParallel.Run(workers, t =>
            {
                int j0 = quads * t / workers * 4, j1 = Math.Min(n, quads * (t + 1) / workers * 4);
                switch (path)
                {
                    case GemmPath.Avx512: QuantizedRows<Vector512<float>, Lanes512>(job, b, j0, j1); break;
                    case GemmPath.Avx2: QuantizedRows<Vector256<float>, Lanes256>(job, b, j0, j1); break;
                    default: QuantizedRows<float, Lanes1>(job, b, j0, j1); break;
                }
            });
        }
    }

    /// <summary>
    /// The full entry point: tests force a vector width (<see cref="GemmPath.Avx512"/>, <see cref="GemmPath.Avx2"/>,
    /// <see cref="GemmPath.Scalar"/>) and a tiny per-thread minimum (to split small products over threads).
    /// </summary>
    internal static unsafe void Multiply<TB, TE>(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<TB> b, int ldb, float beta, Span<float> c, int ldc, int threads, GemmPath path, long minBytesPerThread)
        where TB : unmanaged where TE : IGemmElement<TB>
    {
        Gemm.Validate(false, true, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, threads);
        if (m == 0 || n == 0) return;
        if (path is GemmPath.Auto or GemmPath.Avx512Narrow) path = Gemm.BestPath;
        if (!Gemm.IsSupported(path)) throw new PlatformNotSupportedException($"GEMV path {path} is not supported on this CPU");

        fixed (float* pa = a)
        fixed (TB* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0)
            {
                GemmDriver.Scale(pc, ldc, m, n, beta); // the product is empty: C = beta·C
                return;
            }
            var job = new Job<TB>(m, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            int quads = (n + 3) / 4;
            long bytes = (long)n * k * sizeof(TB);
            int workers = (int)Math.Clamp(bytes / Math.Max(1, minBytesPerThread), 1,
                Math.Min(threads == 0 ? Environment.ProcessorCount : threads, quads));
            if (workers == 1)
            {
                Rows<TB, TE>(job, path, 0, n);
                return;
            }
            // Equal runs of whole quads of weight rows, so only the last run has a partial quad.
            GemmParallel.Run(workers, t => Rows<TB, TE>(job, path, quads * t / workers * 4, Math.Min(n, quads * (t + 1) / workers * 4)));
        }
    }

    /// <summary>One call's arguments, with pointers into pinned memory (valid until the call returns).</summary>
    private readonly unsafe struct Job<TB>(int m, int k, float alpha, float* a, nint lda, TB* b, nint ldb, float beta, float* c, nint ldc)
        where TB : unmanaged
    {
        public readonly int M = m, K = k;
        public readonly float Alpha = alpha, Beta = beta;
        public readonly float* A = a, C = c;
        public readonly TB* B = b;
        public readonly nint Lda = lda, Ldb = ldb, Ldc = ldc;
    }

    private static void Rows<TB, TE>(in Job<TB> job, GemmPath path, int j0, int j1) where TB : unmanaged where TE : IGemmElement<TB>
    {
        switch (path)
        {
            case GemmPath.Avx512: Rows<Vector512<float>, Lanes512, TB, TE>(job, j0, j1); break;
            case GemmPath.Avx2: Rows<Vector256<float>, Lanes256, TB, TE>(job, j0, j1); break;
            default: Rows<float, Lanes1, TB, TE>(job, j0, j1); break;
        }
    }

    /// <summary>C[:, j0..j1) for weight rows j0..j1 on this thread.</summary>
    private static unsafe void Rows<TV, TL, TB, TE>(in Job<TB> job, int j0, int j1)
        where TV : unmanaged where TL : ILanes<TV> where TB : unmanaged where TE : IGemmElement<TB>
    {
        for (int j = j0; j < j1; j += 4)
        {
            // A partial quad repeats its first row in the missing slots; their sums are not stored.
            int valid = Math.Min(4, j1 - j);
            TB* b0 = job.B + j * job.Ldb;
            TB* b1 = valid > 1 ? b0 + job.Ldb : b0, b2 = valid > 2 ? b0 + 2 * job.Ldb : b0, b3 = valid > 3 ? b0 + 3 * job.Ldb : b0;
            // The first pass prefetches ahead: the next quad when it is followed by passes from L1 (m > R), a fixed
            // distance when one row of A reads the weight in address order (measured: 4 rows of 576 floats ahead
            // beats 1, 1 row of 1536 beats 4).
            nint ahead = j + 4 >= j1 ? 0 : job.M == 1 ? OneRowPrefetchBytes / sizeof(TB) : 4 * job.Ldb;
            Quad<TV, TL, TB, TE, TB>(job, j, valid, b0, b1, b2, b3, ahead);
        }
    }

    /// <summary>
    /// The quantized twin of <see cref="Rows{TV, TL, TB, TE}"/>: each quad of weight rows is dequantized into a
    /// per-thread f32 scratch of 4 × k (in L1/L2), then dotted like f32 rows. The weight is still read once.
    /// </summary>
    private static unsafe void QuantizedRows<TV, TL>(in Job<float> job, QuantizedMatrix q, int j0, int j1)
        where TV : unmanaged where TL : ILanes<TV>
    {
        int k = job.K;
        float* rows = GemmScratch.ForThisThread().Dequantized(4L * k);
        for (int j = j0; j < j1; j += 4)
        {
            int valid = Math.Min(4, j1 - j);
            for (int r = 0; r < valid; r++) q.DequantizeRow(j + r, 0, k, rows + (nint)r * k);
            float* b0 = rows, b1 = valid > 1 ? rows + k : b0, b2 = valid > 2 ? rows + 2 * k : b0, b3 = valid > 3 ? rows + 3 * k : b0;
            Quad<TV, TL, float, F32Element, float>(job, j, valid, b0, b1, b2, b3, 0);
        }
    }

    /// <summary>C[:, j..j+valid) from weight rows b0..b3 (already where the dot products read them).</summary>
    private static unsafe void Quad<TV, TL, TB, TE, TJ>(in Job<TJ> job, int j, int valid, TB* b0, TB* b1, TB* b2, TB* b3, nint ahead)
        where TV : unmanaged where TL : ILanes<TV> where TB : unmanaged where TE : IGemmElement<TB> where TJ : unmanaged
    {
        float* sums = stackalloc float[16]; // sums[4·r + q]: row i + r of A · weight row j + q
        for (int i = 0; i < job.M; i += TL.MaxRows, ahead = 0)
        {
            int rows = Math.Min(TL.MaxRows, job.M - i);
            float* a = job.A + i * job.Lda;
            new Span<float>(sums, 16).Clear();
            switch (rows)
            {
                case 1: Dot<TV, TL, TB, TE, Rows1>(job.K, a, job.Lda, b0, b1, b2, b3, ahead, sums); break;
                case 2: Dot<TV, TL, TB, TE, Rows2>(job.K, a, job.Lda, b0, b1, b2, b3, ahead, sums); break;
                case 3: Dot<TV, TL, TB, TE, Rows3>(job.K, a, job.Lda, b0, b1, b2, b3, ahead, sums); break;
                default: Dot<TV, TL, TB, TE, Rows4>(job.K, a, job.Lda, b0, b1, b2, b3, ahead, sums); break;
            }
            for (int r = 0; r < rows; r++)
            {
                float* cRow = job.C + (i + r) * job.Ldc + j;
                for (int q = 0; q < valid; q++)
                {
                    float s = job.Alpha * sums[4 * r + q];
                    cRow[q] = job.Beta == 0f ? s : MathF.FusedMultiplyAdd(cRow[q], job.Beta, s); // as GEMM rounds
                }
            }
        }
    }

    /// <summary>The 4·R dot products of rows a … a + (R−1)·lda with b0 … b3 over all k: vector lanes, then a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Dot<TV, TL, TB, TE, TR>(int k, float* a, nint lda, TB* b0, TB* b1, TB* b2, TB* b3, nint ahead, float* sums)
        where TV : unmanaged where TL : ILanes<TV> where TB : unmanaged where TE : IGemmElement<TB> where TR : IRowCount
    {
        int vectorEnd = k / TL.Width * TL.Width;
        if (TR.Rows == 1) TileOneRow<TV, TL, TB, TE>(vectorEnd, a, b0, b1, b2, b3, ahead, sums);
        else Tile<TV, TL, TB, TE, TR>(0, vectorEnd, a, lda, b0, b1, b2, b3, ahead, sums);
        if (vectorEnd < k) Tile<float, Lanes1, TB, TE, TR>(vectorEnd, k, a, lda, b0, b1, b2, b3, 0, sums);
    }

    /// <summary>
    /// One row of A (decoding a single sequence): the four weight rows one after another, each a single stream in
    /// address order with four independent accumulators, as a plain read would go. end is a multiple of W.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TileOneRow<TV, TL, TB, TE>(int end, float* a, TB* b0, TB* b1, TB* b2, TB* b3, nint ahead, float* sums)
        where TV : unmanaged where TL : ILanes<TV> where TB : unmanaged where TE : IGemmElement<TB>
    {
        TV d0 = Row(b0), d1 = Row(b1), d2 = Row(b2), d3 = Row(b3);
        Vector128.Store(Vector128.Load(sums) + TL.Sum4(d0, d1, d2, d3), sums);

        TV Row(TB* b)
        {
            TV s0 = TL.Zero, s1 = TL.Zero, s2 = TL.Zero, s3 = TL.Zero;
            int p = 0, w = TL.Width;
            for (; p + 4 * w <= end; p += 4 * w)
            {
                if (Sse.IsSupported && ahead != 0)
                {
                    Sse.Prefetch0(b + p + ahead); Sse.Prefetch0(b + p + w + ahead); Sse.Prefetch0(b + p + 2 * w + ahead); Sse.Prefetch0(b + p + 3 * w + ahead);
                }
                s0 = TL.MultiplyAdd(TL.Load(a + p), TL.Load<TB, TE>(b + p), s0);
                s1 = TL.MultiplyAdd(TL.Load(a + p + w), TL.Load<TB, TE>(b + p + w), s1);
                s2 = TL.MultiplyAdd(TL.Load(a + p + 2 * w), TL.Load<TB, TE>(b + p + 2 * w), s2);
                s3 = TL.MultiplyAdd(TL.Load(a + p + 3 * w), TL.Load<TB, TE>(b + p + 3 * w), s3);
            }
            for (; p < end; p += w) s0 = TL.MultiplyAdd(TL.Load(a + p), TL.Load<TB, TE>(b + p), s0);
            return TL.Add(TL.Add(s0, s1), TL.Add(s2, s3));
        }
    }

    /// <summary>
    /// sums[4·r + q] += Σ_{p in [p0, p1)} a[r·lda + p] · b_q[p] for r &lt; R, q &lt; 4, W lanes at a time
    /// (p1 − p0 a multiple of W). Rows of A past R are never read. With ahead ≠ 0, also prefetches b_q + ahead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Tile<TV, TL, TB, TE, TR>(int p0, int p1, float* a, nint lda, TB* b0, TB* b1, TB* b2, TB* b3, nint ahead, float* sums)
        where TV : unmanaged where TL : ILanes<TV> where TB : unmanaged where TE : IGemmElement<TB> where TR : IRowCount
    {
        TV c00 = TL.Zero, c01 = TL.Zero, c02 = TL.Zero, c03 = TL.Zero;
        TV c10 = TL.Zero, c11 = TL.Zero, c12 = TL.Zero, c13 = TL.Zero;
        TV c20 = TL.Zero, c21 = TL.Zero, c22 = TL.Zero, c23 = TL.Zero;
        TV c30 = TL.Zero, c31 = TL.Zero, c32 = TL.Zero, c33 = TL.Zero;
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
        for (int p = p0; p < p1; p += TL.Width)
        {
            if (Sse.IsSupported && ahead != 0) // a hint: never faults, even past the end of B
            {
                Sse.Prefetch0(b0 + p + ahead); Sse.Prefetch0(b1 + p + ahead); Sse.Prefetch0(b2 + p + ahead); Sse.Prefetch0(b3 + p + ahead);
            }
            TV w0 = TL.Load<TB, TE>(b0 + p), w1 = TL.Load<TB, TE>(b1 + p), w2 = TL.Load<TB, TE>(b2 + p), w3 = TL.Load<TB, TE>(b3 + p);
            TV x = TL.Load(a0 + p);
            c00 = TL.MultiplyAdd(x, w0, c00); c01 = TL.MultiplyAdd(x, w1, c01); c02 = TL.MultiplyAdd(x, w2, c02); c03 = TL.MultiplyAdd(x, w3, c03);
            if (TR.Rows > 1)
            {
                x = TL.Load(a1 + p);
                c10 = TL.MultiplyAdd(x, w0, c10); c11 = TL.MultiplyAdd(x, w1, c11); c12 = TL.MultiplyAdd(x, w2, c12); c13 = TL.MultiplyAdd(x, w3, c13);
            }
            if (TR.Rows > 2)
            {
                x = TL.Load(a2 + p);
                c20 = TL.MultiplyAdd(x, w0, c20); c21 = TL.MultiplyAdd(x, w1, c21); c22 = TL.MultiplyAdd(x, w2, c22); c23 = TL.MultiplyAdd(x, w3, c23);
            }
            if (TR.Rows > 3)
            {
                x = TL.Load(a3 + p);
                c30 = TL.MultiplyAdd(x, w0, c30); c31 = TL.MultiplyAdd(x, w1, c31); c32 = TL.MultiplyAdd(x, w2, c32); c33 = TL.MultiplyAdd(x, w3, c33);
            }
        }
        Add(sums, TL.Sum4(c00, c01, c02, c03));
        if (TR.Rows > 1) Add(sums + 4, TL.Sum4(c10, c11, c12, c13));
        if (TR.Rows > 2) Add(sums + 8, TL.Sum4(c20, c21, c22, c23));
        if (TR.Rows > 3) Add(sums + 12, TL.Sum4(c30, c31, c32, c33));

        static void Add(float* p, Vector128<float> v) => Vector128.Store(Vector128.Load(p) + v, p);
    }
}

/// <summary>How many rows of A one <see cref="Gemv"/> tile dots with its weight rows (a constant for the JIT).</summary>
internal interface IRowCount
{
    static abstract int Rows { get; }
}

internal readonly struct Rows1 : IRowCount { public static int Rows => 1; }
internal readonly struct Rows2 : IRowCount { public static int Rows => 2; }
internal readonly struct Rows3 : IRowCount { public static int Rows => 3; }
internal readonly struct Rows4 : IRowCount { public static int Rows => 4; }

/// <summary>The vector operations <see cref="Gemv"/> needs, over TV = W lanes of f32 (a float itself when W = 1).</summary>
internal unsafe interface ILanes<TV> where TV : unmanaged
{
    static abstract int Width { get; }

    /// <summary>Rows of A per pass: 4·MaxRows accumulators + 4 weights + 1 activation fit the register file.</summary>
    static abstract int MaxRows { get; }

    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    static abstract TV Load<T, TE>(T* p) where T : unmanaged where TE : IGemmElement<T>;

    static abstract TV Add(TV x, TV y);

    /// <summary>x·y + acc, one rounding.</summary>
    static abstract TV MultiplyAdd(TV x, TV y, TV acc);

    /// <summary>The lane sums of four vectors, in order.</summary>
    static abstract Vector128<float> Sum4(TV a, TV b, TV c, TV d);
}

/// <summary>AVX-512: 32 registers hold 16 accumulators, 4 weights and an activation.</summary>
internal readonly unsafe struct Lanes512 : ILanes<Vector512<float>>
{
    public static int Width => 16;
    public static int MaxRows => 4;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load<T, TE>(T* p) where T : unmanaged where TE : IGemmElement<T> => TE.Load16(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> x, Vector512<float> y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> x, Vector512<float> y, Vector512<float> acc) =>
        Vector512.FusedMultiplyAdd(x, y, acc);

    // Halve each to 128 bits, then a transposing tree of horizontal adds (Vector512.Sum reduces one vector at a time
    // in ~25 instructions, as much as a third of a 576-deep tile).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        Lanes256.Sum4(Fold(a), Fold(b), Fold(c), Fold(d));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fold(Vector512<float> v) => v.GetLower() + v.GetUpper();
}

/// <summary>AVX2 + FMA: 16 registers hold 8 accumulators, 4 weights and an activation.</summary>
internal readonly unsafe struct Lanes256 : ILanes<Vector256<float>>
{
    public static int Width => 8;
    public static int MaxRows => 2;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load<T, TE>(T* p) where T : unmanaged where TE : IGemmElement<T> => TE.Load8(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> x, Vector256<float> y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> x, Vector256<float> y, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(x, y, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        // haddps(x, y) = [x0+x1, x2+x3, y0+y1, y2+y3]: two levels turn [a], [b], [c], [d] into [Σa, Σb, Σc, Σd].
        Vector128<float> ab = Sse3.HorizontalAdd(Fold(a), Fold(b)), cd = Sse3.HorizontalAdd(Fold(c), Fold(d));
        return Sse3.HorizontalAdd(ab, cd);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector256<float> v) => v.GetLower() + v.GetUpper();
}

/// <summary>Scalar: the fallback, and the tail of k past the last whole vector.</summary>
internal readonly unsafe struct Lanes1 : ILanes<float>
{
    public static int Width => 1;
    public static int MaxRows => 2;
    public static float Zero => 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(float* p) => *p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load<T, TE>(T* p) where T : unmanaged where TE : IGemmElement<T> => TE.ToSingle(*p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Add(float x, float y) => x + y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MultiplyAdd(float x, float y, float acc) => MathF.FusedMultiplyAdd(x, y, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(float a, float b, float c, float d) => Vector128.Create(a, b, c, d);
}
