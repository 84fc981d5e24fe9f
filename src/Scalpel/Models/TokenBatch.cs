namespace Scalpel.Models;

/// <summary>
/// Token sequences packed back to back into one row of <see cref="Count"/> tokens. Each token knows where its
/// sequence starts (attention never crosses sequences) and its position inside it (RoPE restarts per sequence).
/// Targets[t] is the token to predict at t, or -100 where no loss is taken; Weights scale each token's loss.
/// </summary>
public sealed class TokenBatch
{
    public const int IgnoreIndex = -100;

    public TokenBatch(int[] inputIds, int[] positions, int[] segmentStart, int[] targets, float[]? weights = null)
    {
        int n = inputIds.Length;
        if (positions.Length != n || segmentStart.Length != n || targets.Length != n || (weights is not null && weights.Length != n))
            throw new ArgumentException("every per-token array of a batch must have one entry per token");
        InputIds = inputIds; Positions = positions; SegmentStart = segmentStart; Targets = targets; Weights = weights;
    }

    public int[] InputIds { get; }
    public int[] Positions { get; }
    public int[] SegmentStart { get; }
    public int[] Targets { get; }
    /// <summary>Per-token loss weights; null means 1 for every token.</summary>
    public float[]? Weights { get; }
    public int Count => InputIds.Length;

    /// <summary>Total loss weight of the tokens that count (for normalising accumulated gradients).</summary>
    public double LossWeight
    {
        get
        {
            double total = 0;
            for (int t = 0; t < Count; t++)
                if (Targets[t] != IgnoreIndex) total += Weights?[t] ?? 1f;
            return total;
        }
    }

    /// <summary>
    /// Packs sequences for causal-LM training: the target of token t is token t+1 of the same sequence where
    /// lossMask[t+1] is true (a mask per token of the sequence: true = learn to produce this token).
    /// </summary>
    public static TokenBatch Pack(IReadOnlyList<(int[] Ids, bool[] LossMask)> sequences, IReadOnlyList<float[]>? tokenWeights = null)
    {
        int total = sequences.Sum(s => s.Ids.Length);
        var ids = new int[total];
        var positions = new int[total];
        var starts = new int[total];
        var targets = new int[total];
        float[]? weights = tokenWeights is null ? null : new float[total];
        int offset = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            var (seq, mask) = sequences[s];
            if (mask.Length != seq.Length) throw new ArgumentException($"sequence {s}: loss mask length {mask.Length} ≠ {seq.Length} tokens");
            for (int i = 0; i < seq.Length; i++)
            {
                int t = offset + i;
                ids[t] = seq[i];
                positions[t] = i;
                starts[t] = offset;
                bool learnNext = i + 1 < seq.Length && mask[i + 1];
                targets[t] = learnNext ? seq[i + 1] : IgnoreIndex;
                if (weights is not null) weights[t] = learnNext ? tokenWeights![s][i + 1] : 0f;
            }
            offset += seq.Length;
        }
        return new TokenBatch(ids, positions, starts, targets, weights);
    }
}
