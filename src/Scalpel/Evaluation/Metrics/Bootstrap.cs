namespace Scalpel.Evaluation.Metrics;

/// <summary>How many bootstrap resamples to draw, and from which seed.</summary>
public sealed record BootstrapOptions(int Resamples = 1000, ulong Seed = 0x5CA1_9E1)
{
    public static BootstrapOptions Default { get; } = new();
}

/// <summary>
/// A statistic of the items computed from per-item weights: the number of times each item was drawn into the
/// resample (all ones for the full sample). Writes one number per output.
/// </summary>
public delegate void WeightedStatistic(ReadOnlySpan<int> weights, Span<double> outputs);

/// <summary>The paired bootstrap comparison of two setups scored on the same items.</summary>
/// <param name="Difference">Mean of A minus mean of B over the items, with its 95% interval.</param>
/// <param name="FractionAGreater">The fraction of resamples where A's mean was strictly greater than B's.</param>
/// <param name="FractionBGreater">The fraction where B's was strictly greater (ties count for neither).</param>
/// <param name="Count">Items that had a score in both A and B (NaN scores are left out of both).</param>
public sealed record PairedComparison(MetricValue Difference, double FractionAGreater, double FractionBGreater, int Count)
{
    /// <summary>Whether the 95% interval of the difference excludes zero.</summary>
    public bool BeyondNoise => Difference.Ci95Low > 0 || Difference.Ci95High < 0;
}

/// <summary>
/// Percentile bootstrap over examples (Efron and Tibshirani 1993, ch. 13). Resample <c>r</c> draws
/// <see cref="Count"/> items with replacement from a generator seeded by (<see cref="BootstrapOptions.Seed"/>, r), so
/// every metric computed with the same <see cref="Bootstrap"/> (or the same count and options) sees the same
/// resamples and their intervals are comparable. The value is the statistic on the full sample; the interval is the
/// 2.5th and 97.5th percentiles of the statistic over the resamples, interpolated linearly between order statistics
/// (numpy's default <c>percentile</c>). Resamples where a statistic is undefined (NaN) are left out of its interval.
/// </summary>
public sealed class Bootstrap
{
    private const double Alpha = 0.05;

    public Bootstrap(int count, BootstrapOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Options = options ?? BootstrapOptions.Default;
        if (Options.Resamples < 1) throw new ArgumentOutOfRangeException(nameof(options), "bootstrap needs at least one resample");
        Count = count;
    }

    public int Count { get; }
    public BootstrapOptions Options { get; }

    /// <summary>Fills <paramref name="weights"/> (length <see cref="Count"/>) with how often each item is drawn in resample <paramref name="resample"/>.</summary>
    public void FillWeights(int resample, Span<int> weights)
    {
        if (weights.Length != Count) throw new ArgumentException($"weights has {weights.Length} entries, the bootstrap is over {Count} items");
        ArgumentOutOfRangeException.ThrowIfNegative(resample);
        weights.Clear();
        var rng = new SplitMix64(Options.Seed, (ulong)resample);
        for (int i = 0; i < Count; i++) weights[rng.NextBelow((uint)Count)]++;
    }

    /// <summary>The statistic on the full sample and its interval over the resamples, one <see cref="MetricValue"/> per output.</summary>
    public MetricValue[] Estimate(int outputs, WeightedStatistic statistic)
    {
        double[][] draws = Draw(outputs, statistic, out double[] full);
        var values = new MetricValue[outputs];
        for (int k = 0; k < outputs; k++)
        {
            var (low, high) = Interval(draws[k]);
            values[k] = new MetricValue(full[k], low, high);
        }
        return values;
    }

    /// <summary>The statistic on the full sample (<paramref name="full"/>) and on every resample (<c>[output][resample]</c>).</summary>
    private double[][] Draw(int outputs, WeightedStatistic statistic, out double[] full)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(outputs);
        if (Count == 0) throw new InvalidOperationException("cannot compute a metric over zero items");
        int[] weights = new int[Count];
        full = new double[outputs];
        weights.AsSpan().Fill(1);
        statistic(weights, full);

