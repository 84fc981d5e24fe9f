namespace Scalpel.Evaluation.Metrics;

/// <summary><c>exact_match</c>: the prediction equals the reference after trimming surrounding whitespace (ordinal).</summary>
public sealed class ExactMatchMetric : PerExampleMetric
{
    public override string Name => "exact_match";

    public static bool Matches(string prediction, string reference) => prediction.Trim() == reference.Trim();

    protected override double Score(EvalItem item, out string? note)
    {
        note = null;
        return Matches(item.Prediction, item.Reference) ? 1 : 0;
    }
}

/// <summary><c>normalized_match</c>: the prediction equals the reference after <see cref="TextNormalization.Squad"/> (SQuAD's exact match).</summary>
public sealed class NormalizedMatchMetric : PerExampleMetric
{
    public override string Name => "normalized_match";

    public static bool Matches(string prediction, string reference) => TextNormalization.Squad(prediction) == TextNormalization.Squad(reference);

    protected override double Score(EvalItem item, out string? note)
    {
        note = null;
        return Matches(item.Prediction, item.Reference) ? 1 : 0;
    }
}
