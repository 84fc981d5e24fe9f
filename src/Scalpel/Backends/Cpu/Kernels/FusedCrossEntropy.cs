using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>Sum of weighted token losses, the weight total and how many tokens counted.</summary>
public readonly record struct CrossEntropyResult(double LossSum, double WeightSum, int Count)
{
    public double Mean => WeightSum > 0 ? LossSum / WeightSum : 0;
}

/// <summary>
/// LM head + softmax cross-entropy fused and chunked over tokens: logits = hidden · weightᵀ are built a chunk of
/// rows at a time and only for tokens whose target is not <see cref="IgnoreIndex"/>; never [tokens, vocab] at once.
/// LossSum = Σ w_t · (logsumexp(logits_t) − logits_t[target_t]) over counted tokens (w_t = 1 when tokenWeights is empty).
/// Gradients are those of gradScale · LossSum (pass 1/total weight of the whole accumulated batch).
/// </summary>
/// <remarks>
/// Count is the number of tokens whose target is not <see cref="IgnoreIndex"/> (weight-zero tokens included) and
/// WeightSum their total weight. Weight-zero tokens add exactly nothing, so they are not computed at all (their
/// dHidden rows are zero like those of ignored tokens). Per chunk: logits by GEMM, then per row the max, the sum of
/// exp(logit − max) (fp32 terms, double totals), loss = max + log(sum) − logit[target], and in place
/// dlogits = gradScale · w · (softmax − onehot); then dHidden rows = dlogits · W and dW += dlogitsᵀ · hidden by GEMM.
/// </remarks>
public static class FusedCrossEntropy
{
    public const int IgnoreIndex = -100;

    /// <summary>Upper bound of one chunk's logits: 8 Mi floats (32 MiB), e.g. 170 rows of a 49,152-token vocabulary.</summary>
    private const int ChunkFloats = 8 << 20;

    /// <summary>Most rows per chunk (small vocabularies): enough to keep the GEMMs efficient.</summary>
    private const int MaxChunkRows = 512;

    /// <summary>Rows of logits made at a time for a vocabulary: the budget every logits-by-chunk path (and the memory plan) uses.</summary>
    public static int ChunkRows(int vocab) => Math.Clamp(ChunkFloats / vocab, 1, MaxChunkRows);

    /// <param name="hidden">[tokens, dim] final-norm output</param>
    /// <param name="weight">[vocab, dim] LM head (F32)</param>
    /// <param name="dHidden">[tokens, dim] overwritten (zero rows for ignored tokens)</param>
    /// <param name="dWeight">[vocab, dim] accumulated (+=); empty when the head is frozen</param>
    public static CrossEntropyResult ForwardBackward(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale, Span<float> dHidden, Span<float> dWeight)
    {
        RequireLength(weight.Length, (long)vocab * dim, nameof(weight));
        if (!dWeight.IsEmpty) RequireLength(dWeight.Length, (long)vocab * dim, nameof(dWeight));
        return Run(hidden, new Head(weight), tokens, dim, vocab, targets, tokenWeights, gradScale, backward: true, dHidden, dWeight,
            MaxChunkRows);
    }

    /// <summary>Same with a BF16 LM head (frozen, so no dWeight).</summary>
    public static CrossEntropyResult ForwardBackward(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale, Span<float> dHidden)
    {
        RequireLength(weightBf16.Length, (long)vocab * dim, nameof(weightBf16));
        return Run(hidden, new Head(weightBf16), tokens, dim, vocab, targets, tokenWeights, gradScale, backward: true, dHidden, default,
            MaxChunkRows);
    }

    /// <summary>Loss only (evaluation).</summary>
    public static CrossEntropyResult Forward(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights)
    {
        RequireLength(weight.Length, (long)vocab * dim, nameof(weight));
        return Run(hidden, new Head(weight), tokens, dim, vocab, targets, tokenWeights, 0f, backward: false, default, default, MaxChunkRows);
    }