        int resamples = Options.Resamples;
        var draws = new double[outputs][];
        for (int k = 0; k < outputs; k++) draws[k] = new double[resamples];
        var row = new double[outputs];
        for (int r = 0; r < resamples; r++)
        {
            FillWeights(r, weights);
            row.AsSpan().Clear();
            statistic(weights, row);
            for (int k = 0; k < outputs; k++) draws[k][r] = row[k];
        }
        return draws;
    }

    /// <summary>The mean of the scores (NaN scores left out) with its interval.</summary>
    public MetricValue Mean(IReadOnlyList<double> scores)
    {
        CheckLength(scores, nameof(scores));
        return Estimate(1, (w, o) => o[0] = WeightedMean(scores, w))[0];
    }

    /// <summary>
    /// Paired bootstrap of <paramref name="a"/> minus <paramref name="b"/> (per-example scores of two setups on the
    /// same items, in the same order; Koehn 2004's paired resampling): each resample draws the same items for both.
    /// Items where either score is NaN are left out of both.
    /// </summary>
    public PairedComparison PairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        CheckLength(a, nameof(a));
        CheckLength(b, nameof(b));
        var diff = new double[Count];
        int valid = 0;
        for (int i = 0; i < Count; i++)
        {
            diff[i] = double.IsNaN(a[i]) || double.IsNaN(b[i]) ? double.NaN : a[i] - b[i];
            if (!double.IsNaN(diff[i])) valid++;
        }
        if (valid == 0) throw new ArgumentException("no item has a score in both setups");

        double[] draws = Draw(1, (w, o) => o[0] = WeightedMean(diff, w), out double[] full)[0];
        var (low, high) = Interval(draws);
        // Mean(A) > Mean(B) over the same drawn items is the mean difference being positive.
        double aGreater = draws.Count(d => d > 0), bGreater = draws.Count(d => d < 0);
        return new PairedComparison(new MetricValue(full[0], low, high), aGreater / draws.Length, bGreater / draws.Length, valid);
    }

    /// <summary>Σ wᵢ sᵢ / Σ wᵢ over the items whose score is not NaN; NaN when no drawn item has a score.</summary>
    public static double WeightedMean(IReadOnlyList<double> scores, ReadOnlySpan<int> weights)
    {
        double sum = 0;
        long n = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            int w = weights[i];
            if (w == 0) continue;
            double s = scores[i];
            if (double.IsNaN(s)) continue;
            sum += w * s;
            n += w;
        }
        return n == 0 ? double.NaN : sum / n;
    }

    /// <summary>The 2.5th and 97.5th percentiles of the non-NaN draws (linear interpolation); NaN if all are NaN.</summary>
    internal static (double Low, double High) Interval(double[] draws)
    {
        var finite = draws.Where(d => !double.IsNaN(d)).ToArray();
        if (finite.Length == 0) return (double.NaN, double.NaN);
        Array.Sort(finite);
        return (Percentile(finite, Alpha / 2), Percentile(finite, 1 - Alpha / 2));
    }

    /// <summary>numpy's <c>percentile(..., method="linear")</c>: position q·(n−1) between order statistics.</summary>
    internal static double Percentile(double[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        double fraction = position - below;
        return sorted[below] + fraction * (sorted[above] - sorted[below]);
    }

    private void CheckLength(IReadOnlyList<double> scores, string name)
    {
        if (scores.Count != Count) throw new ArgumentException($"{name} has {scores.Count} scores, the bootstrap is over {Count} items", name);
    }

    /// <summary>
    /// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fixed by its seed on every platform and
    /// .NET version, unlike <see cref="Random"/>. Each resample gets its own stream so resamples can be drawn in any order.
    /// </summary>
    private struct SplitMix64(ulong seed, ulong stream)
    {
        private ulong _state = Mix(seed ^ Mix(stream + 0x9E3779B97F4A7C15UL));

        public ulong Next() => Mix(_state += 0x9E3779B97F4A7C15UL);

        /// <summary>Uniform in [0, n) without modulo bias (Lemire 2019, multiply and reject).</summary>
        public int NextBelow(uint n)
        {
            ulong m = (Next() >> 32) * n;
            uint low = (uint)m;
            if (low < n)
            {
                uint threshold = (0u - n) % n;
                while (low < threshold)
                {
                    m = (Next() >> 32) * n;
                    low = (uint)m;
                }
            }
            return (int)(m >> 32);
        }

        private static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
