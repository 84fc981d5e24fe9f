using Scalpel.Evaluation.Metrics;
using Scalpel.Generation;

namespace Scalpel.Evaluation;

/// <summary>What <see cref="CompareRunner"/> compares.</summary>
public sealed record CompareOptions
{
    public required string ModelDirectory { get; init; }
    /// <summary>Training examples for the few-shot setups (random and retrieved); null skips those setups.</summary>
    public string? TrainPath { get; init; }
    public IReadOnlyList<string> Adapters { get; init; } = [];
    /// <summary>An OpenAI-compatible endpoint (base URL ending in /v1) and model name, as a larger-model baseline.</summary>
    public Uri? Endpoint { get; init; }
    public string? EndpointModel { get; init; }
    public string? EndpointApiKey { get; init; }
    /// <summary>A general instruction set scored for the base model and each adapter (overrides the suite's).</summary>
    public string? RegressionPath { get; init; }
    /// <summary>Score at most this many examples per task (overrides the suite's limits when smaller).</summary>
    public int? Limit { get; init; }
    public BootstrapOptions Bootstrap { get; init; } = BootstrapOptions.Default;
    public int MaxBatch { get; init; } = 8;
}

/// <summary>
/// Runs every setup of a suite on the same test examples: the prompting baselines (zero-shot, system prompt, few-shot
/// random, few-shot retrieved) on the base model, each adapter (prompted like its training data: zero-shot), and an
/// optional endpoint (with the suite's system prompt when there is one). Models are loaded one at a time.
/// </summary>
public static class CompareRunner
{
    public static ComparisonResult Run(EvalSuite suite, CompareOptions options, IProgress<string>? progress = null)
    {
        var train = options.TrainPath is { } tp ? EvalExample.Read(tp) : null;
        var setupsBuilder = new PromptSetups(train);
        var regressionTask = options.RegressionPath is { } rp ? EvalSuite.RegressionTask(rp) : suite.Regression;
        var tests = suite.Tasks.ToDictionary(t => t.Name, t => EvalExample.Read(t.DataPath, Limit(t, options)));
        var regressionTests = regressionTask is null ? null : EvalExample.Read(regressionTask.DataPath, Limit(regressionTask, options));
        foreach (var task in suite.Tasks) EvalMetrics.Create(task);        // bad metric options fail before any model loads
        if (regressionTask is not null) EvalMetrics.Create(regressionTask);

        var setups = new List<SetupInfo>();
        var results = suite.Tasks.ToDictionary(t => t.Name, _ => new List<SetupResult>());
        var skipped = suite.Tasks.ToDictionary(t => t.Name, _ => new Dictionary<string, string>());
        var regressionResults = new List<SetupResult>();

        progress?.Report($"loading {options.ModelDirectory}");
        using (var model = InferenceModel.Load(options.ModelDirectory))
        {
            var source = new LocalModelSource(model, options.MaxBatch);
            foreach (var kind in Enum.GetValues<PromptKind>())
            {
                string name = PromptSetups.NameOf(kind);
                setups.Add(new SetupInfo(name, SetupKind.Prompting, Describe(kind)));
                foreach (var task in suite.Tasks)
                {
                    if (setupsBuilder.Unavailable(kind, task) is { } why)
                    {
                        skipped[task.Name][name] = why;
                        continue;
                    }
                    results[task.Name].Add(EvalRunner.Run(task, name, tests[task.Name], t => setupsBuilder.Messages(kind, t, task), source,
                        options.Bootstrap, progress));
                }
            }
            if (regressionTask is not null)
                regressionResults.Add(EvalRunner.Run(regressionTask, PromptSetups.ZeroShotName, regressionTests!,
                    t => setupsBuilder.Messages(PromptKind.ZeroShot, t, regressionTask), source, options.Bootstrap, progress));
        }

        foreach (var adapter in options.Adapters)
        {
            string name = AdapterName(adapter, setups);
            setups.Add(new SetupInfo(name, SetupKind.Adapter, $"adapter {adapter}, prompted zero-shot like its training data"));
            progress?.Report($"loading {options.ModelDirectory} + {adapter}");
            using var model = InferenceModel.Load(options.ModelDirectory, adapter);
            var source = new LocalModelSource(model, options.MaxBatch);
            foreach (var task in suite.Tasks)
                results[task.Name].Add(EvalRunner.Run(task, name, tests[task.Name], t => setupsBuilder.Messages(PromptKind.ZeroShot, t, task),
                    source, options.Bootstrap, progress));
            if (regressionTask is not null)
                regressionResults.Add(EvalRunner.Run(regressionTask, name, regressionTests!,
                    t => setupsBuilder.Messages(PromptKind.ZeroShot, t, regressionTask), source, options.Bootstrap, progress));
        }

        if (options.Endpoint is { } endpoint)
        {
            string name = "endpoint:" + (options.EndpointModel ?? "model");
            setups.Add(new SetupInfo(name, SetupKind.Endpoint, $"{options.EndpointModel} at {endpoint}, with the system prompt when the suite gives one"));
            var source = new EndpointSource(endpoint, options.EndpointModel ?? "model", options.EndpointApiKey);
            foreach (var task in suite.Tasks)
            {
                var kind = string.IsNullOrWhiteSpace(task.SystemPrompt) ? PromptKind.ZeroShot : PromptKind.SystemPrompt;
                results[task.Name].Add(EvalRunner.Run(task, name, tests[task.Name], t => setupsBuilder.Messages(kind, t, task), source,
                    options.Bootstrap, progress));
            }
        }

        var tasks = suite.Tasks.Select(t => new TaskComparison(t, results[t.Name], skipped[t.Name])).ToList();
        var regression = regressionTask is null ? null : new TaskComparison(regressionTask, regressionResults, new Dictionary<string, string>());
        var verdict = VerdictRules.Decide(setups, tasks, regression, options.Bootstrap);
        return new ComparisonResult(suite.Name, setups, tasks, regression, verdict);
    }

    private static int? Limit(EvalTask task, CompareOptions options) =>
        (task.Limit, options.Limit) switch
        {
            ({ } a, { } b) => Math.Min(a, b),
            (var a, var b) => a ?? b,
        };

    /// <summary>An adapter's setup name: its folder name; "parent/name" when another setup already has that name.</summary>
    public static string AdapterName(string adapterDirectory, IReadOnlyList<SetupInfo> taken)
    {
        var full = Path.GetFullPath(adapterDirectory).TrimEnd(Path.DirectorySeparatorChar);
        string name = Path.GetFileName(full);
        if (taken.All(s => s.Name != name)) return name;
        string qualified = $"{Path.GetFileName(Path.GetDirectoryName(full))}/{name}";
        string unique = qualified;
        for (int i = 2; taken.Any(s => s.Name == unique); i++) unique = $"{qualified}-{i}";
        return unique;
    }

    private static string Describe(PromptKind kind) => kind switch
    {
        PromptKind.ZeroShot => "base model, the instruction alone",
        PromptKind.SystemPrompt => "base model with the suite's system prompt",
        PromptKind.FewShotRandom => "base model, k random training examples as earlier turns",
        _ => "base model, the k most similar training examples (BM25) as earlier turns",
    };
}
