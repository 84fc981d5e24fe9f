using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>RMSNorm over the last dimension: y = x · rstd · (weight + weightOffset), rstd = 1/√(mean(x²) + eps).</summary>
/// <remarks>
/// Matches Hugging Face's LlamaRMSNorm run in fp32 (and Gemma's (1 + w) variant through <c>weightOffset</c>):
/// the sum of squares is accumulated in double so long rows lose nothing, rstd is stored as F32,
/// and y is computed as (x·rstd)·(w + offset) in that order, like the PyTorch module.
/// Rows are independent, so large calls split rows into chunks over cores. The chunking depends on the shape only
/// (never on the core count), and dweight is summed per chunk in double then reduced in chunk order, so results do not
/// change with the number of cores or the scheduling.
/// </remarks>
public static class RmsNorm
{
    /// <summary>Below this many elements a call stays on the calling thread: Parallel.For costs more than it saves.</summary>
    private const long ParallelThreshold = 64 * 1024;

    /// <summary>At most this many row chunks: enough to balance any core count, few enough that dweight partials stay small.</summary>
    private const int MaxChunks = 64;

    /// <param name="x">[rows, dim]</param>
    /// <param name="weight">[dim]</param>
    /// <param name="weightOffset">0 for Llama-style, 1 for Gemma-style (weight stored as w − 1)</param>
    /// <param name="y">[rows, dim] output</param>
    /// <param name="rstd">[rows] saved for backward</param>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset, float eps,
        int rows, int dim, Span<float> y, Span<float> rstd)
    {
        CheckShapes(x, weight, rows, dim, rstd.Length);
        RequireLength(y.Length, (long)rows * dim, nameof(y));
        int chunks = ChunkCount(rows, dim);
        if (chunks <= 1) ForwardRows(x, weight, weightOffset, eps, dim, y, rstd, 0, rows);
        else ForwardParallel(x, weight, weightOffset, eps, rows, dim, y, rstd, chunks);
    }

    /// <summary>dx is overwritten; dweight is accumulated (+=) and may be empty when the weight is frozen.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset,
        ReadOnlySpan<float> rstd, int rows, int dim, Span<float> dx, Span<float> dweight)
    {
        CheckShapes(x, weight, rows, dim, rstd.Length);
        RequireLength(dy.Length, (long)rows * dim, nameof(dy));
        RequireLength(dx.Length, (long)rows * dim, nameof(dx));
        if (!dweight.IsEmpty) RequireLength(dweight.Length, dim, nameof(dweight));
        if (rows == 0) return;

        int chunks = ChunkCount(rows, dim);
        // [chunks, dim] double partial sums of dweight, one row per chunk (pooled: no allocation once warm).
        double[]? partials = dweight.IsEmpty ? null : ArrayPool<double>.Shared.Rent(chunks * dim);
        try
        {
            if (chunks <= 1) BackwardRows(dy, x, weight, weightOffset, rstd, dim, dx, partials is null ? default : partials.AsSpan(0, dim), 0, rows);
            else BackwardParallel(dy, x, weight, weightOffset, rstd, rows, dim, dx, partials, chunks);

            if (partials is not null)
                for (int j = 0; j < dim; j++)
                {
                    double sum = 0;
                    for (int c = 0; c < chunks; c++) sum += partials[c * dim + j];
                    dweight[j] += (float)sum;
                }
        }
        finally
        {
            if (partials is not null) ArrayPool<double>.Shared.Return(partials);
        }
    }

    // Kept out of Forward/Backward: a lambda's captured state is allocated on entry to the method that holds it,
    // and the small serial calls must not pay for it.
    private static unsafe void ForwardParallel(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float offset, float eps,
        int rows, int dim, Span<float> y, Span<float> rstd, int chunks)
    {
        int n = rows * dim;
        fixed (float* px = x, pw = weight, py = y, pr = rstd)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are rebuilt into spans per chunk.
            float* cx = px, cw = pw, cy = py, cr = pr;
            Parallel.For(0, chunks, c =>
            {
                (int r0, int r1) = ChunkRows(c, chunks, rows);
                ForwardRows(new ReadOnlySpan<float>(cx, n), new ReadOnlySpan<float>(cw, dim), offset, eps, dim,
                    new Span<float>(cy, n), new Span<float>(cr, rows), r0, r1);
            });
        }
    }

    private static unsafe void BackwardParallel(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float offset,
        ReadOnlySpan<float> rstd, int rows, int dim, Span<float> dx, double[]? partials, int chunks)
    {
        int n = rows * dim;
        fixed (float* pdy = dy, px = x, pw = weight, pr = rstd, pdx = dx)
        {
            float* cdy = pdy, cx = px, cw = pw, cr = pr, cdx = pdx;
            Parallel.For(0, chunks, c =>
            {
                (int r0, int r1) = ChunkRows(c, chunks, rows);
                BackwardRows(new ReadOnlySpan<float>(cdy, n), new ReadOnlySpan<float>(cx, n), new ReadOnlySpan<float>(cw, dim), offset,
                    new ReadOnlySpan<float>(cr, rows), dim, new Span<float>(cdx, n), partials is null ? default : partials.AsSpan(c * dim, dim), r0, r1);
            });
        }
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

    // For r in [r0, r1), with g = dy·(w + offset): dx = rstd·g − x·(rstd³·mean(g·x)), the gradient of x·rstd(x)
    // contracted with g; and, when dwPartial is not empty, dwPartial[j] += dy·x·rstd (this chunk's share of dweight).
    private static void BackwardRows(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float offset,
        ReadOnlySpan<float> rstd, int dim, Span<float> dx, Span<double> dwPartial, int r0, int r1)
    {
        bool withDw = !dwPartial.IsEmpty;
        dwPartial.Clear();
        ref float w = ref MemoryMarshal.GetReference(weight);
        ref double acc = ref MemoryMarshal.GetReference(dwPartial);
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
                    var dyv = Vector512.LoadUnsafe(ref dys, (nuint)i);
                    var xv = Vector512.LoadUnsafe(ref xs, (nuint)i);
                    (va * (dyv * (Vector512.LoadUnsafe(ref w, (nuint)i) + vo)) - xv * vc).StoreUnsafe(ref dxs, (nuint)i);
                    if (withDw)
                    {
                        var (lo, hi) = Vector512.Widen(dyv * xv * va);
                        (Vector512.LoadUnsafe(ref acc, (nuint)i) + lo).StoreUnsafe(ref acc, (nuint)i);
                        (Vector512.LoadUnsafe(ref acc, (nuint)i + 8) + hi).StoreUnsafe(ref acc, (nuint)i + 8);
                    }
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(a); var vc = Vector256.Create(c); var vo = Vector256.Create(offset);
                for (; i <= dim - 8; i += 8)
                {
                    var dyv = Vector256.LoadUnsafe(ref dys, (nuint)i);
                    var xv = Vector256.LoadUnsafe(ref xs, (nuint)i);
                    (va * (dyv * (Vector256.LoadUnsafe(ref w, (nuint)i) + vo)) - xv * vc).StoreUnsafe(ref dxs, (nuint)i);
                    if (withDw)
                    {
                        var (lo, hi) = Vector256.Widen(dyv * xv * va);
                        (Vector256.LoadUnsafe(ref acc, (nuint)i) + lo).StoreUnsafe(ref acc, (nuint)i);
                        (Vector256.LoadUnsafe(ref acc, (nuint)i + 4) + hi).StoreUnsafe(ref acc, (nuint)i + 4);
                    }
                }
            }
            for (; i < dim; i++)
            {
                float dyi = Unsafe.Add(ref dys, i), xi = Unsafe.Add(ref xs, i);
                Unsafe.Add(ref dxs, i) = a * (dyi * (Unsafe.Add(ref w, i) + offset)) - xi * c;
                if (withDw) Unsafe.Add(ref acc, i) += dyi * xi * a;
            }
        }
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

    // A function of the shape only (see the remarks): ~32K elements per chunk, at most MaxChunks, at most one per row.
    private static int ChunkCount(int rows, int dim)
    {
        long n = (long)rows * dim;
        if (n < ParallelThreshold) return 1;
        return (int)Math.Min(Math.Min(n / (32 * 1024), MaxChunks), rows);
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
