using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>How a stored element becomes an f32 while packing: f32 is copied, BF16 is widened (bits &lt;&lt; 16).</summary>
internal unsafe interface IGemmElement<T> where T : unmanaged
{
    static abstract float ToSingle(T value);

    /// <summary>Eight consecutive elements as f32. Needs AVX2.</summary>
    static abstract Vector256<float> Load8(T* p);

    /// <summary>Sixteen consecutive elements as f32. Needs AVX-512F.</summary>
    static abstract Vector512<float> Load16(T* p);
}

internal readonly unsafe struct F32Element : IGemmElement<float>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(float value) => value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(float* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(float* p) => Vector512.Load(p);
}

internal readonly unsafe struct Bf16Element : IGemmElement<ushort>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    // vpmovzxwd (8 × u16 → 8 × u32) then << 16: a BF16 is the top half of the f32 with the same value.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(ushort* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.Load(p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load(p)), 16).AsSingle();
}

/// <summary>
/// Packing: copies a block of an operand into the layout the micro-kernel streams through. Both operands are
/// seen as a logical matrix L[r, p] with r the row of C (for A) or the column of C (for B) and p the k index.
/// A micro-panel holds R consecutive r for kc values of p as dst[p·R + r]: one k step of the kernel reads R
/// contiguous floats. Rows past the edge of the matrix are zero, so the kernel always computes full tiles.
///
/// The stored operand is one of two layouts:
/// <list type="bullet">
/// <item>r-contiguous, L[r, p] = src[p·ld + r] (Aᵀ stored k×m, B stored k×n): a row of the panel is a plain copy.</item>
/// <item>p-contiguous, L[r, p] = src[r·ld + p] (A stored m×k, Bᵀ stored n×k): 8×8 register transposes.</item>
/// </list>
/// </summary>
internal static unsafe class GemmPack
{
    /// <summary>
    /// Packs rows [0, rows) of L into ceil(rows / R) micro-panels of R × kc each, one after another in dst.
    /// </summary>
    /// <param name="src">L[0, 0].</param>
    /// <param name="ld">Stride between consecutive p (r-contiguous) or consecutive r (p-contiguous).</param>
    /// <param name="simd">Use AVX2 loads and transposes; false forces the scalar code (tests, no-AVX machines).</param>
    public static void Block<T, TE>(T* src, nint ld, bool rContiguous, int rows, int kc, int R, float* dst, bool simd)
        where T : unmanaged where TE : IGemmElement<T>
    {
        for (int r0 = 0; r0 < rows; r0 += R)
        {
            int valid = Math.Min(R, rows - r0);
            if (rContiguous) PanelCopy<T, TE>(src + r0, ld, valid, kc, R, dst, simd);
            else PanelTranspose<T, TE>(src + r0 * ld, ld, valid, kc, R, dst, simd);
            dst += (nint)R * kc;
        }
    }

    // L[r, p] = src[p·ld + r]: each k step copies `valid` contiguous elements, then zero padding up to R.
    private static void PanelCopy<T, TE>(T* src, nint ld, int valid, int kc, int R, float* dst, bool simd)
        where T : unmanaged where TE : IGemmElement<T>
    {
        for (int p = 0; p < kc; p++, src += ld, dst += R)
        {
            int r = 0;
            if (simd)
                for (; r + 8 <= valid; r += 8) Vector256.Store(TE.Load8(src + r), dst + r);
            for (; r < valid; r++) dst[r] = TE.ToSingle(src[r]);
            for (; r < R; r++) dst[r] = 0f;
        }
    }

