using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// A register-blocked GEMM micro-kernel: C[MR, NR] (+)= alpha · Ap[kc, MR]ᵀ · Bp[kc, NR], where Ap and Bp are
/// packed micro-panels (see <see cref="GemmPack"/>): for every k, MR values of A (one per row of C) then NR values
/// of B (one per column of C) lie next to each other. The kernel keeps the whole C tile in registers for the
/// kc loop, so each k step is MR broadcasts of A times NR/W vector loads of B feeding MR·NR/W FMAs.
/// All kernels round identically: acc = fma(a, b, acc) for p = 0, 1, ..., then C = fma(C, beta, alpha·acc)
/// (C = alpha·acc when beta is 0), so results do not depend on the width, the tile or the thread split.
/// </summary>
internal unsafe interface IGemmKernel
{
    /// <summary>Rows of the C tile (broadcast operand, A).</summary>
    static abstract int MR { get; }

    /// <summary>Columns of the C tile (vector operand, B); a multiple of the vector width.</summary>
    static abstract int NR { get; }

    /// <summary>
    /// Full tile: c[i*ldc + j] = alpha·acc[i,j] + beta·c[i*ldc + j] for i &lt; MR, j &lt; NR.
    /// When beta is 0, C is written without being read.
    /// </summary>
    static abstract void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta);
}

/// <summary>
/// AVX-512: 8 rows × 48 columns (3 zmm per row) = 24 accumulators, plus 3 B vectors and a broadcast = 28 of
/// the 32 zmm registers. Per k step: 3 loads + 8 broadcasts feed 24 FMAs, enough independent chains to
/// cover the FMA latency (4 cycles × 2 pipes on Zen 4/5) with room to spare. MR = 8 also makes packing
/// row-major A an 8×8 transpose.
/// </summary>
internal readonly unsafe struct Avx512Kernel8x48 : IGemmKernel
{
    public static int MR => 8;
    public static int NR => 48;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default;
        Vector512<float> c60 = default, c61 = default, c62 = default;
        Vector512<float> c70 = default, c71 = default, c72 = default;

        for (int p = 0; p < kc; p++)
        {
            // One k step: row p of the B micro-panel (48 floats, 64-byte aligned) ...
            Vector512<float> b0 = Vector512.LoadAligned(b);
            Vector512<float> b1 = Vector512.LoadAligned(b + 16);
            Vector512<float> b2 = Vector512.LoadAligned(b + 32);
            // ... times column p of the A micro-panel (8 floats), one broadcast per row of C.
            Vector512<float> ai = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01); c02 = Vector512.FusedMultiplyAdd(ai, b2, c02);
            ai = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11); c12 = Vector512.FusedMultiplyAdd(ai, b2, c12);
            ai = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21); c22 = Vector512.FusedMultiplyAdd(ai, b2, c22);
            ai = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31); c32 = Vector512.FusedMultiplyAdd(ai, b2, c32);
            ai = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(ai, b0, c40); c41 = Vector512.FusedMultiplyAdd(ai, b1, c41); c42 = Vector512.FusedMultiplyAdd(ai, b2, c42);
            ai = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(ai, b0, c50); c51 = Vector512.FusedMultiplyAdd(ai, b1, c51); c52 = Vector512.FusedMultiplyAdd(ai, b2, c52);
            ai = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(ai, b0, c60); c61 = Vector512.FusedMultiplyAdd(ai, b1, c61); c62 = Vector512.FusedMultiplyAdd(ai, b2, c62);
            ai = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(ai, b0, c70); c71 = Vector512.FusedMultiplyAdd(ai, b1, c71); c72 = Vector512.FusedMultiplyAdd(ai, b2, c72);
            a += 8;
            b += 48;
        }

        var va = Vector512.Create(alpha);
        if (beta == 0f)
        {
            Put(c, c00, c01, c02, va); c += ldc;
            Put(c, c10, c11, c12, va); c += ldc;
            Put(c, c20, c21, c22, va); c += ldc;
            Put(c, c30, c31, c32, va); c += ldc;
            Put(c, c40, c41, c42, va); c += ldc;
            Put(c, c50, c51, c52, va); c += ldc;
            Put(c, c60, c61, c62, va); c += ldc;
            Put(c, c70, c71, c72, va);
        }
        else
        {
            var vb = Vector512.Create(beta);
            Update(c, c00, c01, c02, va, vb); c += ldc;
            Update(c, c10, c11, c12, va, vb); c += ldc;
            Update(c, c20, c21, c22, va, vb); c += ldc;
            Update(c, c30, c31, c32, va, vb); c += ldc;
            Update(c, c40, c41, c42, va, vb); c += ldc;
            Update(c, c50, c51, c52, va, vb); c += ldc;
            Update(c, c60, c61, c62, va, vb); c += ldc;
            Update(c, c70, c71, c72, va, vb);
        }
    }

    // C row = alpha·acc (beta == 0: C is not read).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* c, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> alpha)
    {
        Vector512.Store(x0 * alpha, c);
        Vector512.Store(x1 * alpha, c + 16);
        Vector512.Store(x2 * alpha, c + 32);
    }

    // C row = alpha·acc + beta·C.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(float* c, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2,
        Vector512<float> alpha, Vector512<float> beta)
    {
        Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(c), beta, x0 * alpha), c);
        Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(c + 16), beta, x1 * alpha), c + 16);
        Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(c + 32), beta, x2 * alpha), c + 32);
    }
}

