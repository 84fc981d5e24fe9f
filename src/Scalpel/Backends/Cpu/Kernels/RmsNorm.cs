using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>RMSNorm over the last dimension: y = x · rstd · (weight + weightOffset), rstd = 1/√(mean(x²) + eps).</summary>
/// <remarks>
/// Matches Hugging Face's LlamaRMSNorm run in fp32 (and Gemma's (1 + w) variant through <c>weightOffset</c>):
/// the sum of squares is accumulated in double so long rows lose nothing, rstd is stored as F32,
/// and y is computed as (x·rstd)·(w + offset) in that order, like the PyTorch module.
/// Rows are independent, so large calls split rows over cores; dweight is reduced column-block by column-block
/// (each block owned by one worker, summed over rows in double) so the result does not depend on the thread count.
/// </remarks>
public static class RmsNorm
{
    /// <summary>Below this many elements a call stays on the calling thread: Parallel.For costs more than it saves.</summary>
    private const long ParallelThreshold = 64 * 1024;

    /// <param name="x">[rows, dim]</param>
    /// <param name="weight">[dim]</param>
    /// <param name="weightOffset">0 for Llama-style, 1 for Gemma-style (weight stored as w − 1)</param>
    /// <param name="y">[rows, dim] output</param>
    /// <param name="rstd">[rows] saved for backward</param>
    public static unsafe void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset, float eps,
        int rows, int dim, Span<float> y, Span<float> rstd)
    {
        CheckShapes(x, weight, rows, dim, rstd.Length);
        RequireLength(y.Length, (long)rows * dim, nameof(y));
        if (rows == 0) return;

        int chunks = ChunkCount(rows, dim);
        if (chunks == 1)
        {
            ForwardRows(x, weight, weightOffset, eps, dim, y, rstd, 0, rows);
            return;
        }
        fixed (float* px = x, pw = weight, py = y, pr = rstd)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are rebuilt into spans per chunk.
            float* cx = px, cw = pw, cy = py, cr = pr;
            long n = (long)rows * dim;
            Parallel.For(0, chunks, c =>
            {
                (int r0, int r1) = ChunkRows(c, chunks, rows);
                ForwardRows(new ReadOnlySpan<float>(cx, (int)n), new ReadOnlySpan<float>(cw, dim), weightOffset, eps, dim,
                    new Span<float>(cy, (int)n), new Span<float>(cr, rows), r0, r1);
            });
        }
    }

    /// <summary>dx is overwritten; dweight is accumulated (+=) and may be empty when the weight is frozen.</summary>
    public static unsafe void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset,
        ReadOnlySpan<float> rstd, int rows, int dim, Span<float> dx, Span<float> dweight)
    {
        CheckShapes(x, weight, rows, dim, rstd.Length);
        RequireLength(dy.Length, (long)rows * dim, nameof(dy));
        RequireLength(dx.Length, (long)rows * dim, nameof(dx));
        if (!dweight.IsEmpty) RequireLength(dweight.Length, dim, nameof(dweight));
        if (rows == 0) return;

        int chunks = ChunkCount(rows, dim);
        int n = rows * dim;
        if (chunks == 1)
        {
            BackwardRows(dy, x, weight, weightOffset, rstd, dim, dx, 0, rows);
        }
        else
        {
            fixed (float* pdy = dy, px = x, pw = weight, pr = rstd, pdx = dx)
            {
                float* cdy = pdy, cx = px, cw = pw, cr = pr, cdx = pdx;
                Parallel.For(0, chunks, c =>
                {
                    (int r0, int r1) = ChunkRows(c, chunks, rows);
                    BackwardRows(new ReadOnlySpan<float>(cdy, n), new ReadOnlySpan<float>(cx, n), new ReadOnlySpan<float>(cw, dim),
                        weightOffset, new ReadOnlySpan<float>(cr, rows), dim, new Span<float>(cdx, n), r0, r1);
                });
            }
        }

        if (!dweight.IsEmpty) AccumulateWeightGradient(dy, x, rstd, rows, dim, dweight);
    }

    // y[r, :] = (x[r, :] · rstd[r]) · (w + offset) for r in [r0, r1).
    private static void ForwardRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float offset, float eps, int dim,
        Span<float> y, Span<float> rstd, int r0, int r1)
    {
        ref float w = ref MemoryMarshal.GetReference(weight);
        for (int r = r0; r < r1; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * dim, dim);
            float rs = (float)(1.0 / Math.Sqrt(SumOfSquares(xr) / dim + eps));
            rstd[r] = rs;
            ref float xs = ref MemoryMarshal.GetReference(xr);
            ref float ys = ref MemoryMarshal.GetReference(y.Slice(r * dim, dim));

            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vr = Vector512.Create(rs); var vo = Vector512.Create(offset);
                for (; i <= dim - 16; i += 16)
                    (Vector512.LoadUnsafe(ref xs, (nuint)i) * vr * (Vector512.LoadUnsafe(ref w, (nuint)i) + vo)).StoreUnsafe(ref ys, (nuint)i);
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var vr = Vector256.Create(rs); var vo = Vector256.Create(offset);
                for (; i <= dim - 8; i += 8)
                    (Vector256.LoadUnsafe(ref xs, (nuint)i) * vr * (Vector256.LoadUnsafe(ref w, (nuint)i) + vo)).StoreUnsafe(ref ys, (nuint)i);
            }
            for (; i < dim; i++)
                Unsafe.Add(ref ys, i) = Unsafe.Add(ref xs, i) * rs * (Unsafe.Add(ref w, i) + offset);
        }
    }

    // With g = dy·(w + offset): dx = rstd·g − x·(rstd³·mean(g·x)), the gradient of x·rstd(x) contracted with g.
    private static void BackwardRows(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float offset,
        ReadOnlySpan<float> rstd, int dim, Span<float> dx, int r0, int r1)
    {
        ref float w = ref MemoryMarshal.GetReference(weight);
        for (int r = r0; r < r1; r++)
        {
            ref float dys = ref MemoryMarshal.GetReference(dy.Slice(r * dim, dim));
            ref float xs = ref MemoryMarshal.GetReference(x.Slice(r * dim, dim));
            ref float dxs = ref MemoryMarshal.GetReference(dx.Slice(r * dim, dim));
            double rs = rstd[r];
            double gx = DotGatedX(ref dys, ref xs, ref w, offset, dim);
            float a = (float)rs, c = (float)(rs * rs * rs * gx / dim);

            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var va = Vector512.Create(a); var vc = Vector512.Create(c); var vo = Vector512.Create(offset);
                for (; i <= dim - 16; i += 16)
                {
                    var g = Vector512.LoadUnsafe(ref dys, (nuint)i) * (Vector512.LoadUnsafe(ref w, (nuint)i) + vo);
                    (va * g - Vector512.LoadUnsafe(ref xs, (nuint)i) * vc).StoreUnsafe(ref dxs, (nuint)i);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(a); var vc = Vector256.Create(c); var vo = Vector256.Create(offset);
                for (; i <= dim - 8; i += 8)
                {
                    var g = Vector256.LoadUnsafe(ref dys, (nuint)i) * (Vector256.LoadUnsafe(ref w, (nuint)i) + vo);
                    (va * g - Vector256.LoadUnsafe(ref xs, (nuint)i) * vc).StoreUnsafe(ref dxs, (nuint)i);
                }
            }
            for (; i < dim; i++)
                Unsafe.Add(ref dxs, i) = a * (Unsafe.Add(ref dys, i) * (Unsafe.Add(ref w, i) + offset)) - Unsafe.Add(ref xs, i) * c;
        }
    }

    // dweight[j] += Σ_r dy[r, j]·x[r, j]·rstd[r]. Columns are split into blocks; each block sums every row in double
    // (a stack buffer), so no two workers touch the same dweight element and the sum order is fixed.
    private static unsafe void AccumulateWeightGradient(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> rstd,
        int rows, int dim, Span<float> dweight)
    {
        const int MaxBlock = 256; // 2 KB of double accumulators on the stack
        bool parallel = (long)rows * dim >= ParallelThreshold;
        // In parallel, aim for ~2 blocks per core; widths are 16-column multiples (one cache line of each row).
        int width = MaxBlock;
        if (parallel)
        {
            int target = (dim + 2 * Environment.ProcessorCount - 1) / (2 * Environment.ProcessorCount);
            width = Math.Clamp((target + 15) / 16 * 16, 16, MaxBlock);
        }
        int blocks = (dim + width - 1) / width;

        if (!parallel || blocks == 1)
        {
            for (int b = 0; b < blocks; b++)
                WeightGradientBlock(dy, x, rstd, rows, dim, b * width, Math.Min(width, dim - b * width), dweight);
            return;
        }
        int n = rows * dim;
        fixed (float* pdy = dy, px = x, pr = rstd, pdw = dweight)
        {
            float* cdy = pdy, cx = px, cr = pr, cdw = pdw;
            int w = width;
            Parallel.For(0, blocks, b =>
                WeightGradientBlock(new ReadOnlySpan<float>(cdy, n), new ReadOnlySpan<float>(cx, n), new ReadOnlySpan<float>(cr, rows),
                    rows, dim, b * w, Math.Min(w, dim - b * w), new Span<float>(cdw, dim)));
        }
    }

    private static void WeightGradientBlock(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> rstd,
        int rows, int dim, int col0, int width, Span<float> dweight)
    {
        Span<double> acc = stackalloc double[width];
        acc.Clear();
        ref double a = ref MemoryMarshal.GetReference(acc);
        for (int r = 0; r < rows; r++)
        {
            ref float dys = ref MemoryMarshal.GetReference(dy.Slice(r * dim + col0, width));
            ref float xs = ref MemoryMarshal.GetReference(x.Slice(r * dim + col0, width));
            float rs = rstd[r];
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vr = Vector512.Create(rs);
                for (; i <= width - 16; i += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref dys, (nuint)i) * Vector512.LoadUnsafe(ref xs, (nuint)i) * vr);
                    (Vector512.LoadUnsafe(ref a, (nuint)i) + lo).StoreUnsafe(ref a, (nuint)i);
                    (Vector512.LoadUnsafe(ref a, (nuint)i + 8) + hi).StoreUnsafe(ref a, (nuint)i + 8);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var vr = Vector256.Create(rs);
                for (; i <= width - 8; i += 8)
                {
                    var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref dys, (nuint)i) * Vector256.LoadUnsafe(ref xs, (nuint)i) * vr);
                    (Vector256.LoadUnsafe(ref a, (nuint)i) + lo).StoreUnsafe(ref a, (nuint)i);
                    (Vector256.LoadUnsafe(ref a, (nuint)i + 4) + hi).StoreUnsafe(ref a, (nuint)i + 4);
                }
            }
            for (; i < width; i++)
                Unsafe.Add(ref a, i) += Unsafe.Add(ref dys, i) * Unsafe.Add(ref xs, i) * rs;
        }
        for (int i = 0; i < width; i++) dweight[col0 + i] += (float)acc[i];
    }

    // Σ x² accumulated in double: each float is widened before squaring, so nothing is lost however long the row.
    private static double SumOfSquares(ReadOnlySpan<float> row)
    {
        ref float s = ref MemoryMarshal.GetReference(row);
        int n = row.Length, i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> acc0 = Vector512<double>.Zero, acc1 = Vector512<double>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s, (nuint)i));
                acc0 = Vector512.FusedMultiplyAdd(lo, lo, acc0);
                acc1 = Vector512.FusedMultiplyAdd(hi, hi, acc1);
            }
            sum += Vector512.Sum(acc0 + acc1);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                acc0 = Vector256.FusedMultiplyAdd(lo, lo, acc0);
                acc1 = Vector256.FusedMultiplyAdd(hi, hi, acc1);
            }
            sum += Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) { double v = Unsafe.Add(ref s, i); sum += v * v; }
        return sum;
    }

    // Σ dy·(w + offset)·x in double (the g·x term of the backward pass).
    private static double DotGatedX(ref float dy, ref float x, ref float w, float offset, int n)
    {
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var vo = Vector512.Create(offset);
            Vector512<double> acc0 = Vector512<double>.Zero, acc1 = Vector512<double>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var g = Vector512.LoadUnsafe(ref dy, (nuint)i) * (Vector512.LoadUnsafe(ref w, (nuint)i) + vo);
                var (glo, ghi) = Vector512.Widen(g);
                var (xlo, xhi) = Vector512.Widen(Vector512.LoadUnsafe(ref x, (nuint)i));
                acc0 = Vector512.FusedMultiplyAdd(glo, xlo, acc0);
                acc1 = Vector512.FusedMultiplyAdd(ghi, xhi, acc1);
            }
            sum += Vector512.Sum(acc0 + acc1);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= 8)
        {
            var vo = Vector256.Create(offset);
            Vector256<double> acc0 = Vector256<double>.Zero, acc1 = Vector256<double>.Zero;
            for (; i <= n - 8; i += 8)
            {
                var g = Vector256.LoadUnsafe(ref dy, (nuint)i) * (Vector256.LoadUnsafe(ref w, (nuint)i) + vo);
                var (glo, ghi) = Vector256.Widen(g);
                var (xlo, xhi) = Vector256.Widen(Vector256.LoadUnsafe(ref x, (nuint)i));
                acc0 = Vector256.FusedMultiplyAdd(glo, xlo, acc0);
                acc1 = Vector256.FusedMultiplyAdd(ghi, xhi, acc1);
            }
            sum += Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
            sum += (double)(Unsafe.Add(ref dy, i) * (Unsafe.Add(ref w, i) + offset)) * Unsafe.Add(ref x, i);
        return sum;
    }

    private static int ChunkCount(int rows, int dim)
    {
        if ((long)rows * dim < ParallelThreshold || rows < 2) return 1;
        // A few chunks per core for balance, but each at least ~16K elements so scheduling stays cheap.
        long byWork = (long)rows * dim / (16 * 1024);
        return (int)Math.Clamp(Math.Min(byWork, 4L * Environment.ProcessorCount), 1, rows);
    }

    private static (int, int) ChunkRows(int chunk, int chunks, int rows) =>
        ((int)((long)rows * chunk / chunks), (int)((long)rows * (chunk + 1) / chunks));

    private static void CheckShapes(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, int rows, int dim, int rstdLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if ((long)rows * dim > int.MaxValue) throw new ArgumentException($"rows·dim = {(long)rows * dim} does not fit a span");
        RequireLength(x.Length, (long)rows * dim, nameof(x));
        RequireLength(weight.Length, dim, nameof(weight));
        RequireLength(rstdLength, rows, "rstd");
    }

    private static void RequireLength(int length, long needed, string name)
    {
        if (length < needed) throw new ArgumentException($"{name} has {length} elements, needs at least {needed}", name);
    }
}
