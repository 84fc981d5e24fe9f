using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>
/// What <c>job_status</c> answers: a background evaluate / compare / export job, how far it got (progress counts the
/// library's progress lines, message is the latest), and once completed its result (the tool's structured output).
/// </summary>
/// <remarks>Result is a map rather than a JsonElement: the schema of a JsonElement is the boolean <c>true</c>, which MCP
/// clients refuse as a property of a tool's output schema.</remarks>
public sealed record McpJobStatus(string JobId, string Kind, string State, int Progress, string? Message, IReadOnlyDictionary<string, JsonElement>? Result, string? Error,
    double ElapsedSeconds);

/// <summary>
/// Evaluations, comparisons and exports started by this MCP server: each runs on its own thread and the tool that
/// started it returns a job id at once, so a long job never holds up a tool call. Cancelling takes effect at the
/// job's next progress report (every chunk of answered examples, every load and write step).
/// </summary>
public sealed class McpJobs
{
    private sealed class Job(string id, string kind) : BackgroundWork(id)
    {
        public string Kind { get; } = kind;
        public Stopwatch Clock { get; } = Stopwatch.StartNew();
        public int Progress;
        public volatile string? Message;
        public IReadOnlyDictionary<string, JsonElement>? Result;

        protected override void Finished() => Clock.Stop();
    }

    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);

    /// <summary>Starts <paramref name="work"/> on a background thread; returns the job id at once.</summary>
    public string Start(string kind, Func<IProgress<string>, CancellationToken, JsonObject> work)
    {
        var job = new Job(RunRecord.NewId(), kind);
        _jobs[job.Id] = job;
        // The library's long calls take progress but no cancellation token: the progress callback is where a cancel
        // request gets in, by throwing out of the library at its next report.
        var progress = new InlineProgress<string>(line =>
        {
            job.Cancel.Token.ThrowIfCancellationRequested();
            Interlocked.Increment(ref job.Progress);
            job.Message = line;
            job.Signal();
        });
        job.Start(() => job.Result = work(progress, job.Cancel.Token).ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)));
        return job.Id;
    }

    public McpJobStatus Status(string id)
    {
        var job = Find(id);
        bool done = job.Done;   // read first: Result and Error are written before Done
        string state = !done ? "running" : job.Result is not null ? "completed" : job.Cancel.IsCancellationRequested ? "cancelled" : "failed";
        return new McpJobStatus(job.Id, job.Kind, state, Volatile.Read(ref job.Progress), job.Message, done ? job.Result : null,
            done ? job.Error : null, job.Clock.Elapsed.TotalSeconds);
    }

    public McpJobStatus Cancel(string id)
    {
        Find(id).Cancel.Cancel();
        return Status(id);
    }

    /// <summary>Waits until the job reports progress or ends, or <paramref name="timeout"/> passes.</summary>
    public Task WaitForChange(string id, TimeSpan timeout, CancellationToken cancellationToken) =>
        Find(id).WaitForChange(timeout, cancellationToken);

    public IReadOnlyList<McpJobStatus> All() => _jobs.Keys.Select(Status).OrderBy(s => s.JobId, StringComparer.Ordinal).ToList();

    /// <summary>When the server stops: cancel every job still running and wait for them.</summary>
    public void StopAll(TimeSpan timeout) => BackgroundWork.StopAll(_jobs.Values, timeout);

    private Job Find(string id) =>
        _jobs.TryGetValue(id, out var job) ? job : throw new ArgumentException($"job {id}: no such job started by this server (list_runs shows them)");
}
