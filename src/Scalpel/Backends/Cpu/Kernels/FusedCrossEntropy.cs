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
public static class FusedCrossEntropy
{
    public const int IgnoreIndex = -100;

    /// <param name="hidden">[tokens, dim] final-norm output</param>
    /// <param name="weight">[vocab, dim] LM head (F32)</param>
    /// <param name="dHidden">[tokens, dim] overwritten (zero rows for ignored tokens)</param>
    /// <param name="dWeight">[vocab, dim] accumulated (+=); empty when the head is frozen</param>
    public static CrossEntropyResult ForwardBackward(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale, Span<float> dHidden, Span<float> dWeight)
        => throw new NotImplementedException();

    /// <summary>Same with a BF16 LM head (frozen, so no dWeight).</summary>
    public static CrossEntropyResult ForwardBackward(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights, float gradScale, Span<float> dHidden)
        => throw new NotImplementedException();

    /// <summary>Loss only (evaluation).</summary>
    public static CrossEntropyResult Forward(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights) => throw new NotImplementedException();

    public static CrossEntropyResult Forward(ReadOnlySpan<float> hidden, ReadOnlySpan<ushort> weightBf16, int tokens, int dim, int vocab,
        ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights) => throw new NotImplementedException();
}
