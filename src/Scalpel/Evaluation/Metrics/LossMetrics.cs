namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// <c>token_loss</c> and <c>perplexity</c> from each item's summed reference-token NLL (<see cref="EvalItem.TokenLoss"/>)
/// and token count: <c>token_loss</c> = Σ loss / Σ tokens over all items (a token-weighted mean, as training reports
/// loss), <c>perplexity</c> = exp(token_loss). Bootstrap resamples examples, not tokens, and redoes both sums. The
/// per-example score is the item's own mean NLL (or its exponential), NaN for an item with no tokens.
/// Every item needs both numbers.
/// </summary>
public sealed class TokenLossMetric(bool perplexity) : IMetric
{
    public string Name => perplexity ? "perplexity" : "token_loss";

    public MetricDirection Direction => MetricDirection.LowerIsBetter;

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        int n = items.Count;
        var loss = new double[n];
        var tokens = new long[n];
        var scores = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (items[i].TokenLoss is not { } l || items[i].TokenCount is not { } c)
                throw new ArgumentException($"metric '{Name}': item {i} has no token loss (the suite must score reference tokens for this metric)");
            if (c < 0 || !double.IsFinite(l)) throw new ArgumentException($"metric '{Name}': item {i} has token loss {l} over {c} tokens");
            loss[i] = l;
            tokens[i] = c;
            scores[i] = c == 0 ? double.NaN : Transform(l / c);
        }
        if (tokens.Sum() == 0) throw new ArgumentException($"metric '{Name}': no item has any reference tokens");

        var estimate = bootstrap.Estimate(1, (weights, outputs) =>
        {
            double sumLoss = 0;
            long sumTokens = 0;
            for (int i = 0; i < n; i++)
            {
                sumLoss += weights[i] * loss[i];
                sumTokens += weights[i] * tokens[i];
            }
            outputs[0] = sumTokens == 0 ? double.NaN : Transform(sumLoss / sumTokens);
        })[0];
        var values = new OrderedDictionary<string, MetricValue> { [Name] = estimate };
        return new MetricResult(Name, Direction, values, scores);
    }

    private double Transform(double meanNll) => perplexity ? Math.Exp(meanNll) : meanNll;
}
