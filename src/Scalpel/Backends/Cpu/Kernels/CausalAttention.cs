using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// Causal self-attention with grouped-query heads over packed sequences, flash-style: the forward saves only the
/// per-row log-sum-exp, the backward recomputes probabilities; no tokens×tokens matrix is ever stored.
/// q: [tokens, qHeads, headDim]; k, v: [tokens, kvHeads, headDim]; q head h reads kv head h / (qHeads / kvHeads).
/// segmentStart[t] is the index of the first token of t's sequence: t attends to s iff segmentStart[t] ≤ s ≤ t
/// (and t − s &lt; slidingWindow when slidingWindow &gt; 0), so packed examples never see each other.
/// </summary>
/// <remarks>
/// Inputs are checked before any work: exact span lengths, qHeads a multiple of kvHeads, and segmentStart[t] either
/// t (a new sequence) or segmentStart[t − 1] (the same one), which also makes it lie in [0, t] and never decrease.
/// <para>
/// Work is cut into tiles of <see cref="BlockRows"/> query rows × <see cref="BlockRows"/> key rows inside one
/// sequence; tiles that the causal mask or the window hides entirely are never visited. Scores use fp32 with the
/// running-max (online) softmax of FlashAttention; the backward is FlashAttention-2's, one work item per
/// (sequence, q head) so that every item owns the dq rows it writes (with GQA each q head's dk, dv go to a slice of
/// their own, summed per kv head at the end). K and V are repacked once per call (transposed for the score products;
/// rows padded to the vector width when headDim is not a multiple of it). Every number is computed the same way
/// whichever thread runs it, so results do not depend on the core count or on scheduling.
/// </para>
/// </remarks>
public static partial class CausalAttention
{
    /// <summary>Query rows and key rows per tile: 64×64 fp32 scores are 16 KiB, operands stay in L1/L2.</summary>
    private const int BlockRows = 64;

    /// <param name="output">[tokens, qHeads, headDim]</param>
    /// <param name="lse">[qHeads, tokens] log-sum-exp of the scaled scores of each query row</param>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Span<float> output, Span<float> lse)
        => Forward(q, k, v, segmentStart, tokens, qHeads, kvHeads, headDim, scale, slidingWindow, output, lse, SimdWidth.Auto);

