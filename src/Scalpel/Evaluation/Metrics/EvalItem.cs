using System.Text.Json.Nodes;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// One scored test example: the model's prediction and the reference it is scored against (the example's final
/// assistant message). Tool calls are in OpenAI form (<c>[{"type": "function", "function": {"name": ..., "arguments":
/// "{...}"}}]</c>); <see cref="TokenLoss"/> is the summed negative log-likelihood (nats) of the reference tokens under
/// the model and <see cref="TokenCount"/> the number of those tokens, for the loss metrics.
/// </summary>
public sealed record EvalItem(
    string Prediction,
    string Reference,
    JsonArray? PredictedToolCalls = null,
    JsonArray? ReferenceToolCalls = null,
    double? TokenLoss = null,
    int? TokenCount = null);

/// <summary>A metric's value with its percentile-bootstrap 95% confidence interval.</summary>
public readonly record struct MetricValue(double Value, double Ci95Low, double Ci95High)
{
    public override string ToString() => FormattableString.Invariant($"{Value:G6} [{Ci95Low:G6}, {Ci95High:G6}]");
}

/// <summary>Which way a metric improves: the comparison report uses it to say which setup is better.</summary>
public enum MetricDirection
{
    HigherIsBetter,
    LowerIsBetter,
    /// <summary>Neither is better in general (a refusal rate: wanted on harmful prompts, unwanted on benign ones).</summary>
    Neutral,
}

/// <summary>
/// Rows are the reference labels, columns the predicted labels in the same order followed by one
/// <see cref="OtherColumn"/> column for predictions that are none of the labels: <c>Counts[row][column]</c>.
/// </summary>
public sealed record ConfusionMatrix(IReadOnlyList<string> Labels, IReadOnlyList<IReadOnlyList<int>> Counts)
{
    /// <summary>The name of the last column (predictions that match no label).</summary>
    public const string OtherColumn = "<other>";

    public IReadOnlyList<string> Columns => [.. Labels, OtherColumn];
}

/// <summary>
/// What a metric computed over a list of items. <see cref="Values"/> holds the headline first (keyed by the metric's
/// name) and then any secondary values (<c>macro_f1</c>, <c>precision/&lt;label&gt;</c>, <c>field/&lt;name&gt;</c>), in a
/// stable order. <see cref="PerExample"/> has one score per item, in item order, for tables of examples where two
/// setups disagree and for <see cref="Bootstrap.PairedDifference"/>; it is NaN where an item has no score.
/// </summary>
public sealed record MetricResult(
    string Metric,
    MetricDirection Direction,
    IReadOnlyDictionary<string, MetricValue> Values,
    IReadOnlyList<double> PerExample)
{
    /// <summary>The headline value: <c>Values[Metric]</c>.</summary>
    public MetricValue Headline => Values[Metric];

    /// <summary>Optional short note per item (the schema error, the label a prediction mapped to), null where none.</summary>
    public IReadOnlyList<string?>? Notes { get; init; }

    /// <summary>For classification metrics.</summary>
    public ConfusionMatrix? Confusion { get; init; }
}
