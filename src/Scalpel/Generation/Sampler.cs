namespace Scalpel.Generation;

/// <summary>
/// How the next token is chosen. Temperature 0 is greedy (argmax; the other settings except the repetition penalty
/// are then ignored). Filters apply in transformers' order: repetition penalty, temperature, top-k, top-p, min-p.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches p; 1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens less likely than min_p × the most likely token's probability; 0 = off.</summary>
    public float MinP { get; init; }
    /// <summary>CTRL's penalty on every token already in the prompt or output (logit ÷ θ when positive, × θ when negative); 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Seed of the sampling stream; the same seed, prompt and settings give the same tokens.</summary>
    public ulong Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0f };

    public bool IsGreedy => Temperature <= 0f;

    /// <summary>The first setting out of range, as a message naming it; null when all are valid.</summary>
    public string? Problem() =>
        float.IsNaN(Temperature) || Temperature < 0 ? $"temperature must be ≥ 0 (got {Temperature})"
        : TopK < 0 ? $"top_k must be ≥ 0 (got {TopK})"
        : !(TopP > 0 && TopP <= 1) ? $"top_p must be in (0, 1] (got {TopP})"
        : !(MinP >= 0 && MinP <= 1) ? $"min_p must be in [0, 1] (got {MinP})"
        : !(RepetitionPenalty > 0) ? $"repetition_penalty must be > 0 (got {RepetitionPenalty})"
        : null;
}

/// <summary>
/// Chooses tokens from logits with <see cref="SamplingOptions"/>. One sampler per sequence: it owns that sequence's
/// random stream (SplitMix64 from the seed, so results do not depend on the .NET version) and scratch buffers.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private ulong _state;
    private int[] _order = [];
    private float[] _keys = [];

    public Sampler(SamplingOptions options)
    {
        if (options.Problem() is { } problem) throw new ArgumentException(problem, nameof(options));
        _options = options;
        _state = options.Seed ^ 0x9E37_79B9_7F4A_7C15UL;
    }

    public SamplingOptions Options => _options;

    /// <summary>
    /// Picks a token. <paramref name="logits"/> is modified in place (penalties, masking, temperature).
    /// <paramref name="history"/> is every token so far (prompt and output) for the repetition penalty. Tokens already
    /// at −∞ (e.g. masked by a constraint) are never chosen; at least one token must be finite.
    /// </summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history)
    {
        ApplyRepetitionPenalty(logits, history, _options.RepetitionPenalty);
        if (_options.IsGreedy) return ArgMax(logits);
        ApplyTemperature(logits, _options.Temperature);
        // Plain temperature sampling needs no order: one pass over the softmax instead of sorting the vocabulary, which
        // on a 49k vocabulary cost more than a decode step's forward when 16 sequences sampled in turn.
        if (_options.TopK == 0 && _options.TopP >= 1f && _options.MinP <= 0f) return DrawUnsorted(logits);
        var probabilities = Filter(logits);
        return Draw(probabilities);
    }

    /// <summary>Draws from softmax(logits) over the finite logits, scanning in id order.</summary>
    private int DrawUnsorted(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        if (float.IsNegativeInfinity(max) || float.IsNaN(max)) throw new InvalidOperationException("no token can be chosen: every logit is −∞ or NaN");
        if (float.IsPositiveInfinity(max)) return logits.IndexOf(max);
        double sum = 0;
        foreach (float l in logits) if (l > float.NegativeInfinity) sum += Math.Exp(l - max);
        double target = NextDouble() * sum, cumulative = 0;
        int last = -1;
        for (int i = 0; i < logits.Length; i++)
        {
            if (!(logits[i] > float.NegativeInfinity)) continue;
            cumulative += Math.Exp(logits[i] - max);
            last = i;
            if (target < cumulative) return i;
        }
        return last;
    }

    public static void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> history, float penalty)
    {
        if (penalty == 1f) return;
        // Each distinct token once, as transformers' gather/scatter does.
        var seen = new HashSet<int>();
        foreach (int id in history)
        {
            if ((uint)id >= (uint)logits.Length || !seen.Add(id)) continue;
            float l = logits[id];
            logits[id] = l > 0 ? l / penalty : l * penalty;
        }
    }

    public static void ApplyTemperature(Span<float> logits, float temperature)
    {
        if (temperature == 1f) return;
        float inverse = 1f / temperature;
        for (int i = 0; i < logits.Length; i++) logits[i] *= inverse;
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = -1;
        float bestValue = float.NegativeInfinity;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] > bestValue) (best, bestValue) = (i, logits[i]);
        }
        if (best < 0) throw new InvalidOperationException("no token can be chosen: every logit is −∞ or NaN");
        return best;
    }

    /// <summary>
    /// Top-k, top-p and min-p over the finite logits; returns (token, probability) of the survivors, most likely first,
    /// probabilities renormalised to sum to 1.
    /// </summary>
    internal (int[] Tokens, double[] Probabilities, int Count) Filter(ReadOnlySpan<float> logits)
    {
        int n = 0;
        if (_order.Length < logits.Length) (_order, _keys) = (new int[logits.Length], new float[logits.Length]);
        for (int i = 0; i < logits.Length; i++)
        {
            if (float.IsFinite(logits[i]) || logits[i] == float.PositiveInfinity)
            {
                _order[n] = i;
                _keys[n] = -logits[i];              // ascending sort of −logit = most likely first
                n++;
            }
        }
        if (n == 0) throw new InvalidOperationException("no token can be chosen: every logit is −∞ or NaN");
        Array.Sort(_keys, _order, 0, n);
        if (_options.TopK > 0) n = Math.Min(n, _options.TopK);

        // Softmax of the survivors (the most likely logit first, so no overflow).
        var probabilities = new double[n];
        double max = -_keys[0], sum = 0;
        for (int i = 0; i < n; i++) sum += probabilities[i] = Math.Exp(-_keys[i] - max);
        for (int i = 0; i < n; i++) probabilities[i] /= sum;

        if (_options.TopP < 1f)
        {
            // transformers removes tokens whose ascending cumulative probability is ≤ 1 − top_p, keeping at least one:
            // the most likely tokens up to and including the one whose cumulative probability crosses top_p.
            double cumulative = 0;
            int keep = n;
            for (int i = 0; i < n; i++)
            {
                cumulative += probabilities[i];
                if (cumulative >= _options.TopP - 1e-12) { keep = i + 1; break; }
            }
            n = Renormalise(probabilities, keep);
        }
        if (_options.MinP > 0f)
        {
            double threshold = _options.MinP * probabilities[0];
            int keep = 1;
            while (keep < n && probabilities[keep] >= threshold) keep++;
            n = Renormalise(probabilities, keep);
        }
        return (_order, probabilities, n);
    }

    private static int Renormalise(double[] probabilities, int count)
    {
        double sum = 0;
        for (int i = 0; i < count; i++) sum += probabilities[i];
        for (int i = 0; i < count; i++) probabilities[i] /= sum;
        return count;
    }

    private int Draw((int[] Tokens, double[] Probabilities, int Count) candidates)
    {
        double u = NextDouble(), cumulative = 0;
        for (int i = 0; i < candidates.Count; i++)
        {
            cumulative += candidates.Probabilities[i];
            if (u < cumulative) return candidates.Tokens[i];
        }
        return candidates.Tokens[candidates.Count - 1];
    }

    /// <summary>Uniform in [0, 1) from the next SplitMix64 output's top 53 bits.</summary>
    private double NextDouble()
    {
        ulong z = _state += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
