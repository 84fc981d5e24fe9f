using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Hosting;

namespace Scalpel.Server.Jobs;

/// <summary>
/// The one worker of a server process: trains queued jobs one at a time, oldest first, on a thread of its own. When it
/// starts it first validates jobs left validating_files and takes over jobs left running by a process that is gone
/// (killed, crashed, or stopped while training): those resume from their last checkpoint. A job is claimed by
/// compare-and-set in the store, so several servers can share one PostgreSQL queue.
/// </summary>
public sealed class JobWorker(JobService jobs, FineTunedModels models) : BackgroundService
{
    /// <summary>A worker on another machine that has not written a heartbeat for this long is taken to be gone.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(2);
    /// <summary>How often the queue is looked at without a wake-up (jobs queued by other servers).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    /// <summary>This worker: "host/pid/process start ticks/random", unique even for two servers in one process.</summary>
    public string Id { get; } = string.Join('/', Environment.MachineName, Environment.ProcessId,
        Process.GetCurrentProcess().StartTime.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture), Guid.NewGuid().ToString("N")[..8]);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Loop(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Loop(CancellationToken stopping)
    {
        foreach (var job in jobs.Store.JobsWithStatus(JobStatus.ValidatingFiles))
        {
            if (stopping.IsCancellationRequested) return;
            jobs.Validate(job.Id);
        }
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (NextJob() is { } next) new JobRun(jobs, models, next.Job, Id, next.TakenOver).Execute(stopping);
                else jobs.WaitForWorkAsync(PollInterval, stopping).Wait(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (JobStoreException)
            {
                // The database is unreachable for now (a PostgreSQL restart): try again later.
                try { Task.Delay(PollInterval, stopping).Wait(stopping); } catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>A running job whose worker is gone (taken over), else the oldest queued job (claimed).</summary>
    private (JobRecord Job, bool TakenOver)? NextJob()
    {
        long now = ObjectIds.Now();
        foreach (var job in jobs.Store.JobsWithStatus(JobStatus.Running))
        {
            if (job.Worker == Id || !IsGone(job.Worker, job.HeartbeatAt, now)) continue;
            if (jobs.Store.TakeOver(job.Id, job.Worker, Id, now)) return (job with { Worker = Id, HeartbeatAt = now }, true);
        }
        return jobs.Store.ClaimNextQueued(Id, now) is { } claimed ? (claimed, false) : null;
    }

    /// <summary>
    /// Whether the worker that last ran a job is gone: none recorded (it paused the job on shutdown); on this machine,
    /// its process no longer exists (or the pid now belongs to a later process); elsewhere, no heartbeat for
    /// <see cref="StaleAfter"/>.
    /// </summary>
    public static bool IsGone(string? worker, long? heartbeatAt, long now)
    {
        if (worker is null) return true;
        bool stale = heartbeatAt is not long beat || now - beat > StaleAfter.TotalSeconds;
        var parts = worker.Split('/');
        if (parts.Length != 4 || parts[0] != Environment.MachineName
            || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int pid) || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out long startTicks))
            return stale;
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited || process.StartTime.ToUniversalTime().Ticks != startTicks) return true;
            // The same process: another server in it (tests), alive as long as it beats.
            return pid == Environment.ProcessId && stale;
        }
        catch (ArgumentException) { return true; }            // no such process
        catch (InvalidOperationException) { return true; }    // exited meanwhile
        catch (System.ComponentModel.Win32Exception) { return stale; }   // not ours to inspect
    }
}
