using System.Globalization;
using Scalpel.Evaluation.Metrics;

namespace Scalpel.Evaluation;

/// <summary>What kind of setup produced a result: the verdict weighs adapters against prompting.</summary>
public enum SetupKind
{
    Prompting,
    Adapter,
    Endpoint,
}

public sealed record SetupInfo(string Name, SetupKind Kind, string Description);

/// <summary>One task under every setup, plus the setups that could not run and why.</summary>
public sealed record TaskComparison(EvalTask Task, IReadOnlyList<SetupResult> Results, IReadOnlyDictionary<string, string> Skipped)
{
    /// <summary>The metric the verdict is about: the task's first.</summary>
    public string PrimaryMetric => Results.Count > 0 ? Results[0].Metrics[0].Metric : Task.Metrics[0].Name;

    public SetupResult? Result(string setup) => Results.FirstOrDefault(r => r.Setup == setup);
}

/// <summary>The plain conclusion of a comparison.</summary>
public sealed record Verdict(
    string Winner,
    string Summary,
    string Task,
    string Metric,
    string? BestPrompting,
    string? BestAdapter,
    PairedComparison? AdapterVersusPrompting,
    bool FineTuningWorthIt,
    bool? RegressionWorse);

/// <summary>Everything a comparison found.</summary>
public sealed record ComparisonResult(
    string Suite,
    IReadOnlyList<SetupInfo> Setups,
    IReadOnlyList<TaskComparison> Tasks,
    TaskComparison? Regression,
    Verdict Verdict);

/// <summary>Decides the verdict from the results: who wins the primary metric, by how much, beyond noise or not.</summary>
public static class VerdictRules
{
    public static Verdict Decide(IReadOnlyList<SetupInfo> setups, IReadOnlyList<TaskComparison> tasks, TaskComparison? regression,
        BootstrapOptions? bootstrap = null)
    {
        var task = tasks[0];
        string metric = task.PrimaryMetric;
        var direction = task.Results.Select(r => r.Metric(metric)).FirstOrDefault(m => m is not null)?.Direction ?? MetricDirection.HigherIsBetter;
        double Sign(double v) => direction == MetricDirection.LowerIsBetter ? -v : v;
        double? Value(string setup) => task.Result(setup)?.Metric(metric)?.Headline.Value;

        var ranked = task.Results.Where(r => r.Metric(metric) is not null)
            .OrderByDescending(r => Sign(r.Metric(metric)!.Headline.Value)).ToList();
        string winner = ranked.Count > 0 ? ranked[0].Setup : "none";
        SetupInfo Info(string name) => setups.First(s => s.Name == name);
        string? bestPrompting = ranked.FirstOrDefault(r => Info(r.Setup).Kind == SetupKind.Prompting)?.Setup;
        string? bestAdapter = ranked.FirstOrDefault(r => Info(r.Setup).Kind == SetupKind.Adapter)?.Setup;

        PairedComparison? paired = null;
        if (bestPrompting is not null && bestAdapter is not null)
        {
            var a = task.Result(bestAdapter)!.Metric(metric)!.PerExample;
            var p = task.Result(bestPrompting)!.Metric(metric)!.PerExample;
            var signedA = a.Select(Sign).ToList();
            var signedP = p.Select(Sign).ToList();
            paired = new Bootstrap(a.Count, bootstrap).PairedDifference(signedA, signedP);
        }

        bool? regressionWorse = null;
        string regressionSentence = "";
        if (regression is not null && bestAdapter is not null && regression.Result(PromptSetups.ZeroShotName) is { } baseReg
            && regression.Result(bestAdapter) is { } tunedReg)
        {
            string rm = regression.PrimaryMetric;
            var rDirection = baseReg.Metric(rm)!.Direction;
            double RSign(double v) => rDirection == MetricDirection.LowerIsBetter ? -v : v;
            var diff = new Bootstrap(baseReg.Examples.Count, bootstrap).PairedDifference(
                tunedReg.Metric(rm)!.PerExample.Select(RSign).ToList(), baseReg.Metric(rm)!.PerExample.Select(RSign).ToList());
            regressionWorse = diff.Difference.Ci95High < 0;
            double before = baseReg.Metric(rm)!.Headline.Value, after = tunedReg.Metric(rm)!.Headline.Value;
            regressionSentence = regressionWorse.Value
                ? $" The regression set got worse: {rm} {F(before)} → {F(after)} with {bestAdapter} (beyond noise); check what else the adapter changed before shipping it."
                : $" The regression set did not get measurably worse ({rm} {F(before)} → {F(after)} with {bestAdapter}).";
        }

        bool worthIt = paired is { BeyondNoise: true } && paired.Difference.Value > 0;
        string summary;
        if (bestAdapter is null)
            summary = $"No adapter was compared; the best setup on {metric} ({task.Task.Name}) is {winner} at {F(Value(winner))}.";
        else if (bestPrompting is null)
            summary = $"No prompting baseline ran; {bestAdapter} scores {F(Value(bestAdapter))} on {metric}.";
        else
        {
            var d = paired!.Difference;
            string gap = $"{F(Value(bestAdapter))} vs {F(Value(bestPrompting))}, difference {Signed(direction == MetricDirection.LowerIsBetter ? -d.Value : d.Value)} " +
                         $"(95% CI [{Signed(direction == MetricDirection.LowerIsBetter ? -d.Ci95High : d.Ci95Low)}, {Signed(direction == MetricDirection.LowerIsBetter ? -d.Ci95Low : d.Ci95High)}])";
            summary = worthIt
                ? $"Fine-tuning was worth it: {bestAdapter} beats the best prompting baseline, {bestPrompting}, on {metric} ({task.Task.Name}): {gap}, beyond noise."
                : d.Value > 0
                    ? $"Fine-tuning is not clearly worth it: {bestAdapter} is ahead of {bestPrompting} on {metric} ({task.Task.Name}) but within noise: {gap}. Prefer prompting unless more test data shows a real gap."
                    : $"Fine-tuning was not worth it: {bestAdapter} does not beat {bestPrompting} on {metric} ({task.Task.Name}): {gap}. Use {bestPrompting} instead.";
            if (winner != bestAdapter && winner != bestPrompting)
                summary += $" The overall best is {winner} ({F(Value(winner))}).";
        }
        return new Verdict(winner, summary + regressionSentence, task.Task.Name, metric, bestPrompting, bestAdapter, paired, worthIt, regressionWorse);
    }

    internal static string F(double? v) => v is { } x ? x.ToString("0.###", CultureInfo.InvariantCulture) : "n/a";
    private static string Signed(double v) => (v >= 0 ? "+" : "") + v.ToString("0.###", CultureInfo.InvariantCulture);
}