    // L[r, p] = src[r·ld + p]: groups of 8 rows go through 8×8 transposes (8 row loads → 8 column stores),
    // a group of 4 through 4×8 ones, the last few rows are scalar.
    private static void PanelTranspose<T, TE>(T* src, nint ld, int valid, int kc, int R, float* dst, bool simd)
        where T : unmanaged where TE : IGemmElement<T>
    {
        int r = 0;
        if (simd)
        {
            for (; r + 8 <= valid; r += 8)
            {
                T* s = src + r * ld;
                float* d = dst + r;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                    Transpose8x8<T, TE>(s + p, ld, d + (nint)p * R, R);
                for (; p < kc; p++)
                    for (int i = 0; i < 8; i++) d[(nint)p * R + i] = TE.ToSingle(s[i * ld + p]);
            }
            // A group of 4 (the AVX2 kernel's MR = 6 is 4 + 2; edge panels).
            if (r + 4 <= valid)
            {
                T* s = src + r * ld;
                float* d = dst + r;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                    Transpose4x8<T, TE>(s + p, ld, d + (nint)p * R, R);
                for (; p < kc; p++)
                    for (int i = 0; i < 4; i++) d[(nint)p * R + i] = TE.ToSingle(s[i * ld + p]);
                r += 4;
            }
        }
        for (; r < valid; r++)
        {
            T* s = src + r * ld;
            for (int p = 0; p < kc; p++) dst[(nint)p * R + r] = TE.ToSingle(s[p]);
        }
        for (; r < R; r++)
            for (int p = 0; p < kc; p++) dst[(nint)p * R + r] = 0f;
    }

    /// <summary>
    /// Reads 8 rows × 8 columns (row i at s + i·ld) and writes column j to d + j·dstride as 8 floats.
    /// Standard unpack / shuffle / lane-permute network: 24 shuffles for 64 elements.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8<T, TE>(T* s, nint ld, float* d, nint dstride)
        where T : unmanaged where TE : IGemmElement<T>
    {
        Vector256<float> r0 = TE.Load8(s), r1 = TE.Load8(s + ld), r2 = TE.Load8(s + 2 * ld), r3 = TE.Load8(s + 3 * ld);
        Vector256<float> r4 = TE.Load8(s + 4 * ld), r5 = TE.Load8(s + 5 * ld), r6 = TE.Load8(s + 6 * ld), r7 = TE.Load8(s + 7 * ld);

        // Interleave pairs of rows: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ...
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        // Gather 4-row columns within each 128-bit lane: u0 = column 0 of rows 0-3 | column 4 of rows 0-3, ...
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

        // Join the rows 0-3 half with the rows 4-7 half: low lanes give columns 0-3, high lanes columns 4-7.
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x20), d);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x20), d + dstride);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x20), d + 2 * dstride);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x20), d + 3 * dstride);
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x31), d + 4 * dstride);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x31), d + 5 * dstride);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x31), d + 6 * dstride);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x31), d + 7 * dstride);
    }

    /// <summary>
    /// Reads 4 rows × 8 columns (row i at s + i·ld) and writes column j to d + j·dstride as 4 floats:
    /// the first two stages of <see cref="Transpose8x8"/>, then each 128-bit half is one column.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4x8<T, TE>(T* s, nint ld, float* d, nint dstride)
        where T : unmanaged where TE : IGemmElement<T>
    {
        Vector256<float> r0 = TE.Load8(s), r1 = TE.Load8(s + ld), r2 = TE.Load8(s + 2 * ld), r3 = TE.Load8(s + 3 * ld);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE); // columns 0|4, 1|5
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE); // columns 2|6, 3|7
        Vector128.Store(u0.GetLower(), d);
        Vector128.Store(u1.GetLower(), d + dstride);
        Vector128.Store(u2.GetLower(), d + 2 * dstride);
        Vector128.Store(u3.GetLower(), d + 3 * dstride);
        Vector128.Store(u0.GetUpper(), d + 4 * dstride);
        Vector128.Store(u1.GetUpper(), d + 5 * dstride);
        Vector128.Store(u2.GetUpper(), d + 6 * dstride);
        Vector128.Store(u3.GetUpper(), d + 7 * dstride);
    }
}