    public static CrossEntropyResult Forward(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights)
    {
        RequireLength(weightBf16.Length, (long)vocab * dim, nameof(weightBf16));
        return Run(hidden, new Head(weightBf16), tokens, dim, vocab, targets, tokenWeights, 0f, backward: false, default, default, MaxChunkRows);
    }

    /// <summary>Test hook: ForwardBackward with chunks of at most <paramref name="maxChunkRows"/> rows (to cross chunk edges cheaply).</summary>
    internal static CrossEntropyResult ForwardBackward(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, ReadOnlySpan<ushort> weightBf16,
        int tokens, int dim, int vocab, ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale,
        Span<float> dHidden, Span<float> dWeight, int maxChunkRows)
    {
        bool bf16 = weight.IsEmpty;
        RequireLength(bf16 ? weightBf16.Length : weight.Length, (long)vocab * dim, bf16 ? nameof(weightBf16) : nameof(weight));
        if (!dWeight.IsEmpty) RequireLength(dWeight.Length, (long)vocab * dim, nameof(dWeight));
        return Run(hidden, bf16 ? new Head(weightBf16) : new Head(weight), tokens, dim, vocab, targets, tokenWeights, gradScale,
            backward: true, dHidden, dWeight, maxChunkRows);
    }

    /// <summary>The LM head weight [vocab, dim] in either precision; the two GEMMs that touch it.</summary>
    private readonly ref struct Head
    {
        private readonly ReadOnlySpan<float> _f32;
        private readonly ReadOnlySpan<ushort> _bf16;
        private readonly bool _isBf16;

        public Head(ReadOnlySpan<float> weight) => _f32 = weight;
        public Head(ReadOnlySpan<ushort> weight) { _bf16 = weight; _isBf16 = true; }

        /// <summary>logits[rows, vocab] = h[rows, dim] · Wᵀ</summary>
        public void Logits(int rows, int dim, int vocab, ReadOnlySpan<float> h, Span<float> logits)
        {
            if (_isBf16) Gemm.Multiply(false, true, rows, vocab, dim, 1f, h, dim, _bf16, dim, 0f, logits, vocab);
            else Gemm.Multiply(false, true, rows, vocab, dim, 1f, h, dim, _f32, dim, 0f, logits, vocab);
        }

        /// <summary>dh[rows, dim] = dlogits[rows, vocab] · W</summary>
        public void InputGrad(int rows, int dim, int vocab, ReadOnlySpan<float> dLogits, Span<float> dh)
        {
            if (_isBf16) Gemm.Multiply(false, false, rows, dim, vocab, 1f, dLogits, vocab, _bf16, dim, 0f, dh, dim);
            else Gemm.Multiply(false, false, rows, dim, vocab, 1f, dLogits, vocab, _f32, dim, 0f, dh, dim);
        }
    }

