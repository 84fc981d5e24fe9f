using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

// SIMD building blocks of the attention kernel: one width abstraction (512/256/128-bit), a register-blocked tile
// multiply, the row operations of the softmax, native scratch memory and the work-item loop.
public static partial class CausalAttention
{
    /// <summary>Vector width the tile code runs at; Auto picks the widest accelerated one. Tests pin the others.</summary>
    internal enum SimdWidth { Auto = 0, Bits128 = 128, Bits256 = 256, Bits512 = 512 }

    /// <summary>
    /// Static operations over one vector type, so the tile code below is written once and the JIT specialises it
    /// per width (struct type arguments get their own code; every member inlines to one or two instructions).
    /// </summary>
    private unsafe interface ISimd<TV> where TV : struct
    {
        static abstract int Width { get; }
        static abstract TV Load(float* p);
        static abstract void Store(TV v, float* p);
        static abstract TV Broadcast(float x);
        static abstract TV MultiplyAdd(TV a, TV b, TV c); // a·b + c, fused where the CPU has FMA
        static abstract TV Multiply(TV a, TV b);
        static abstract TV Subtract(TV a, TV b);
        static abstract TV Add(TV a, TV b);
        static abstract TV Max(TV a, TV b);
        static abstract TV Round(TV x);               // to nearest integer (even on ties)
        static abstract TV Pow2(TV n);                // 2^n for integral n in [−126, 127]
        static abstract TV LessThan(TV a, TV b);      // all-ones lanes where a < b
        static abstract TV GreaterThan(TV a, TV b);
        static abstract TV Select(TV mask, TV a, TV b); // mask ? a : b per lane
        static abstract float Sum(TV v);
        static abstract float MaxAcross(TV v);
    }

