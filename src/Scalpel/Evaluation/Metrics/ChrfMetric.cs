using System.Text;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// <c>chrf</c>: chrF (Popović 2015) as sacreBLEU 2.x computes it (<c>sacrebleu.metrics.CHRF</c>), with its defaults:
/// character n-grams of orders 1 to 6 over code points, whitespace removed, no word n-grams, β = 2, case kept, and
/// "effective order" averaging (precision and recall are averaged over the orders where both texts have n-grams;
/// <see cref="EpsSmoothing"/> switches to chrF++.py's ε-smoothed average of per-order F scores). Scores are 0–100.
/// The headline is corpus-level, like sacreBLEU's <c>corpus_score</c>: n-gram statistics summed over all items, then
/// one F score (so long items weigh more). Per-example scores are sentence-level (<c>sentence_score</c>), and
/// <c>chrf_sentence_mean</c> is their mean. Bootstrap resamples redo the corpus sums over the drawn items.
/// </summary>
public sealed class ChrfMetric : IMetric
{
    public ChrfMetric(int charOrder = 6, double beta = 2, bool whitespace = false, bool lowercase = false, bool epsSmoothing = false)
    {
        if (charOrder < 1) throw new ArgumentOutOfRangeException(nameof(charOrder), "chrF needs a character order of at least 1");
        if (!(beta > 0)) throw new ArgumentOutOfRangeException(nameof(beta), "chrF needs β > 0");
        CharOrder = charOrder;
        Beta = beta;
        Whitespace = whitespace;
        Lowercase = lowercase;
        EpsSmoothing = epsSmoothing;
    }

    public string Name => "chrf";

    public MetricDirection Direction => MetricDirection.HigherIsBetter;

    public int CharOrder { get; }
    public double Beta { get; }
    /// <summary>Keep whitespace inside n-grams (sacreBLEU's <c>whitespace=True</c>).</summary>
    public bool Whitespace { get; }
    public bool Lowercase { get; }
    public bool EpsSmoothing { get; }

    /// <summary>
    /// Per order n = 1..<see cref="CharOrder"/>: [hypothesis n-grams, reference n-grams, matches (clipped counts)] at
    /// <c>3(n−1)</c>. As in sacreBLEU, the hypothesis count is 0 for an order where the reference has no n-grams.
    /// </summary>
    public long[] Statistics(string hypothesis, string reference)
    {
        string[] hyp = CodePoints(Preprocess(hypothesis)), refs = CodePoints(Preprocess(reference));
        var stats = new long[3 * CharOrder];
        for (int n = 1; n <= CharOrder; n++)
        {
            var refCounts = NGrams(refs, n);
            var hypCounts = NGrams(hyp, n);
            long hypTotal = 0, refTotal = 0, match = 0;
            foreach (var (gram, count) in hypCounts)
            {
                hypTotal += count;
                if (refCounts.TryGetValue(gram, out int rc)) match += Math.Min(count, rc);
            }
            foreach (int count in refCounts.Values) refTotal += count;
            stats[3 * (n - 1)] = refCounts.Count > 0 ? hypTotal : 0;
            stats[3 * (n - 1) + 1] = refTotal;
            stats[3 * (n - 1) + 2] = match;
        }
        return stats;
    }

    /// <summary>The chrF score (0–100) of summed statistics.</summary>
    public double Score(ReadOnlySpan<long> stats)
    {
        const double eps = 1e-16;
        double factor = Beta * Beta, score = 0, avgPrecision = 0, avgRecall = 0;
        int effectiveOrder = 0;
        for (int i = 0; i < CharOrder; i++)
        {
            long nHyp = stats[3 * i], nRef = stats[3 * i + 1], nMatch = stats[3 * i + 2];
            double precision = nHyp > 0 ? (double)nMatch / nHyp : eps;
            double recall = nRef > 0 ? (double)nMatch / nRef : eps;
            double denominator = factor * precision + recall;
            score += denominator > 0 ? (1 + factor) * precision * recall / denominator : eps;
            if (nHyp > 0 && nRef > 0)
            {
                avgPrecision += precision;
                avgRecall += recall;
                effectiveOrder++;
            }
        }
        if (EpsSmoothing) return 100 * score / CharOrder;
        if (effectiveOrder == 0) return 0;
        avgPrecision /= effectiveOrder;
        avgRecall /= effectiveOrder;
        if (avgPrecision + avgRecall == 0) return 0;
        return 100 * (1 + factor) * avgPrecision * avgRecall / (factor * avgPrecision + avgRecall);
    }

    public double SentenceScore(string hypothesis, string reference) => Score(Statistics(hypothesis, reference));

    public double CorpusScore(IEnumerable<(string Hypothesis, string Reference)> pairs)
    {
        var sum = new long[3 * CharOrder];
        foreach (var (h, r) in pairs)
        {
            long[] s = Statistics(h, r);
            for (int k = 0; k < s.Length; k++) sum[k] += s[k];
        }
        return Score(sum);
    }

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        int n = items.Count, width = 3 * CharOrder;
        var stats = new long[n][];
        var sentence = new double[n];
        for (int i = 0; i < n; i++)
        {
            stats[i] = Statistics(items[i].Prediction, items[i].Reference);
            sentence[i] = Score(stats[i]);
        }
        var estimates = bootstrap.Estimate(2, (weights, outputs) =>
        {
            Span<long> sum = stackalloc long[width];
            for (int i = 0; i < n; i++)
            {
                int w = weights[i];
                if (w == 0) continue;
                for (int k = 0; k < width; k++) sum[k] += w * stats[i][k];
            }
            outputs[0] = Score(sum);
            outputs[1] = Bootstrap.WeightedMean(sentence, weights);
        });
        var values = new OrderedDictionary<string, MetricValue> { [Name] = estimates[0], ["chrf_sentence_mean"] = estimates[1] };
        return new MetricResult(Name, Direction, values, sentence);
    }

    private string Preprocess(string text)
    {
        if (Lowercase) text = text.ToLowerInvariant();
        if (Whitespace) return text;
        // Python's ''.join(text.split()): every whitespace character goes.
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
            if (!TextNormalization.IsPythonSpace(c)) sb.Append(c);
        return sb.ToString();
    }

    /// <summary>The text as one string per code point (Python indexes strings by code point).</summary>
    private static string[] CodePoints(string text) => [.. text.EnumerateRunes().Select(r => r.ToString())];

    private static Dictionary<string, int> NGrams(string[] codePoints, int n)
    {
        var counts = new Dictionary<string, int>();
        for (int i = 0; i + n <= codePoints.Length; i++)
        {
            string gram = string.Concat(codePoints.AsSpan(i, n));
            counts[gram] = counts.GetValueOrDefault(gram) + 1;
        }
        return counts;
    }
}
