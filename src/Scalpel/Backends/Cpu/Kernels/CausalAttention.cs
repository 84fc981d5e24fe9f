namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// Causal self-attention with grouped-query heads over packed sequences, flash-style: the forward saves only the
/// per-row log-sum-exp, the backward recomputes probabilities; no tokens×tokens matrix is ever stored.
/// q: [tokens, qHeads, headDim]; k, v: [tokens, kvHeads, headDim]; q head h reads kv head h / (qHeads / kvHeads).
/// segmentStart[t] is the index of the first token of t's sequence: t attends to s iff segmentStart[t] ≤ s ≤ t
/// (and t − s &lt; slidingWindow when slidingWindow &gt; 0), so packed examples never see each other.
/// </summary>
public static class CausalAttention
{
    /// <param name="output">[tokens, qHeads, headDim]</param>
    /// <param name="lse">[qHeads, tokens] log-sum-exp of the scaled scores of each query row</param>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Span<float> output, Span<float> lse)
        => throw new NotImplementedException();

    /// <summary>dq, dk, dv are overwritten.</summary>
    public static void Backward(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> output, ReadOnlySpan<float> lse, ReadOnlySpan<int> segmentStart,
        int tokens, int qHeads, int kvHeads, int headDim, float scale, int slidingWindow,
        Span<float> dq, Span<float> dk, Span<float> dv) => throw new NotImplementedException();
}