    private static unsafe CrossEntropyResult Run(ReadOnlySpan<float> hidden, Head head, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale, bool backward, Span<float> dHidden, Span<float> dWeight,
        int maxChunkRows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocab);
        RequireLength(hidden.Length, (long)tokens * dim, nameof(hidden));
        RequireLength(targets.Length, tokens, nameof(targets));
        if (!tokenWeights.IsEmpty) RequireLength(tokenWeights.Length, tokens, nameof(tokenWeights));
        if (backward) RequireLength(dHidden.Length, (long)tokens * dim, nameof(dHidden));
        for (int t = 0; t < tokens; t++)
        {
            int y = targets[t];
            if (y != IgnoreIndex && (uint)y >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), y,
                    $"token {t} has target {y}, outside [0, {vocab}) and not IgnoreIndex ({IgnoreIndex})");
        }

        // Which tokens to compute: counted ones with a non-zero weight, in token order.
        int count = 0;
        double weightSum = 0;
        var rows = new List<int>(tokens);
        for (int t = 0; t < tokens; t++)
        {
            if (targets[t] == IgnoreIndex) continue;
            float w = tokenWeights.IsEmpty ? 1f : tokenWeights[t];
            count++;
            weightSum += w;
            if (w != 0f) rows.Add(t);
        }
        if (backward) dHidden.Clear();
        if (rows.Count == 0) return new CrossEntropyResult(0, weightSum, count);

        int chunk = Math.Min(ChunkRows(vocab), maxChunkRows);
        chunk = Math.Min(chunk, rows.Count);
        float* logits = Allocate((long)chunk * vocab);
        float* h = Allocate((long)chunk * dim);
        float* dh = backward ? Allocate((long)chunk * dim) : null;
        var rowTarget = new int[chunk];
        var rowGrad = new float[chunk];   // gradScale · w_t
        var rowLoss = new double[chunk];
        double lossSum = 0;
        try
        {
            for (int c0 = 0; c0 < rows.Count; c0 += chunk)
            {
                int n = Math.Min(chunk, rows.Count - c0);
                var hChunk = new Span<float>(h, n * dim);
                var logitChunk = new Span<float>(logits, checked(n * vocab));
                for (int r = 0; r < n; r++)
                {
                    int t = rows[c0 + r];
                    hidden.Slice(t * dim, dim).CopyTo(hChunk.Slice(r * dim, dim));
                    rowTarget[r] = targets[t];
                    rowGrad[r] = gradScale * (tokenWeights.IsEmpty ? 1f : tokenWeights[t]);
                }

                head.Logits(n, dim, vocab, hChunk, logitChunk);
                SoftmaxRows(logits, n, vocab, rowTarget, backward ? rowGrad : null, rowLoss);
                for (int r = 0; r < n; r++)
                    lossSum += (tokenWeights.IsEmpty ? 1.0 : tokenWeights[rows[c0 + r]]) * rowLoss[r];
                if (!backward) continue;

                var dhChunk = new Span<float>(dh, n * dim);
                head.InputGrad(n, dim, vocab, logitChunk, dhChunk);
                for (int r = 0; r < n; r++)
                    dhChunk.Slice(r * dim, dim).CopyTo(dHidden.Slice(rows[c0 + r] * dim, dim));
                if (!dWeight.IsEmpty) // dW[vocab, dim] += dlogitsᵀ · h
                    Gemm.Multiply(true, false, vocab, dim, n, 1f, logitChunk, vocab, hChunk, dim, 1f, dWeight, dim);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(logits);
            NativeMemory.AlignedFree(h);
            if (dh != null) NativeMemory.AlignedFree(dh);
        }
        return new CrossEntropyResult(lossSum, weightSum, count);
    }

    /// <summary>
    /// Per row of logits[n, vocab]: loss[r] = logsumexp − logit[target]; with rowGrad, the row is replaced by
    /// rowGrad[r] · (softmax − onehot(target)). Rows are independent, so they run in parallel.
    /// </summary>
    private static unsafe void SoftmaxRows(float* logits, int n, int vocab, int[] target, float[]? rowGrad, double[] loss)
    {
        nint basePtr = (nint)logits;
        void Row(int r)
        {
            var z = new Span<float>((float*)basePtr + (long)r * vocab, vocab);
            float max = TensorPrimitives.Max(z);
            float picked = z[target[r]];
            TensorPrimitives.Subtract(z, max, z);
            TensorPrimitives.Exp(z, z);
            double sum = 0;
            for (int i = 0; i < vocab; i += 4096) sum += TensorPrimitives.Sum(z.Slice(i, Math.Min(4096, vocab - i)));
            loss[r] = max + Math.Log(sum) - picked;
            if (rowGrad is null) return;
            float g = rowGrad[r];
            TensorPrimitives.Multiply(z, (float)(g / sum), z);
            z[target[r]] -= g;
        }

        if ((long)n * vocab < 1 << 16) for (int r = 0; r < n; r++) Row(r);
        else Parallel.For(0, n, Row);
    }

    private static unsafe float* Allocate(long floats) =>
        (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(floats, 1) * sizeof(float), 64);

    private static void RequireLength(int actual, long expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected}", name);
    }
}
