using System.Collections.Concurrent;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>What <c>run_status</c> answers: where a run is and its latest metrics.</summary>
public sealed record McpRunStatus(
    string RunId, string State, string RunDirectory, int Step, int TotalSteps, int Epoch, double? Loss, double? ValLoss,
    double? ValAccuracy, double? BestValLoss, int? BestStep, string? StopReason, string? OutputPath, string? Error, double ElapsedSeconds);

/// <summary>
/// Training runs started by this MCP server: each one trains on its own thread while tool calls return at once.
/// A run's latest progress is kept for <c>run_status</c>; <see cref="Progressed"/> wakes anyone following it.
/// </summary>
public sealed class McpRuns(string? registryPath)
{
    private sealed class Run(string id, string directory) : BackgroundWork(id)
    {
        public string Directory { get; } = directory;
        public volatile FineTuneProgress? Latest;
        /// <summary>The latest training-step loss (validation reports carry none); NaN before the first step.</summary>
        public double Loss = double.NaN;
        public volatile FineTuneResult? Result;
    }

    private readonly ConcurrentDictionary<string, Run> _runs = new(StringComparer.Ordinal);

    public string? RegistryPath { get; } = registryPath;

    /// <summary>The evaluate / compare / export jobs of the same server.</summary>
    public McpJobs Jobs { get; } = new();

    /// <summary>The data check reports of the same server, served as resources.</summary>
    public McpDataChecks DataChecks { get; } = new();

    /// <summary>Starts training <paramref name="config"/> on a background thread and returns its id at once.</summary>
    public string Start(TrainConfig config, bool resume)
    {
        string id = RunRecord.NewId();
        var run = new Run(id, Path.GetFullPath(config.Output.Dir));
        foreach (var other in _runs.Values)
            if (!other.Done && other.Directory == run.Directory)
                throw new FineTuneException($"{run.Directory}: run {other.Id} is already training there");
        _runs[id] = run;
        var progress = new InlineProgress<FineTuneProgress>(p =>
        {
            if (p.Loss is double loss) Volatile.Write(ref run.Loss, loss);
            run.Latest = p;
            run.Signal();
        });
        // start_training checked the plan (or was told to ignore it): the recipe need not plan again.
        run.Start(() => run.Result = FineTuneRecipe.Run(config, resume, RegistryPath, progress, run.Cancel.Token, checkMemory: false));
        return id;
    }

    public McpRunStatus Status(string id)
    {
        var run = Find(id);
        var p = run.Latest;
        var r = run.Result;
        string state = !run.Done ? "running" : r is not null ? RunRecord.StatusName(r.Status) : run.Cancel.IsCancellationRequested ? "interrupted" : "failed";
        return new McpRunStatus(run.Id, state, run.Directory, r?.Steps ?? p?.Step ?? 0, p?.TotalSteps ?? 0, p?.Epoch ?? 0, Volatile.Read(ref run.Loss) is var l && !double.IsNaN(l) ? l : null, p?.ValLoss,
            p?.ValAccuracy, r?.BestValLoss, r?.BestStep, r?.StopReason, r?.OutputPath, run.Error, p?.Elapsed.TotalSeconds ?? 0);
    }

    public McpRunStatus Cancel(string id)
    {
        Find(id).Cancel.Cancel();
        return Status(id);
    }

    /// <summary>Waits until the run reports progress or ends, or <paramref name="timeout"/> passes.</summary>
    public Task WaitForChange(string id, TimeSpan timeout, CancellationToken cancellationToken) =>
        Find(id).WaitForChange(timeout, cancellationToken);

    /// <summary>When the client goes away: ask every run still training to stop (each saves a checkpoint) and every job to cancel, and wait for them.</summary>
    public void StopAll(TimeSpan timeout)
    {
        foreach (var run in _runs.Values) run.Cancel.Cancel();   // first, so runs checkpoint while the jobs wind down
        Jobs.StopAll(timeout);
        BackgroundWork.StopAll(_runs.Values, timeout);
    }

    public IReadOnlyList<McpRunStatus> Active() => _runs.Keys.Select(Status).ToList();

    public bool IsKnown(string id) => _runs.ContainsKey(id);

    private Run Find(string id) =>
        _runs.TryGetValue(id, out var run) ? run : throw new ArgumentException($"run {id}: no such run started by this server (list_runs shows them)");
}
