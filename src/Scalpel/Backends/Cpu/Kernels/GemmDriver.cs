using System.Runtime.CompilerServices;
using Scalpel.Tensors;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// Cache blocking sizes, in elements. <c>Kc</c>: depth of one packed block (the A micro-panel, MR × Kc, lives
/// in L1). <c>Nc</c>: columns of the packed B block (Kc × Nc lives in L2). <c>Mc</c>: rows of the packed A block
/// (Mc × Kc, L3); B is packed again for every Mc rows, so Mc is large.
/// </summary>
internal readonly record struct GemmBlocking(int Kc, int Mc, int Nc)
{
    /// <summary>Zen 4/5: 32-48 KiB L1d, 1 MiB L2 per core. Kc·Nc·4 = 384·336·4 ≈ 0.5 MiB, half the L2.</summary>
    public static GemmBlocking Default => new(Kc: 384, Mc: 2048, Nc: 336);
}

/// <summary>
/// The single-threaded blocked GEMM (the five loops of BLIS / GotoBLAS), generic over the micro-kernel and the
/// stored type of B. One call computes C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C.
/// <code>
/// for ic in M step Mc:                      A block rows
///   for pc in K step Kc:                    one packed depth; beta applies on the first only
///     pack A[ic.., pc..] → Ap  (Mc × Kc, micro-panels of MR rows; per panel below when n ≤ Nc)
///     for jc in N step Nc:
///       pack B[pc.., jc..] → Bp  (Kc × Nc, micro-panels of NR columns; BF16 widened, NF4/Q8_0 dequantized here)
///       for ir in Mc step MR:               A micro-panel stays in L1 ...
///         for jr in Nc step NR:             ... while B micro-panels stream from L2
///           micro-kernel: C[ir.., jr..] (MR × NR) (+)= Ap[ir] · Bp[jr]
/// </code>
/// </summary>
internal static unsafe class GemmDriver
{
    public static void Run<TK, TB>(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, nint lda, TB b, float beta, float* c, nint ldc, GemmBlocking blocking, bool simdPack)
        where TK : IGemmKernel where TB : struct, IGemmB<TB>
    {
        int mr = TK.MR, nr = TK.NR;
        // Split K, N, M into near-equal blocks no larger than the limits (576 → 2 × 288, not 384 + 192).
        int kc = Balanced(k, blocking.Kc, 1);
        int nc = Balanced(n, Math.Max(nr, blocking.Nc / nr * nr), nr);
        int mc = Balanced(m, Math.Max(mr, blocking.Mc / mr * mr), mr);

        GemmScratch scratch = GemmScratch.ForThisThread();
        float* ap = scratch.A((long)RoundUp(mc, mr) * kc);
        float* bp = scratch.B((long)RoundUp(nc, nr) * kc);
        float* edge = stackalloc float[mr * nr];

        // With a single B block (narrow C: LoRA's n = 16) each A micro-panel feeds one sweep of jr only, so pack
        // it just before that sweep, while it is still in L1, instead of packing the whole Mc × Kc block (larger
        // than L2) up front and streaming it back.
        bool panelByPanel = n <= nc;

        for (int ic = 0; ic < m; ic += mc)
        {
            int mcb = Math.Min(mc, m - ic);
            for (int pc = 0; pc < k; pc += kc)
            {
                int kcb = Math.Min(kc, k - pc);
                float betaBlock = pc == 0 ? beta : 1f; // later depth blocks add onto what the first wrote

                // op(A)[i, p]: A stored m×k is p-contiguous (row i at a + i·lda); Aᵀ stored k×m is i-contiguous.
                float* aBlock = transA ? a + pc * lda + ic : a + ic * lda + pc;
                if (!panelByPanel) GemmPack.Block<float, F32Element>(aBlock, lda, rContiguous: transA, mcb, kcb, mr, ap, simdPack);

                for (int jc = 0; jc < n; jc += nc)
                {
                    int ncb = Math.Min(nc, n - jc);
                    b.Pack(transB, pc, jc, kcb, ncb, nr, bp, simdPack);

                    for (int ir = 0; ir < mcb; ir += mr)
                    {
                        int rows = Math.Min(mr, mcb - ir);
                        float* aPanel = ap + (nint)ir * kcb;
                        if (panelByPanel)
                        {
                            aPanel = ap;
                            GemmPack.Block<float, F32Element>(transA ? aBlock + ir : aBlock + ir * lda, lda, rContiguous: transA,
                                rows, kcb, mr, aPanel, simdPack);
                        }
                        for (int jr = 0; jr < ncb; jr += nr)
                        {
                            int cols = Math.Min(nr, ncb - jr);
                            float* bPanel = bp + (nint)jr * kcb;
                            float* cTile = c + (ic + ir) * ldc + jc + jr;
                            if (rows == mr && cols == nr)
                            {
                                TK.Run(kcb, aPanel, bPanel, cTile, ldc, alpha, betaBlock);
                            }
                            else
                            {
                                // Edge tile: compute the full (zero-padded) tile aside, merge the valid part.
                                TK.Run(kcb, aPanel, bPanel, edge, nr, 1f, 0f);
                                MergeEdge(edge, nr, cTile, ldc, rows, cols, alpha, betaBlock);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>C = beta · C over m × n (beta == 0 writes zeros without reading): the k == 0 case.</summary>
    public static void Scale(float* c, nint ldc, int m, int n, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static void MergeEdge(float* tile, int ldt, float* c, nint ldc, int rows, int cols, float alpha, float beta)
    {
        for (int i = 0; i < rows; i++, tile += ldt, c += ldc)
        {
            if (beta == 0f)
                for (int j = 0; j < cols; j++) c[j] = alpha * tile[j];
            else
                for (int j = 0; j < cols; j++) c[j] = MathF.FusedMultiplyAdd(c[j], beta, alpha * tile[j]); // as the kernels round
        }
    }

    /// <summary>Block size ≤ limit that splits total into equal parts, rounded up to a multiple of unit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Balanced(int total, int limit, int unit)
    {
        int blocks = (total + limit - 1) / limit;
        return Math.Min(limit, RoundUp((total + blocks - 1) / blocks, unit));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RoundUp(int x, int unit) => (x + unit - 1) / unit * unit;
}

/// <summary>
/// Per-thread pack buffers, grown on demand and kept for the thread's life, so the hot path allocates nothing.
/// Native and 64-byte aligned (the kernels use aligned loads on packed B); freed by NativeBuffer's finalizer
/// when the thread ends.
/// </summary>
internal sealed unsafe class GemmScratch
{
    [ThreadStatic] private static GemmScratch? t_current;

    private NativeBuffer? _a, _b, _dequantized;

    public static GemmScratch ForThisThread() => t_current ??= new GemmScratch();

    public float* A(long floats) => Ensure(ref _a, floats);

    public float* B(long floats) => Ensure(ref _b, floats);

    /// <summary>One Kc × Nc block of a quantized B, dequantized before packing (<see cref="QuantizedB"/>).</summary>
    public float* Dequantized(long floats) => Ensure(ref _dequantized, floats);

    private static float* Ensure(ref NativeBuffer? buffer, long floats)
    {
        long bytes = Math.Max(floats, 16) * sizeof(float);
        if (buffer is null || buffer.ByteLength < bytes)
        {
            buffer?.Dispose();
            buffer = new NativeBuffer(bytes, zero: false);
        }
        return (float*)buffer.Pointer;
    }
}
