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
    private sealed class Run(string id, string directory)
    {
        public string Id { get; } = id;
        public string Directory { get; } = directory;
        public CancellationTokenSource Cancel { get; } = new();
        public volatile FineTuneProgress? Latest;
        /// <summary>The latest training-step loss (validation reports carry none); NaN before the first step.</summary>
        public double Loss = double.NaN;
        public volatile FineTuneResult? Result;
        public volatile string? Error;
        public volatile bool Done;
        public Task Task = Task.CompletedTask;
        public TaskCompletionSource Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Signal() => Interlocked.Exchange(ref Changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
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
        var progress = new InlineProgress(p =>
        {
            if (p.Loss is double loss) Volatile.Write(ref run.Loss, loss);
            run.Latest = p;
            run.Signal();
        });
        run.Task = Task.Factory.StartNew(() =>
        {
            try { run.Result = FineTuneRecipe.Run(config, resume, RegistryPath, progress, run.Cancel.Token, checkMemory: false); }   // start_training checked the plan (or was told to ignore it)
            catch (OperationCanceledException) { run.Error = "cancelled"; }
            catch (Exception e) { run.Error = e.Message; }
            finally { run.Done = true; run.Signal(); }
        }, TaskCreationOptions.LongRunning);
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
    public async Task WaitForChange(string id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var run = Find(id);
        if (run.Done) return;
        var changed = run.Changed.Task;
        await Task.WhenAny(changed, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>When the client goes away: ask every run still training to stop (each saves a checkpoint) and every job to cancel, and wait for them.</summary>
    public void StopAll(TimeSpan timeout)
    {
        var running = _runs.Values.Where(r => !r.Done).ToList();
        foreach (var run in running) run.Cancel.Cancel();   // first, so runs checkpoint while the jobs wind down
        Jobs.StopAll(timeout);
        Task.WaitAll(running.Select(r => r.Task).ToArray(), timeout);
    }

    public IReadOnlyList<McpRunStatus> Active() => _runs.Keys.Select(Status).ToList();

    public bool IsKnown(string id) => _runs.ContainsKey(id);

    private Run Find(string id) =>
        _runs.TryGetValue(id, out var run) ? run : throw new ArgumentException($"run {id}: no such run started by this server (list_runs shows them)");

    private sealed class InlineProgress(Action<FineTuneProgress> report) : IProgress<FineTuneProgress>
    {
        public void Report(FineTuneProgress value) => report(value);
    }
}
