using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;

namespace Scalpel.Evaluation;

/// <summary>One example's outcome under one setup.</summary>
public sealed record ExampleResult(
    int Index,
    string Source,
    string Input,
    string Reference,
    string Prediction,
    JsonArray? PredictedToolCalls,
    JsonArray? ReferenceToolCalls,
    double? LossSum,
    int? LossTokens,
    string FinishReason)
{
    public EvalItem ToItem() => new(Prediction, Reference, PredictedToolCalls, ReferenceToolCalls, LossSum, LossTokens);
}

/// <summary>A task scored under one setup (a prompting baseline, an adapter or an endpoint), or why it was not run.</summary>
public sealed record SetupResult(string Task, string Setup, IReadOnlyList<ExampleResult> Examples, IReadOnlyList<MetricResult> Metrics)
{
    public MetricResult? Metric(string name) => Metrics.FirstOrDefault(m => m.Metric == name);
}

/// <summary>The metrics a suite may name, and computing them over a setup's examples with one shared bootstrap.</summary>
public static class EvalMetrics
{
    public static IReadOnlyList<string> Names => MetricRegistry.Names;

    public static bool IsKnown(string name) => MetricRegistry.Names.Contains(name);

    public static bool NeedsLoss(IEnumerable<MetricSpec> metrics) => metrics.Any(m => m.Name is "perplexity" or "token_loss");

    /// <summary>Creates the metrics of a task; bad options throw <see cref="EvalSuiteException"/> naming the task and metric.</summary>
    public static List<IMetric> Create(EvalTask task)
    {
        var list = new List<IMetric>();
        foreach (var spec in task.Metrics)
        {
            try
            {
                list.Add(MetricRegistry.Create(spec.Name, new MetricOptions((JsonObject)spec.Options.DeepClone())));
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or FormatException)
            {
                throw new EvalSuiteException($"task '{task.Name}': metric {spec.Name}: {e.Message}");
            }
        }
        return list;
    }
}

/// <summary>Runs one task under one setup: answers every test prompt, scores reference losses when asked, computes metrics.</summary>
public static class EvalRunner
{
    public static SetupResult Run(EvalTask task, string setup, IReadOnlyList<EvalExample> tests, Func<EvalExample, JsonArray> messages,
        IAnswerSource source, BootstrapOptions? bootstrap = null, IProgress<string>? progress = null)
    {
        var metrics = EvalMetrics.Create(task);
        var prompts = tests.Select(t => new EvalPrompt(messages(t), t.Tools)).ToList();
        var answers = source.Answer(prompts, task.Generation,
            progress is null ? null : new InlineProgress<int>(n => progress.Report($"{task.Name} / {setup}: {n}/{tests.Count} answered")));
        IReadOnlyList<(double LossSum, int Tokens)>? losses = null;
        if (EvalMetrics.NeedsLoss(task.Metrics))
        {
            progress?.Report($"{task.Name} / {setup}: scoring reference tokens");
            losses = source.ReferenceLoss(prompts, tests.Select(t => t.ReferenceMessage).ToList());
        }
        var examples = tests.Select((t, i) => new ExampleResult(
            t.Index, t.Source.ToString(), t.QueryText, t.Reference, answers[i].Text, answers[i].ToolCalls, t.ReferenceToolCalls,
            losses?[i].LossSum, losses?[i].Tokens, answers[i].FinishReason)).ToList();
        // Loss metrics need losses; an endpoint has none, so those metrics are left out for it.
        var usable = losses is null ? metrics.Where(m => m.Name is not ("perplexity" or "token_loss")).ToList() : metrics;
        var results = usable.ComputeAll(examples.Select(e => e.ToItem()).ToList(), bootstrap);
        return new SetupResult(task.Name, setup, examples, results);
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