    /// <summary>dq, dk, dv are overwritten.</summary>
    public static void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> output, ReadOnlySpan<float> lse, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow,
        Span<float> dq, Span<float> dk, Span<float> dv)
        => Backward(dOutput, q, k, v, output, lse, segmentStart, tokens, qHeads, kvHeads, headDim, scale, slidingWindow,
            dq, dk, dv, SimdWidth.Auto);

    internal static unsafe void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Span<float> output, Span<float> lse,
        SimdWidth width)
    {
        ValidateShape(tokens, qHeads, kvHeads, headDim, slidingWindow, segmentStart);
        long qSize = (long)tokens * qHeads * headDim, kvSize = (long)tokens * kvHeads * headDim;
        RequireLength(q.Length, qSize, nameof(q));
        RequireLength(k.Length, kvSize, nameof(k));
        RequireLength(v.Length, kvSize, nameof(v));
        RequireLength(output.Length, qSize, nameof(output));
        RequireLength(lse.Length, (long)qHeads * tokens, nameof(lse));
        if (tokens == 0) return;

        fixed (float* pq = q, pk = k, pv = v, po = output, pl = lse)
        {
            var problem = new Problem(tokens, qHeads, kvHeads, headDim, scale, slidingWindow, Segments(segmentStart));
            switch (Resolve(width))
            {
                case SimdWidth.Bits512: Flash<Simd512, Vector512<float>>.Forward(problem, pq, pk, pv, po, pl); break;
                case SimdWidth.Bits256: Flash<Simd256, Vector256<float>>.Forward(problem, pq, pk, pv, po, pl); break;
                default: Flash<Simd128, Vector128<float>>.Forward(problem, pq, pk, pv, po, pl); break;
            }
        }
    }

    internal static unsafe void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> output, ReadOnlySpan<float> lse, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow,
        Span<float> dq, Span<float> dk, Span<float> dv, SimdWidth width)
    {
        ValidateShape(tokens, qHeads, kvHeads, headDim, slidingWindow, segmentStart);
        long qSize = (long)tokens * qHeads * headDim, kvSize = (long)tokens * kvHeads * headDim;
        RequireLength(dOutput.Length, qSize, nameof(dOutput));
        RequireLength(q.Length, qSize, nameof(q));
        RequireLength(k.Length, kvSize, nameof(k));
        RequireLength(v.Length, kvSize, nameof(v));
        RequireLength(output.Length, qSize, nameof(output));
        RequireLength(lse.Length, (long)qHeads * tokens, nameof(lse));
        RequireLength(dq.Length, qSize, nameof(dq));
        RequireLength(dk.Length, kvSize, nameof(dk));
        RequireLength(dv.Length, kvSize, nameof(dv));
        if (tokens == 0) return;

        fixed (float* pdo = dOutput, pq = q, pk = k, pv = v, po = output, pl = lse, pdq = dq, pdk = dk, pdv = dv)
        {
            var problem = new Problem(tokens, qHeads, kvHeads, headDim, scale, slidingWindow, Segments(segmentStart));
            var grads = new Gradients(pdq, pdk, pdv);
            switch (Resolve(width))
            {
                case SimdWidth.Bits512: Flash<Simd512, Vector512<float>>.Backward(problem, pdo, pq, pk, pv, po, pl, grads); break;
                case SimdWidth.Bits256: Flash<Simd256, Vector256<float>>.Backward(problem, pdo, pq, pk, pv, po, pl, grads); break;
                default: Flash<Simd128, Vector128<float>>.Backward(problem, pdo, pq, pk, pv, po, pl, grads); break;
            }
        }
    }

    private static SimdWidth Resolve(SimdWidth width) => width switch
    {
        SimdWidth.Auto when Vector512.IsHardwareAccelerated => SimdWidth.Bits512,
        SimdWidth.Auto when Vector256.IsHardwareAccelerated => SimdWidth.Bits256,
        SimdWidth.Auto => SimdWidth.Bits128,
        _ => width,
    };

    // ---------------------------------------------------------------- validation and planning

    private static void ValidateShape(int tokens, int qHeads, int kvHeads, int headDim, int slidingWindow, ReadOnlySpan<int> segmentStart)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegative(slidingWindow);
        if (qHeads % kvHeads != 0)
            throw new ArgumentException($"qHeads ({qHeads}) must be a multiple of kvHeads ({kvHeads})", nameof(kvHeads));
        RequireLength(segmentStart.Length, tokens, nameof(segmentStart));
        for (int t = 0; t < tokens; t++)
        {
            int s = segmentStart[t];
            if (s < 0 || s > t)
                throw new ArgumentException($"segmentStart[{t}] = {s} must lie in [0, {t}] (a token's sequence starts at or before it)",
                    nameof(segmentStart));
            if (t > 0 && s != t && s != segmentStart[t - 1])
                throw new ArgumentException($"segmentStart[{t}] = {s}: a token either continues the sequence of token {t - 1} " +
                    $"(start {segmentStart[t - 1]}) or starts a new one (start {t})", nameof(segmentStart));
        }
    }

    private static void RequireLength(int actual, long expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected}", name);
    }

    /// <summary>Packed sequences as [start, end) token ranges (validated segmentStart: a new one wherever it changes).</summary>
    private static (int Start, int End)[] Segments(ReadOnlySpan<int> segmentStart)
    {
        var list = new List<(int, int)>();
        int start = 0;
        for (int t = 1; t <= segmentStart.Length; t++)
            if (t == segmentStart.Length || segmentStart[t] != segmentStart[t - 1])
            {
                list.Add((start, t));
                start = t;
            }
        return list.ToArray();
    }

    /// <summary>Shape and options of one call.</summary>
    private sealed class Problem(int tokens, int qHeads, int kvHeads, int headDim, float scale, int window, (int Start, int End)[] segments)
    {
        public readonly int Tokens = tokens, QHeads = qHeads, KvHeads = kvHeads, HeadDim = headDim, Window = window;
        public readonly int Group = qHeads / kvHeads;
        public readonly float Scale = scale;
        public readonly (int Start, int End)[] Segments = segments;

        /// <summary>First key row that query row t may see (the sequence start is handled by the caller's ranges).</summary>
        public int FirstKey(int t, int segmentStart) => Window > 0 ? Math.Max(segmentStart, t - Window + 1) : segmentStart;

        /// <summary>One past the last query row that sees key row s.</summary>
        public int QueryEnd(int s, int segmentEnd) => Window > 0 ? (int)Math.Min(segmentEnd, (long)s + Window) : segmentEnd;
    }

    private readonly unsafe struct Gradients(float* dq, float* dk, float* dv)
    {
        public readonly float* Dq = dq, Dk = dk, Dv = dv;
    }

    /// <summary>
    /// Rows of one head of a [tokens, heads, headDim] tensor, each readable as a padded row of <c>paddedDim</c> floats:
    /// either the tensor itself (headDim already a multiple of the vector width) or a zero-padded copy.
    /// </summary>
    private readonly unsafe struct RowView(float* data, nint rowStride, nint headStride)
    {
        private readonly float* _data = data;
        public readonly nint RowStride = rowStride;
        private readonly nint _headStride = headStride;

        public float* Row(int head, int token) => _data + head * _headStride + token * RowStride;
    }

    /// <summary>Tile loops at one SIMD width.</summary>
    private static unsafe class Flash<TS, TV> where TS : struct, ISimd<TV> where TV : struct
    {
        private static int RoundUp(int n) => (n + TS.Width - 1) / TS.Width * TS.Width;

        // ------------------------------------------------------------ forward

        public static void Forward(Problem p, float* q, float* k, float* v, float* output, float* lse)
        {
            int d = p.HeadDim, dPad = RoundUp(d), keyPitch = p.Tokens + TS.Width;
            var blocks = QueryBlocks(p);
            float* kT = Transpose(k, p.Tokens, p.KvHeads, d, keyPitch);
            float* vPacked = null;
            try
            {
                RowView vRows = Rows(v, p.Tokens, p.KvHeads, d, dPad, ref vPacked);
                long scratch = (long)BlockRows * BlockRows + (long)BlockRows * dPad + 2 * BlockRows;
                ForEachItem(blocks.Length, scratch, (i, s) =>
                    ForwardBlock(p, blocks[i], q, kT, keyPitch, vRows, dPad, output, lse, (float*)s));
            }
            finally
            {
                Free(kT);
                if (vPacked != null) Free(vPacked);
            }
        }

        /// <summary>
        /// Rows [start, end) of one sequence for one q head: scores tile by tile with the online softmax
        /// (running max m, running sum l, output rescaled when the max grows), then out = o / l, lse = m + log l.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void ForwardBlock(Problem p, (int Head, int Segment, int Start, int End) blk, float* q, float* kT, int keyPitch,
            RowView vRows, int dPad, float* output, float* lse, float* scratch)
        {
            int d = p.HeadDim, head = blk.Head, kvHead = head / p.Group, rows = blk.End - blk.Start;
            float* scores = scratch;                       // [BlockRows, BlockRows]
            float* acc = scores + BlockRows * BlockRows;   // [rows, dPad]
            float* rowMax = acc + BlockRows * dPad;        // [rows]
            float* rowSum = rowMax + BlockRows;            // [rows]
            new Span<float>(acc, rows * dPad).Clear();
            new Span<float>(rowMax, rows).Fill(float.NegativeInfinity);
            new Span<float>(rowSum, rows).Clear();

            nint qPitch = (nint)p.QHeads * d;
            float* qBlock = q + blk.Start * qPitch + head * d;
            int segStart = p.Segments[blk.Segment].Start;
            for (int j0 = p.FirstKey(blk.Start, segStart); j0 < blk.End; j0 += BlockRows)
            {
                int cols = Math.Min(BlockRows, blk.End - j0), colsPad = RoundUp(cols);
                // scores = scale · Q·Kᵀ for this tile
                Tiles<TS, TV>.Multiply(rows, colsPad, d, p.Scale, qBlock, qPitch, 1, kT + (nint)kvHead * d * keyPitch + j0, keyPitch,
                    scores, BlockRows, accumulate: false);
                bool clipped = colsPad != cols || NeedsMask(p, blk.Start, blk.End, j0, cols);
                for (int r = 0; r < rows; r++)
                {
                    float* row = scores + r * BlockRows;
                    if (clipped) MaskRow(p, row, blk.Start + r, segStart, j0, cols, colsPad);
                    float max = MathF.Max(rowMax[r], Tiles<TS, TV>.Max(row, colsPad));
                    if (max == float.NegativeInfinity)
                    {   // nothing visible for this row yet: p = 0 and the running state stays as it is
                        new Span<float>(row, colsPad).Clear();
                        continue;
                    }
                    float sum = Tiles<TS, TV>.ExpShiftSum(row, colsPad, max);
                    float rescale = MathF.Exp(rowMax[r] - max); // exp(−∞) = 0 on the first visible tile
                    rowSum[r] = rowSum[r] * rescale + sum;
                    rowMax[r] = max;
                    if (rescale != 1f) Tiles<TS, TV>.Scale(acc + r * dPad, dPad, rescale);
                }
                // acc += P·V
                Tiles<TS, TV>.Multiply(rows, dPad, cols, 1f, scores, BlockRows, 1, vRows.Row(kvHead, j0), vRows.RowStride,
                    acc, dPad, accumulate: true);
            }

            for (int r = 0; r < rows; r++)
            {
                int t = blk.Start + r;
                float inv = 1f / rowSum[r];
                float* dst = output + t * qPitch + head * d;
                float* src = acc + r * dPad;
                for (int c = 0; c < d; c++) dst[c] = src[c] * inv;
                lse[(nint)head * p.Tokens + t] = rowMax[r] + MathF.Log(rowSum[r]);
            }
        }

        /// <summary>Query blocks of every (q head, sequence), costliest first (they see the most keys).</summary>
        private static (int Head, int Segment, int Start, int End)[] QueryBlocks(Problem p)
        {
            var blocks = new List<((int, int, int, int) Block, long Cost)>();
            for (int s = 0; s < p.Segments.Length; s++)
            {
                var (start, end) = p.Segments[s];
                for (int i0 = start; i0 < end; i0 += BlockRows)
                {
                    int i1 = Math.Min(end, i0 + BlockRows);
                    long cost = (long)(i1 - i0) * (i1 - p.FirstKey(i0, start) + 16);
                    for (int h = 0; h < p.QHeads; h++) blocks.Add(((h, s, i0, i1), cost));
                }
            }
            return blocks.OrderByDescending(b => b.Cost).Select(b => b.Block).ToArray();
        }

        // ------------------------------------------------------------ backward

        public static void Backward(Problem p, float* dOut, float* q, float* k, float* v, float* output, float* lse, Gradients g)
        {
            int d = p.HeadDim, dPad = RoundUp(d), keyPitch = p.Tokens + TS.Width, tokens = p.Tokens;
            int longest = p.Segments.Max(s => s.End - s.Start);
            var items = p.Segments.Index()
                .SelectMany(s => Enumerable.Range(0, p.QHeads).Select(h => (Head: h, Segment: s.Index, Length: s.Item.End - s.Item.Start)))
                .OrderByDescending(x => x.Length).Select(x => (x.Head, x.Segment)).ToArray();

            float* kT = Transpose(k, tokens, p.KvHeads, d, keyPitch);
            float* vT = Transpose(v, tokens, p.KvHeads, d, keyPitch);
            float* kPacked = null, qPacked = null, dOutPacked = null, dkHeads = null, dvHeads = null;
            try
            {
                var kRows = Rows(k, tokens, p.KvHeads, d, dPad, ref kPacked);
                var qRows = Rows(q, tokens, p.QHeads, d, dPad, ref qPacked);
                var dOutRows = Rows(dOut, tokens, p.QHeads, d, dPad, ref dOutPacked);
                // With GQA several q heads feed one kv head: each item writes its own [tokens, headDim] slice, summed after.
                bool shared = p.Group > 1;
                if (shared)
                {
                    dkHeads = Allocate((long)p.QHeads * tokens * d);
                    dvHeads = Allocate((long)p.QHeads * tokens * d);
                }
                var ctx = new BackwardContext(p, dOut, q, output, lse, kT, vT, keyPitch, kRows, qRows, dOutRows, dPad, g, dkHeads, dvHeads);
                long scratch = 2L * BlockRows * BlockRows + 2L * BlockRows * dPad + (long)longest * (dPad + 1);
                ForEachItem(items.Length, scratch, (i, s) => BackwardSequence(ctx, items[i].Head, items[i].Segment, (float*)s));
                if (shared) SumHeadGradients(p, dkHeads, dvHeads, g);
            }
            finally
            {
                Free(kT); Free(vT);
                if (kPacked != null) Free(kPacked);
                if (qPacked != null) Free(qPacked);
                if (dOutPacked != null) Free(dOutPacked);
                if (dkHeads != null) Free(dkHeads);
                if (dvHeads != null) Free(dvHeads);
            }
        }

        private sealed class BackwardContext(Problem p, float* dOut, float* q, float* output, float* lse, float* kT, float* vT, int keyPitch,
            RowView kRows, RowView qRows, RowView dOutRows, int dPad, Gradients g, float* dkHeads, float* dvHeads)
        {
            public readonly Problem P = p;
            public readonly float* DOut = dOut, Q = q, Output = output, Lse = lse, KT = kT, VT = vT, DkHeads = dkHeads, DvHeads = dvHeads;
            public readonly int KeyPitch = keyPitch, PaddedDim = dPad;
            public readonly RowView KRows = kRows, QRows = qRows, DOutRows = dOutRows;
            public readonly Gradients G = g;
        }

        /// <summary>
        /// All gradients of one q head over one sequence (FlashAttention-2): key blocks outside, accumulating dK, dV of
        /// the block in scratch; the query blocks that can see them inside, accumulating dQ of the whole sequence.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void BackwardSequence(BackwardContext c, int head, int segment, float* scratch)
        {
            Problem p = c.P;
            int d = p.HeadDim, dPad = c.PaddedDim, kvHead = head / p.Group;
            var (segStart, segEnd) = p.Segments[segment];
            int length = segEnd - segStart;
            float* probs = scratch;                       // P tile [BlockRows, BlockRows]
            float* grads = probs + BlockRows * BlockRows; // dP, then dS tile [BlockRows, BlockRows]
            float* dkTile = grads + BlockRows * BlockRows; // [BlockRows, dPad]
            float* dvTile = dkTile + BlockRows * dPad;    // [BlockRows, dPad]
            float* dqSeq = dvTile + BlockRows * dPad;     // [length, dPad]
            float* rowDot = dqSeq + (nint)length * dPad;  // D_t = dOut_t · out_t, [length]

            nint qPitch = (nint)p.QHeads * d;
            for (int r = 0; r < length; r++)
            {
                nint at = (segStart + r) * qPitch + head * d;
                rowDot[r] = TensorPrimitives.Dot(new ReadOnlySpan<float>(c.DOut + at, d), new ReadOnlySpan<float>(c.Output + at, d));
            }
            new Span<float>(dqSeq, length * dPad).Clear();
            float* lseRow = c.Lse + (nint)head * p.Tokens;
            float* kTHead = c.KT + (nint)kvHead * d * c.KeyPitch, vTHead = c.VT + (nint)kvHead * d * c.KeyPitch;

            for (int j0 = segStart; j0 < segEnd; j0 += BlockRows)
            {
                int cols = Math.Min(BlockRows, segEnd - j0), colsPad = RoundUp(cols);
                new Span<float>(dkTile, cols * dPad).Clear();
                new Span<float>(dvTile, cols * dPad).Clear();
                int iEnd = p.QueryEnd(j0 + cols - 1, segEnd);
                for (int i0 = j0; i0 < iEnd; i0 += BlockRows)
                {
                    int rows = Math.Min(BlockRows, iEnd - i0);
                    // P = exp(scale · Q·Kᵀ − lse), recomputed from the saved log-sum-exp
                    Tiles<TS, TV>.Multiply(rows, colsPad, d, p.Scale, c.Q + i0 * qPitch + head * d, qPitch, 1, kTHead + j0, c.KeyPitch,
                        probs, BlockRows, accumulate: false);
                    bool clipped = colsPad != cols || NeedsMask(p, i0, i0 + rows, j0, cols);
                    for (int r = 0; r < rows; r++)
                    {
                        float* row = probs + r * BlockRows;
                        if (clipped) MaskRow(p, row, i0 + r, segStart, j0, cols, colsPad);
                        Tiles<TS, TV>.ExpShift(row, colsPad, lseRow[i0 + r]);
                    }
                    // dP = dOut·Vᵀ, then dS = scale · P ∘ (dP − D) in place
                    Tiles<TS, TV>.Multiply(rows, colsPad, d, 1f, c.DOut + i0 * qPitch + head * d, qPitch, 1, vTHead + j0, c.KeyPitch,
                        grads, BlockRows, accumulate: false);
                    for (int r = 0; r < rows; r++)
                        Tiles<TS, TV>.SoftmaxGrad(probs + r * BlockRows, grads + r * BlockRows, colsPad, rowDot[i0 + r - segStart], p.Scale);
                    // dV += Pᵀ·dOut, dK += dSᵀ·Q (transposed A: swap the strides), dQ += dS·K
                    Tiles<TS, TV>.Multiply(cols, dPad, rows, 1f, probs, 1, BlockRows, c.DOutRows.Row(head, i0), c.DOutRows.RowStride,
                        dvTile, dPad, accumulate: true);
                    Tiles<TS, TV>.Multiply(cols, dPad, rows, 1f, grads, 1, BlockRows, c.QRows.Row(head, i0), c.QRows.RowStride,
                        dkTile, dPad, accumulate: true);
                    Tiles<TS, TV>.Multiply(rows, dPad, cols, 1f, grads, BlockRows, 1, c.KRows.Row(kvHead, j0), c.KRows.RowStride,
                        dqSeq + (nint)(i0 - segStart) * dPad, dPad, accumulate: true);
                }

                // This block's dK, dV are complete for this q head.
                for (int r = 0; r < cols; r++)
                {
                    int t = j0 + r;
                    float* dkDst, dvDst;
                    if (c.DkHeads != null)
                    {
                        dkDst = c.DkHeads + ((nint)head * p.Tokens + t) * d;
                        dvDst = c.DvHeads + ((nint)head * p.Tokens + t) * d;
                    }
                    else
                    {
                        dkDst = c.G.Dk + ((nint)t * p.KvHeads + kvHead) * d;
                        dvDst = c.G.Dv + ((nint)t * p.KvHeads + kvHead) * d;
                    }
                    new ReadOnlySpan<float>(dkTile + r * dPad, d).CopyTo(new Span<float>(dkDst, d));
                    new ReadOnlySpan<float>(dvTile + r * dPad, d).CopyTo(new Span<float>(dvDst, d));
                }
            }

            for (int r = 0; r < length; r++)
                new ReadOnlySpan<float>(dqSeq + (nint)r * dPad, d).CopyTo(new Span<float>(c.G.Dq + (segStart + r) * qPitch + head * d, d));
        }

        /// <summary>dk[t, g] = Σ over the q heads h of group g of dkHeads[h, t] (same for dv), in head order.</summary>
        private static void SumHeadGradients(Problem p, float* dkHeads, float* dvHeads, Gradients g)
        {
            int d = p.HeadDim, tokens = p.Tokens;
            const int chunk = 256;
            ForEachItem((tokens + chunk - 1) / chunk, 0, (item, _) =>
            {
                for (int t = item * chunk; t < Math.Min(tokens, (item + 1) * chunk); t++)
                    for (int kv = 0; kv < p.KvHeads; kv++)
                    {
                        var dk = new Span<float>(g.Dk + ((nint)t * p.KvHeads + kv) * d, d);
                        var dv = new Span<float>(g.Dv + ((nint)t * p.KvHeads + kv) * d, d);
                        for (int h = kv * p.Group; h < (kv + 1) * p.Group; h++)
                        {
                            var srcK = new ReadOnlySpan<float>(dkHeads + ((nint)h * tokens + t) * d, d);
                            var srcV = new ReadOnlySpan<float>(dvHeads + ((nint)h * tokens + t) * d, d);
                            if (h == kv * p.Group) { srcK.CopyTo(dk); srcV.CopyTo(dv); }
                            else
                            {
                                TensorPrimitives.Add(dk, srcK, dk);
                                TensorPrimitives.Add(dv, srcV, dv);
                            }
                        }
                    }
            });
        }

        // ------------------------------------------------------------ shared

        /// <summary>Does any row of query rows [i0, i1) × key rows [j0, j0 + cols) fall outside the causal/window band?</summary>
        private static bool NeedsMask(Problem p, int i0, int i1, int j0, int cols) =>
            j0 + cols - 1 > i0 || (p.Window > 0 && (i1 - 1) - p.Window + 1 > j0);

        /// <summary>Scores outside the visible keys of token t (and the padding columns) become −∞.</summary>
        private static void MaskRow(Problem p, float* row, int t, int segStart, int j0, int cols, int colsPad)
        {
            int lo = Math.Clamp(p.FirstKey(t, segStart) - j0, 0, cols), hi = Math.Clamp(t - j0 + 1, lo, cols);
            new Span<float>(row, lo).Fill(float.NegativeInfinity);
            new Span<float>(row + hi, colsPad - hi).Fill(float.NegativeInfinity);
        }

        /// <summary>[heads, headDim, pitch] copy of a [tokens, heads, headDim] tensor, so a key tile's scores are row broadcasts.</summary>
        private static float* Transpose(float* x, int tokens, int heads, int d, int pitch)
        {
            float* t = Allocate((long)heads * d * pitch, zero: true);
            const int block = 16; // tokens per pass: their rows stay in L1 while each output row gets 64 contiguous bytes
            for (int h = 0; h < heads; h++)
                for (int s0 = 0; s0 < tokens; s0 += block)
                {
                    int n = Math.Min(block, tokens - s0);
                    float* src = x + ((nint)s0 * heads + h) * d;
                    float* dst = t + (nint)h * d * pitch + s0;
                    for (int c = 0; c < d; c++, dst += pitch)
                        for (int s = 0; s < n; s++) dst[s] = src[(nint)s * heads * d + c];
                }
            return t;
        }

        /// <summary>The tensor itself when its rows can be read as dPad-float vectors, else a zero-padded [heads, tokens, dPad] copy.</summary>
        private static RowView Rows(float* x, int tokens, int heads, int d, int dPad, ref float* packed)
        {
            if (d == dPad) return new RowView(x, (nint)heads * d, d);
            packed = Allocate((long)heads * tokens * dPad, zero: true);
            for (int s = 0; s < tokens; s++)
                for (int h = 0; h < heads; h++)
                    new ReadOnlySpan<float>(x + ((nint)s * heads + h) * d, d).CopyTo(new Span<float>(packed + ((nint)h * tokens + s) * dPad, d));
            return new RowView(packed, dPad, (nint)tokens * dPad);
        }
    }
}
