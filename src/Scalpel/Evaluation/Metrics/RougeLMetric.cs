using System.Text;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// <c>rouge_l</c>: ROUGE-L (Lin 2004) as Google's rouge-score package computes <c>rougeL</c> without stemming: tokens
/// are the text lower-cased with every run of characters other than a-z and 0-9 replaced by a space, split on
/// spaces; precision and recall are the longest common subsequence's length over the prediction's and the
/// reference's token counts, and the item's score is their F1 (0 if either text has no tokens). The headline is the
/// mean F1 over items, with <c>rouge_l/precision</c> and <c>rouge_l/recall</c> means beside it.
/// </summary>
public sealed class RougeLMetric : IMetric
{
    public string Name => "rouge_l";

    public MetricDirection Direction => MetricDirection.HigherIsBetter;

    /// <summary>rouge-score's tokenizer without a stemmer.</summary>
    public static IReadOnlyList<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        foreach (char c in text.ToLowerInvariant())
        {
            if (c is >= 'a' and <= 'z' or >= '0' and <= '9') current.Append(c);
            else if (current.Length > 0) { tokens.Add(current.ToString()); current.Clear(); }
        }
        if (current.Length > 0) tokens.Add(current.ToString());
        return tokens;
    }

    /// <summary>The length of the longest common subsequence of two token lists.</summary>
    public static int LcsLength(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
                current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return previous[b.Count];
    }

    /// <summary>ROUGE-L precision, recall and F1 of <paramref name="prediction"/> against <paramref name="reference"/>.</summary>
    public static (double Precision, double Recall, double F1) Score(string prediction, string reference)
    {
        var p = Tokenize(prediction);
        var r = Tokenize(reference);
        if (p.Count == 0 || r.Count == 0) return (0, 0, 0);
        int lcs = LcsLength(r, p);
        double precision = (double)lcs / p.Count, recall = (double)lcs / r.Count;
        double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
        return (precision, recall, f1);
    }

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        var f1 = new double[items.Count];
        var precision = new double[items.Count];
        var recall = new double[items.Count];
        for (int i = 0; i < items.Count; i++) (precision[i], recall[i], f1[i]) = Score(items[i].Prediction, items[i].Reference);
        var estimates = bootstrap.Estimate(3, (w, o) =>
        {
            o[0] = Bootstrap.WeightedMean(f1, w);
            o[1] = Bootstrap.WeightedMean(precision, w);
            o[2] = Bootstrap.WeightedMean(recall, w);
        });
        var values = new OrderedDictionary<string, MetricValue>
        {
            [Name] = estimates[0],
            [Name + "/precision"] = estimates[1],
            [Name + "/recall"] = estimates[2],
        };
        return new MetricResult(Name, Direction, values, f1);
    }
}
