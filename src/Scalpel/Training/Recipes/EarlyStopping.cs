namespace Scalpel.Training.Recipes;

/// <summary>
/// Tracks the best validation metric and how many evaluations in a row failed to improve it by more than
/// <c>minDelta</c>; <see cref="ShouldStop"/> once that count reaches the patience.
/// </summary>
public sealed class EarlyStopping(bool higherIsBetter, int? patience, double minDelta)
{
    public double? Best { get; private set; }
    public int BestStep { get; private set; }
    public int EvaluationsWithoutImprovement { get; private set; }
    public bool ShouldStop => patience is int p && EvaluationsWithoutImprovement >= p;

    /// <summary>Records one evaluation; returns true when it is the new best.</summary>
    public bool Observe(int step, double value)
    {
        bool improved = Best is not double best || (higherIsBetter ? value > best + minDelta : value < best - minDelta);
        if (improved)
        {
            Best = value;
            BestStep = step;
            EvaluationsWithoutImprovement = 0;
        }
        else EvaluationsWithoutImprovement++;
        return improved;
    }

    /// <summary>Restores the state saved in a checkpoint.</summary>
    public void Restore(double? best, int bestStep, int withoutImprovement)
    {
        Best = best;
        BestStep = bestStep;
        EvaluationsWithoutImprovement = withoutImprovement;
    }
}