/// <summary>
/// AVX-512 for narrow C (LoRA's rank-r products, n = 8..32): 24 rows × 16 columns (1 zmm per row), so n = 16
/// wastes nothing where the 8×48 kernel would compute 48 columns. 24 accumulators + 1 B vector + 1 broadcast.
/// Each k step is 1 load and 24 broadcasts for 24 FMAs, so it leans on the load ports more than 8×48 does.
/// </summary>
internal readonly unsafe struct Avx512Kernel24x16 : IGemmKernel
{
    public static int MR => 24;
    public static int NR => 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector512<float> c06 = default, c07 = default, c08 = default, c09 = default, c10 = default, c11 = default;
        Vector512<float> c12 = default, c13 = default, c14 = default, c15 = default, c16 = default, c17 = default;
        Vector512<float> c18 = default, c19 = default, c20 = default, c21 = default, c22 = default, c23 = default;

        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.LoadAligned(b);
            c00 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c00);
            c01 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c01);
            c02 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c02);
            c03 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c03);
            c04 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c04);
            c05 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c05);
            c06 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c06);
            c07 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c07);
            c08 = Vector512.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c08);
            c09 = Vector512.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c09);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
            c12 = Vector512.FusedMultiplyAdd(Vector512.Create(a[12]), b0, c12);
            c13 = Vector512.FusedMultiplyAdd(Vector512.Create(a[13]), b0, c13);
            c14 = Vector512.FusedMultiplyAdd(Vector512.Create(a[14]), b0, c14);
            c15 = Vector512.FusedMultiplyAdd(Vector512.Create(a[15]), b0, c15);
            c16 = Vector512.FusedMultiplyAdd(Vector512.Create(a[16]), b0, c16);
            c17 = Vector512.FusedMultiplyAdd(Vector512.Create(a[17]), b0, c17);
            c18 = Vector512.FusedMultiplyAdd(Vector512.Create(a[18]), b0, c18);
            c19 = Vector512.FusedMultiplyAdd(Vector512.Create(a[19]), b0, c19);
            c20 = Vector512.FusedMultiplyAdd(Vector512.Create(a[20]), b0, c20);
            c21 = Vector512.FusedMultiplyAdd(Vector512.Create(a[21]), b0, c21);
            c22 = Vector512.FusedMultiplyAdd(Vector512.Create(a[22]), b0, c22);
            c23 = Vector512.FusedMultiplyAdd(Vector512.Create(a[23]), b0, c23);
            a += 24;
            b += 16;
        }

        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        bool readC = beta != 0f;
        Store(c, c00, va, vb, readC); c += ldc;
        Store(c, c01, va, vb, readC); c += ldc;
        Store(c, c02, va, vb, readC); c += ldc;
        Store(c, c03, va, vb, readC); c += ldc;
        Store(c, c04, va, vb, readC); c += ldc;
        Store(c, c05, va, vb, readC); c += ldc;
        Store(c, c06, va, vb, readC); c += ldc;
        Store(c, c07, va, vb, readC); c += ldc;
        Store(c, c08, va, vb, readC); c += ldc;
        Store(c, c09, va, vb, readC); c += ldc;
        Store(c, c10, va, vb, readC); c += ldc;
        Store(c, c11, va, vb, readC); c += ldc;
        Store(c, c12, va, vb, readC); c += ldc;
        Store(c, c13, va, vb, readC); c += ldc;
        Store(c, c14, va, vb, readC); c += ldc;
        Store(c, c15, va, vb, readC); c += ldc;
        Store(c, c16, va, vb, readC); c += ldc;
        Store(c, c17, va, vb, readC); c += ldc;
        Store(c, c18, va, vb, readC); c += ldc;
        Store(c, c19, va, vb, readC); c += ldc;
        Store(c, c20, va, vb, readC); c += ldc;
        Store(c, c21, va, vb, readC); c += ldc;
        Store(c, c22, va, vb, readC); c += ldc;
        Store(c, c23, va, vb, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> acc, Vector512<float> alpha, Vector512<float> beta, bool readC) =>
        Vector512.Store(readC ? Vector512.FusedMultiplyAdd(Vector512.Load(c), beta, acc * alpha) : acc * alpha, c);
}

