namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// A metric over a list of scored items. Create one <see cref="Bootstrap"/> per run (over the run's items) and pass
/// it to every metric, so that all intervals come from the same resamples.
/// </summary>
public interface IMetric
{
    /// <summary>The name used in suites (<c>exact_match</c>, <c>chrf</c>), which is also the key of the headline value.</summary>
    string Name { get; }

    MetricDirection Direction { get; }

    MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap);
}

public static class MetricExtensions
{
    /// <summary>Computes with a fresh <see cref="Bootstrap"/> over <paramref name="items"/>.</summary>
    public static MetricResult Compute(this IMetric metric, IReadOnlyList<EvalItem> items, BootstrapOptions? options = null) =>
        metric.Compute(items, new Bootstrap(items.Count, options));

    /// <summary>Computes every metric with one shared <see cref="Bootstrap"/>.</summary>
    public static IReadOnlyList<MetricResult> ComputeAll(this IEnumerable<IMetric> metrics, IReadOnlyList<EvalItem> items, BootstrapOptions? options = null)
    {
        var bootstrap = new Bootstrap(items.Count, options);
        return [.. metrics.Select(m => m.Compute(items, bootstrap))];
    }

    internal static void CheckCount(this Bootstrap bootstrap, IReadOnlyList<EvalItem> items, string metric)
    {
        if (items.Count == 0) throw new ArgumentException($"metric '{metric}' needs at least one item");
        if (bootstrap.Count != items.Count)
            throw new ArgumentException($"metric '{metric}': the bootstrap is over {bootstrap.Count} items, got {items.Count}");
    }
}

/// <summary>
/// A metric that is the mean of a score per item (exact match, ROUGE-L, JSON validity): the value is the mean and the
/// interval bootstraps it.
/// </summary>
public abstract class PerExampleMetric : IMetric
{
    public abstract string Name { get; }

    public virtual MetricDirection Direction => MetricDirection.HigherIsBetter;

    /// <summary>The score of one item and an optional note about it.</summary>
    protected abstract double Score(EvalItem item, out string? note);

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        var scores = new double[items.Count];
        var notes = new string?[items.Count];
        bool anyNote = false;
        for (int i = 0; i < items.Count; i++)
        {
            scores[i] = Score(items[i], out notes[i]);
            anyNote |= notes[i] is not null;
        }
        var values = new OrderedDictionary<string, MetricValue> { [Name] = bootstrap.Mean(scores) };
        return new MetricResult(Name, Direction, values, scores) { Notes = anyNote ? notes : null };
    }
}
