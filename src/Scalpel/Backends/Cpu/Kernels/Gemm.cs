using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// General matrix multiply, row-major: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
/// op(A) = A stored m×k (lda ≥ k), or Aᵀ with A stored k×m (lda ≥ m) when <c>transA</c>.
/// op(B) = B stored k×n (ldb ≥ n), or Bᵀ with B stored n×k (ldb ≥ k) when <c>transB</c>.
/// B may be BF16 (raw bits): model weights stay BF16 in memory and are widened while packing; or block-quantized
/// (NF4, Q8_0: <see cref="QuantizedMatrix"/>), dequantized block by block while packing.
/// When beta is 0, C is overwritten without being read (NaN in C does not leak through).
/// <c>threads</c> = 0 uses every core.
/// </summary>
/// <remarks>
/// Packed and cache-blocked like BLIS: <see cref="GemmDriver"/> runs the block loops, <see cref="GemmPack"/> lays
/// operands out for the micro-kernels (<see cref="IGemmKernel"/>: AVX-512 8×48 and 24×16, AVX2 6×16, scalar 4×4).
/// Threads each take a rectangle of C and run the single-threaded driver on it with their own pack buffers:
/// no synchronisation besides the final join. <c>threads</c> is an upper bound: products under ~4 MFLOP per
/// thread use fewer. Safe to call from several threads at once (pack buffers are per thread); C must not
/// overlap A or B.
/// </remarks>
public static class Gemm
{
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply<float, F32Element>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads,
            GemmPath.Auto, GemmBlocking.Default, MinFlopsPerThread);

    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> bBf16, int ldb, float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply<ushort, Bf16Element>(transA, transB, m, n, k, alpha, a, lda, bBf16, ldb, beta, c, ldc, threads,
            GemmPath.Auto, GemmBlocking.Default, MinFlopsPerThread);

    /// <summary>Each thread gets at least this much work (2·m·n·k), so small products stay on one thread.</summary>
    internal const long MinFlopsPerThread = 1L << 22;

    /// <summary>The widest kernel this machine runs: AVX-512, else AVX2 + FMA, else scalar.</summary>
    internal static GemmPath BestPath =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmPath.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? GemmPath.Avx2
        : GemmPath.Scalar;

    /// <summary>
    /// The kernel for an m × n product: the widest, except that on AVX-512 narrow C (LoRA's rank-r products,
    /// a 64-wide head) takes the 24×16 kernel when the 8×48 one would waste more of its tile on padding than
    /// the narrow kernel loses in speed (it runs at about NarrowSpeed of the wide one; measured on Zen 5).
    /// </summary>
    internal static GemmPath ChoosePath(int m, int n)
    {
        GemmPath best = BestPath;
        if (best != GemmPath.Avx512) return best;
        double wide = Useful(m, n, Avx512Kernel8x48.MR, Avx512Kernel8x48.NR);
        double narrow = NarrowSpeed * Useful(m, n, Avx512Kernel24x16.MR, Avx512Kernel24x16.NR);
        return narrow > wide ? GemmPath.Avx512Narrow : GemmPath.Avx512;

        // The fraction of the computed tiles that lies inside C.
        static double Useful(int m, int n, int mr, int nr) => m / (double)RoundUp(m, mr) * n / RoundUp(n, nr);
    }

    private const double NarrowSpeed = 0.9;

    private static int RoundUp(int x, int unit) => (x + unit - 1) / unit * unit;

    internal static bool IsSupported(GemmPath path) => path switch
    {
        GemmPath.Avx512 or GemmPath.Avx512Narrow => BestPath == GemmPath.Avx512,
        GemmPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        _ => true,
    };

    /// <summary>
    /// B block-quantized (NF4 or Q8_0), stored [rows, cols] = k×n, or n×k when <c>transB</c> (a weight [out, in]);
    /// its blocks are dequantized while packing.
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, QuantizedMatrix b, float beta, Span<float> c, int ldc, int threads = 0) =>
        Multiply(transA, transB, m, n, k, alpha, a, lda, b, beta, c, ldc, threads, GemmPath.Auto, GemmBlocking.Default, MinFlopsPerThread);

    internal static unsafe void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, QuantizedMatrix b, float beta, Span<float> c, int ldc, int threads,
        GemmPath path, GemmBlocking blocking, long minFlopsPerThread)
    {
        (int bRows, int bCols) = transB ? (n, k) : (k, n);
        if (b.Rows != bRows || b.Cols != bCols)
            throw new ArgumentException($"quantized b is {b.Rows}×{b.Cols}; the product needs {bRows}×{bCols}", nameof(b));
        Validate(transA, transB, m, n, k, a.Length, lda, checked((int)Math.Min(int.MaxValue, b.Length)), bCols, c.Length, ldc, threads);
        fixed (float* pa = a)
        fixed (float* pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, new QuantizedB(b, 0), beta, pc, ldc, threads, path, blocking, minFlopsPerThread);
    }

    /// <summary>
    /// The full entry point. Tests use it to force a kernel width, tiny blocks (to reach every block edge with
    /// small matrices) and a tiny per-thread minimum (to split small products over threads).
    /// </summary>
    internal static unsafe void Multiply<TB, TE>(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<TB> b, int ldb, float beta, Span<float> c, int ldc, int threads,
        GemmPath path, GemmBlocking blocking, long minFlopsPerThread)
        where TB : unmanaged where TE : IGemmElement<TB>
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, threads);
        fixed (float* pa = a)
        fixed (TB* pb = b)
        fixed (float* pc = c)
            Run(transA, transB, m, n, k, alpha, pa, lda, new StridedB<TB, TE>(pb, ldb), beta, pc, ldc, threads, path, blocking, minFlopsPerThread);
    }

    private static unsafe void Run<TB>(bool transA, bool transB, int m, int n, int k, float alpha, float* pa, int lda, TB b,
        float beta, float* pc, int ldc, int threads, GemmPath path, GemmBlocking blocking, long minFlopsPerThread)
        where TB : struct, IGemmB<TB>
    {
        if (m == 0 || n == 0) return;
        if (path == GemmPath.Auto) path = ChoosePath(m, n);
        if (!IsSupported(path)) throw new PlatformNotSupportedException($"GEMM path {path} is not supported on this CPU");
        if (k == 0)
        {
            GemmDriver.Scale(pc, ldc, m, n, beta); // the product is empty: C = beta·C
            return;
        }
        var job = new Job<TB>(transA, transB, m, n, k, alpha, pa, lda, b, beta, pc, ldc, blocking);
        int workers = WorkerCount(threads, m, n, k, minFlopsPerThread);
        switch (path)
        {
            case GemmPath.Avx512: Run<Avx512Kernel8x48, TB>(job, workers); break;
            case GemmPath.Avx512Narrow: Run<Avx512Kernel24x16, TB>(job, workers); break;
            case GemmPath.Avx2: Run<Avx2Kernel6x16, TB>(job, workers, simdPack: true); break;
            default: Run<ScalarKernel4x4, TB>(job, workers, simdPack: false); break;
        }
    }

    /// <summary>One call's arguments, with pointers into pinned memory (valid until the call returns).</summary>
    private readonly unsafe struct Job<TB>(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, TB b, float beta, float* c, nint ldc, GemmBlocking blocking) where TB : struct, IGemmB<TB>
    {
        public readonly bool TransA = transA, TransB = transB;
        public readonly int M = m, N = n, K = k;
        public readonly float Alpha = alpha, Beta = beta;
        public readonly float* A = a, C = c;
        public readonly TB B = b;
        public readonly nint Lda = lda, Ldc = ldc;
        public readonly GemmBlocking Blocking = blocking;

        /// <summary>The same product restricted to rows [i0, i0+rows) and columns [j0, j0+cols) of C.</summary>
        public Job<TB> Part(int i0, int rows, int j0, int cols) => new(TransA, TransB, rows, cols, K, Alpha,
            TransA ? A + i0 : A + i0 * Lda, Lda, B.FromColumn(TransB, j0), Beta, C + i0 * Ldc + j0, Ldc, Blocking);
    }

    private static unsafe void Run<TK, TB>(Job<TB> job, int workers, bool simdPack = true)
        where TK : IGemmKernel where TB : struct, IGemmB<TB>
    {
        if (workers == 1)
        {
            Single<TK, TB>(job, simdPack);
            return;
        }

        // A tm × tn grid of C rectangles, cut on micro-tile boundaries so only the last row/column of
        // rectangles has edge tiles. Each worker packs its own A rows and B columns.
        int unitsM = (job.M + TK.MR - 1) / TK.MR, unitsN = (job.N + TK.NR - 1) / TK.NR;
        (int tm, int tn) = Grid(workers, unitsM * TK.MR, unitsN * TK.NR, TK.MR, TK.NR);
        GemmParallel.Run(tm * tn, t =>
        {
            int ti = t / tn, tj = t % tn;
            int u0 = unitsM * ti / tm, u1 = unitsM * (ti + 1) / tm;
            int v0 = unitsN * tj / tn, v1 = unitsN * (tj + 1) / tn;
            int i0 = u0 * TK.MR, i1 = Math.Min(job.M, u1 * TK.MR);
            int j0 = v0 * TK.NR, j1 = Math.Min(job.N, v1 * TK.NR);
            if (i1 > i0 && j1 > j0) Single<TK, TB>(job.Part(i0, i1 - i0, j0, j1 - j0), simdPack);
        });
    }

    private static unsafe void Single<TK, TB>(in Job<TB> j, bool simdPack)
        where TK : IGemmKernel where TB : struct, IGemmB<TB> =>
        GemmDriver.Run<TK, TB>(j.TransA, j.TransB, j.M, j.N, j.K, j.Alpha, j.A, j.Lda, j.B, j.Beta, j.C, j.Ldc, j.Blocking, simdPack);

    private static int WorkerCount(int threads, int m, int n, int k, long minFlopsPerThread)
    {
        int t = threads == 0 ? Environment.ProcessorCount : threads;
        long flops = 2L * m * n * k;
        return (int)Math.Clamp(flops / Math.Max(1, minFlopsPerThread), 1, t);
    }

    /// <summary>
    /// Picks tm × tn ≤ workers minimising one worker's time: its share of the multiply (mm·nn·k, at ~32 FMA
    /// lanes a cycle) plus packing its A rows and B columns (mm·k + nn·k, ~1 element a cycle). k cancels.
    /// </summary>
    internal static (int Tm, int Tn) Grid(int workers, int m, int n, int mr, int nr)
    {
        int unitsM = (m + mr - 1) / mr, unitsN = (n + nr - 1) / nr;
        (int, int) best = (1, 1);
        double bestCost = double.MaxValue;
        for (int tm = 1; tm <= Math.Min(workers, unitsM); tm++)
        {
            int tn = Math.Min(workers / tm, unitsN);
            double mm = (double)((unitsM + tm - 1) / tm) * mr, nn = (double)((unitsN + tn - 1) / tn) * nr;
            double cost = mm * nn / 32 + mm + nn;
            if (cost < bestCost) { bestCost = cost; best = (tm, tn); }
        }
        return best;
    }

    internal static void Validate(bool transA, bool transB, int m, int n, int k, int aLength, int lda, int bLength, int ldb,
        int cLength, int ldc, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        // Stored shapes: A is m×k (k×m when transposed), B is k×n (n×k), C is m×n; ld is the row stride.
        (int aRows, int aCols) = transA ? (k, m) : (m, k);
        (int bRows, int bCols) = transB ? (n, k) : (k, n);
        Check("a", aRows, aCols, lda, aLength);
        Check("b", bRows, bCols, ldb, bLength);
        Check("c", m, n, ldc, cLength);

        static void Check(string name, int rows, int cols, int ld, int length)
        {
            if (ld < cols)
                throw new ArgumentOutOfRangeException("ld" + name, ld, $"leading dimension of {name} must be ≥ {cols}");
            if (rows > 0 && cols > 0 && length < (long)(rows - 1) * ld + cols)
                throw new ArgumentException($"{name} holds {length} elements; a {rows}×{cols} matrix with stride {ld} needs {(long)(rows - 1) * ld + cols}", name);
        }
    }
}

/// <summary>Which micro-kernel runs; <see cref="Auto"/> picks the widest the CPU supports (see <see cref="Gemm.ChoosePath"/>).</summary>
internal enum GemmPath
{
    Auto,
    /// <summary><see cref="ScalarKernel4x4"/>.</summary>
    Scalar,
    /// <summary><see cref="Avx2Kernel6x16"/>.</summary>
    Avx2,
    /// <summary><see cref="Avx512Kernel8x48"/>.</summary>
    Avx512,
    /// <summary><see cref="Avx512Kernel24x16"/>, for narrow C.</summary>
    Avx512Narrow,
}