    private readonly unsafe struct Simd512 : ISimd<Vector512<float>>
    {
        public static int Width => Vector512<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.MultiplyAddEstimate(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Round(Vector512<float> x) => Vector512.Round(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Pow2(Vector512<float> n) => Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> GreaterThan(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> mask, Vector512<float> a, Vector512<float> b) => Vector512.ConditionalSelect(mask, a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> v) => Vector512.Sum(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float MaxAcross(Vector512<float> v) => Simd256.MaxAcross(Vector256.MaxNative(v.GetLower(), v.GetUpper()));
    }

    private readonly unsafe struct Simd256 : ISimd<Vector256<float>>
    {
        public static int Width => Vector256<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.MultiplyAddEstimate(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Round(Vector256<float> x) => Vector256.Round(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Pow2(Vector256<float> n) => Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> GreaterThan(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> mask, Vector256<float> a, Vector256<float> b) => Vector256.ConditionalSelect(mask, a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> v) => Vector256.Sum(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float MaxAcross(Vector256<float> v) => Simd128.MaxAcross(Vector128.MaxNative(v.GetLower(), v.GetUpper()));
    }

    private readonly unsafe struct Simd128 : ISimd<Vector128<float>>
    {
        public static int Width => Vector128<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(float* p) => Vector128.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Broadcast(float x) => Vector128.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.MultiplyAddEstimate(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Max(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Round(Vector128<float> x) => Vector128.Round(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Pow2(Vector128<float> n) => Vector128.ShiftLeft(Vector128.ConvertToInt32(n) + Vector128.Create(127), 23).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> GreaterThan(Vector128<float> a, Vector128<float> b) => Vector128.GreaterThan(a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Select(Vector128<float> mask, Vector128<float> a, Vector128<float> b) => Vector128.ConditionalSelect(mask, a, b);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> v) => Vector128.Sum(v);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float MaxAcross(Vector128<float> v) =>
            MathF.Max(MathF.Max(v.GetElement(0), v.GetElement(1)), MathF.Max(v.GetElement(2), v.GetElement(3)));
    }

    /// <summary>
    /// Tile arithmetic at one width. Column counts handed to these methods are multiples of the width (callers pad
    /// their buffers), so there are no scalar tails here.
    /// </summary>
    private static unsafe class Tiles<TS, TV> where TS : struct, ISimd<TV> where TV : struct
    {
        /// <summary>
        /// C[rows × cols] = (accumulate ? C : 0) + alpha · A·B, where A(i, p) = a[i·aRow + p·aCol] (so Aᵀ is just
        /// swapped strides) and row p of B starts at b + p·ldb. Blocks of 4 rows × 2 vectors keep 8 accumulators in
        /// registers (enough independent FMAs to hide their latency, few enough for the 16 registers of AVX2);
        /// the last rows of a block reuse a valid row of A and are simply not stored.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Multiply(int rows, int cols, int depth, float alpha, float* a, nint aRow, nint aCol,
            float* b, nint ldb, float* c, nint ldc, bool accumulate)
        {
            int w = TS.Width;
            for (int i = 0; i < rows; i += 4)
            {
                int valid = Math.Min(4, rows - i);
                float* a0 = a + i * aRow;
                float* a1 = a + (i + Math.Min(1, valid - 1)) * aRow;
                float* a2 = a + (i + Math.Min(2, valid - 1)) * aRow;
                float* a3 = a + (i + Math.Min(3, valid - 1)) * aRow;
                float* ci = c + i * ldc;
                int j = 0;
                for (; j + 2 * w <= cols; j += 2 * w)
                    Block4x2(depth, a0, a1, a2, a3, aCol, b + j, ldb, ci + j, ldc, valid, alpha, accumulate);
                if (j < cols)
                    Block4x1(depth, a0, a1, a2, a3, aCol, b + j, ldb, ci + j, ldc, valid, alpha, accumulate);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Block4x2(int depth, float* a0, float* a1, float* a2, float* a3, nint aStep, float* b, nint ldb,
            float* c, nint ldc, int rows, float alpha, bool accumulate)
        {
            int w = TS.Width;
            TV c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
            for (int p = 0; p < depth; p++)
            {
                TV b0 = TS.Load(b), b1 = TS.Load(b + w);
                TV x = TS.Broadcast(*a0);
                c00 = TS.MultiplyAdd(x, b0, c00); c01 = TS.MultiplyAdd(x, b1, c01);
                x = TS.Broadcast(*a1);
                c10 = TS.MultiplyAdd(x, b0, c10); c11 = TS.MultiplyAdd(x, b1, c11);
                x = TS.Broadcast(*a2);
                c20 = TS.MultiplyAdd(x, b0, c20); c21 = TS.MultiplyAdd(x, b1, c21);
                x = TS.Broadcast(*a3);
                c30 = TS.MultiplyAdd(x, b0, c30); c31 = TS.MultiplyAdd(x, b1, c31);
                a0 += aStep; a1 += aStep; a2 += aStep; a3 += aStep; b += ldb;
            }
            Put(c, c00, alpha, accumulate); Put(c + w, c01, alpha, accumulate);
            if (rows > 1) { Put(c + ldc, c10, alpha, accumulate); Put(c + ldc + w, c11, alpha, accumulate); }
            if (rows > 2) { Put(c + 2 * ldc, c20, alpha, accumulate); Put(c + 2 * ldc + w, c21, alpha, accumulate); }
            if (rows > 3) { Put(c + 3 * ldc, c30, alpha, accumulate); Put(c + 3 * ldc + w, c31, alpha, accumulate); }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Block4x1(int depth, float* a0, float* a1, float* a2, float* a3, nint aStep, float* b, nint ldb,
            float* c, nint ldc, int rows, float alpha, bool accumulate)
        {
            TV c0 = default, c1 = default, c2 = default, c3 = default;
            for (int p = 0; p < depth; p++)
            {
                TV b0 = TS.Load(b);
                c0 = TS.MultiplyAdd(TS.Broadcast(*a0), b0, c0);
                c1 = TS.MultiplyAdd(TS.Broadcast(*a1), b0, c1);
                c2 = TS.MultiplyAdd(TS.Broadcast(*a2), b0, c2);
                c3 = TS.MultiplyAdd(TS.Broadcast(*a3), b0, c3);
                a0 += aStep; a1 += aStep; a2 += aStep; a3 += aStep; b += ldb;
            }
            Put(c, c0, alpha, accumulate);
            if (rows > 1) Put(c + ldc, c1, alpha, accumulate);
            if (rows > 2) Put(c + 2 * ldc, c2, alpha, accumulate);
            if (rows > 3) Put(c + 3 * ldc, c3, alpha, accumulate);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Put(float* c, TV sum, float alpha, bool accumulate)
        {
            TV v = TS.Multiply(sum, TS.Broadcast(alpha));
            TS.Store(accumulate ? TS.Add(TS.Load(c), v) : v, c);
        }

        /// <summary>
        /// e^x in fp32, the Cephes expf scheme: x = n·ln2 + r with |r| ≤ ln2/2, a degree-7 polynomial for e^r
        /// (≈1 ulp), times 2^n built in the exponent bits. Below −87.3 (including −∞) gives 0, above 88.3 gives +∞,
        /// NaN stays NaN. About four times cheaper than the runtime's vector Exp, which matters: every score passes here.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TV Exp(TV x)
        {
            TV n = TS.Round(TS.Multiply(x, TS.Broadcast(1.44269504088896341f)));
            TV r = TS.MultiplyAdd(n, TS.Broadcast(-0.693359375f), x);   // ln 2 split in two for an exact first step
            r = TS.MultiplyAdd(n, TS.Broadcast(2.12194440e-4f), r);
            TV p = TS.Broadcast(1.9875691500e-4f);
            p = TS.MultiplyAdd(p, r, TS.Broadcast(1.3981999507e-3f));
            p = TS.MultiplyAdd(p, r, TS.Broadcast(8.3334519073e-3f));
            p = TS.MultiplyAdd(p, r, TS.Broadcast(4.1665795894e-2f));
            p = TS.MultiplyAdd(p, r, TS.Broadcast(1.6666665459e-1f));
            p = TS.MultiplyAdd(p, r, TS.Broadcast(5.0000001201e-1f));
            p = TS.MultiplyAdd(TS.Multiply(p, r), r, TS.Add(r, TS.Broadcast(1f)));
            TV y = TS.Multiply(p, TS.Pow2(n));
            y = TS.Select(TS.LessThan(x, TS.Broadcast(-87.3f)), default, y);
            return TS.Select(TS.GreaterThan(x, TS.Broadcast(88.3f)), TS.Broadcast(float.PositiveInfinity), y);
        }

        /// <summary>max over x[0..n).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float Max(float* x, int n)
        {
            int w = TS.Width;
            TV m = TS.Load(x);
            for (int i = w; i < n; i += w) m = TS.Max(m, TS.Load(x + i));
            return TS.MaxAcross(m);
        }

        /// <summary>x = exp(x − shift) over x[0..n); returns the sum of the new values.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static float ExpShiftSum(float* x, int n, float shift)
        {
            int w = TS.Width;
            TV s = TS.Broadcast(shift), sum = default;
            for (int i = 0; i < n; i += w)
            {
                TV e = Exp(TS.Subtract(TS.Load(x + i), s));
                TS.Store(e, x + i);
                sum = TS.Add(sum, e);
            }
            return TS.Sum(sum);
        }

        /// <summary>x = exp(x − shift) over x[0..n).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void ExpShift(float* x, int n, float shift)
        {
            int w = TS.Width;
            TV s = TS.Broadcast(shift);
            for (int i = 0; i < n; i += w) TS.Store(Exp(TS.Subtract(TS.Load(x + i), s)), x + i);
        }

        /// <summary>x *= factor over x[0..n).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Scale(float* x, int n, float factor)
        {
            int w = TS.Width;
            TV f = TS.Broadcast(factor);
            for (int i = 0; i < n; i += w) TS.Store(TS.Multiply(TS.Load(x + i), f), x + i);
        }

        /// <summary>dp = scale · p · (dp − rowDot) over [0..n): the softmax backward, with the score scale folded in.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void SoftmaxGrad(float* p, float* dp, int n, float rowDot, float scale)
        {
            int w = TS.Width;
            TV dv = TS.Broadcast(rowDot), sv = TS.Broadcast(scale);
            for (int i = 0; i < n; i += w)
                TS.Store(TS.Multiply(TS.Multiply(TS.Load(p + i), sv), TS.Subtract(TS.Load(dp + i), dv)), dp + i);
        }
    }

    /// <summary>64-byte aligned native memory for packed operands and scratch (no GC pressure, no per-tile allocation).</summary>
    private static unsafe float* Allocate(long floats, bool zero = false)
    {
        nuint bytes = (nuint)Math.Max(floats, 1) * sizeof(float);
        void* p = NativeMemory.AlignedAlloc(bytes, 64);
        if (zero) NativeMemory.Clear(p, bytes);
        return (float*)p;
    }

    private static unsafe void Free(float* p) => NativeMemory.AlignedFree(p);

    /// <summary>
    /// Runs body(item, scratch) for every item on all cores. Items are handed out one at a time from a shared
    /// counter, so callers list them costliest first and the tail evens out. Each worker owns scratchFloats of scratch.
    /// </summary>
    private static unsafe void ForEachItem(int count, long scratchFloats, Action<int, nint> body)
    {
        int next = -1;
        void Work()
        {
            float* scratch = Allocate(scratchFloats);
            try
            {
                for (int i; (i = Interlocked.Increment(ref next)) < count;) body(i, (nint)scratch);
            }
            finally { Free(scratch); }
        }

        int workers = Math.Min(Environment.ProcessorCount, count);
        if (workers <= 1) Work();
        else Parallel.For(0, workers, _ => Work());
    }
}