/// <summary>
/// AVX2 + FMA: the classic 6 rows × 16 columns (2 ymm per row) = 12 accumulators + 2 B vectors + 1 broadcast
/// = 15 of the 16 ymm registers.
/// </summary>
internal readonly unsafe struct Avx2Kernel6x16 : IGemmKernel
{
    public static int MR => 6;
    public static int NR => 16;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;

        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.LoadAligned(b);
            Vector256<float> b1 = Vector256.LoadAligned(b + 8);
            Vector256<float> ai = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(ai, b0, c00); c01 = Fma.MultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(ai, b0, c10); c11 = Fma.MultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(ai, b0, c20); c21 = Fma.MultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(ai, b0, c30); c31 = Fma.MultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(ai, b0, c40); c41 = Fma.MultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(ai, b0, c50); c51 = Fma.MultiplyAdd(ai, b1, c51);
            a += 6;
            b += 16;
        }

        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        bool readC = beta != 0f;
        Store(c, c00, c01, va, vb, readC); c += ldc;
        Store(c, c10, c11, va, vb, readC); c += ldc;
        Store(c, c20, c21, va, vb, readC); c += ldc;
        Store(c, c30, c31, va, vb, readC); c += ldc;
        Store(c, c40, c41, va, vb, readC); c += ldc;
        Store(c, c50, c51, va, vb, readC);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> x0, Vector256<float> x1, Vector256<float> alpha, Vector256<float> beta, bool readC)
    {
        if (readC)
        {
            Vector256.Store(Fma.MultiplyAdd(Vector256.Load(c), beta, x0 * alpha), c);
            Vector256.Store(Fma.MultiplyAdd(Vector256.Load(c + 8), beta, x1 * alpha), c + 8);
        }
        else
        {
            Vector256.Store(x0 * alpha, c);
            Vector256.Store(x1 * alpha, c + 8);
        }
    }
}

/// <summary>
/// Portable fallback: 4 × 4 scalar accumulators. Same packing and blocking as the vector kernels, and the same
/// fused multiply-adds, so every path gives bit-identical results (one instruction on any CPU with FMA; a
/// CPU without it takes this path and a software fused multiply-add, slow but exact).
/// </summary>
internal readonly unsafe struct ScalarKernel4x4 : IGemmKernel
{
    public static int MR => 4;
    public static int NR => 4;

    public static void Run(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int p = 0; p < kc; p++)
        {
            float b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            float ai = a[0];
            c00 = MathF.FusedMultiplyAdd(ai, b0, c00); c01 = MathF.FusedMultiplyAdd(ai, b1, c01); c02 = MathF.FusedMultiplyAdd(ai, b2, c02); c03 = MathF.FusedMultiplyAdd(ai, b3, c03);
            ai = a[1];
            c10 = MathF.FusedMultiplyAdd(ai, b0, c10); c11 = MathF.FusedMultiplyAdd(ai, b1, c11); c12 = MathF.FusedMultiplyAdd(ai, b2, c12); c13 = MathF.FusedMultiplyAdd(ai, b3, c13);
            ai = a[2];
            c20 = MathF.FusedMultiplyAdd(ai, b0, c20); c21 = MathF.FusedMultiplyAdd(ai, b1, c21); c22 = MathF.FusedMultiplyAdd(ai, b2, c22); c23 = MathF.FusedMultiplyAdd(ai, b3, c23);
            ai = a[3];
            c30 = MathF.FusedMultiplyAdd(ai, b0, c30); c31 = MathF.FusedMultiplyAdd(ai, b1, c31); c32 = MathF.FusedMultiplyAdd(ai, b2, c32); c33 = MathF.FusedMultiplyAdd(ai, b3, c33);
            a += 4;
            b += 4;
        }
        Store(c, c00, c01, c02, c03, alpha, beta); c += ldc;
        Store(c, c10, c11, c12, c13, alpha, beta); c += ldc;
        Store(c, c20, c21, c22, c23, alpha, beta); c += ldc;
        Store(c, c30, c31, c32, c33, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, float x0, float x1, float x2, float x3, float alpha, float beta)
    {
        if (beta == 0f)
        {
            c[0] = alpha * x0; c[1] = alpha * x1; c[2] = alpha * x2; c[3] = alpha * x3;
        }
        else
        {
            c[0] = MathF.FusedMultiplyAdd(c[0], beta, alpha * x0); c[1] = MathF.FusedMultiplyAdd(c[1], beta, alpha * x1);
            c[2] = MathF.FusedMultiplyAdd(c[2], beta, alpha * x2); c[3] = MathF.FusedMultiplyAdd(c[3], beta, alpha * x3);
        }
    }
}
