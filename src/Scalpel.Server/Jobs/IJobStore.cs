using Scalpel.Server.Files;

namespace Scalpel.Server.Jobs;

/// <summary>The store cannot be opened or used; the message names the database and says why.</summary>
public sealed class JobStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Where files, fine-tuning jobs, their events and checkpoints persist. SQLite (a file in the data folder) by default,
/// PostgreSQL for a queue shared by several servers. Every method is one atomic statement (or transaction), safe to
/// call from any thread; status changes are compare-and-set so that a cancel and a finishing run never both win.
/// Lists are newest first and paginate with the id of the last item seen (<c>after</c>), as OpenAI's do.
/// </summary>
public interface IJobStore : IDisposable
{
    /// <summary>What the store is, for messages: "sqlite /data/scalpel.db" or "postgres host/db".</summary>
    string Description { get; }

    // ── files ──
    void AddFile(StoredFile file);
    StoredFile? GetFile(string id);
    Page<StoredFile> ListFiles(string? purpose, string? after, int limit);
    bool DeleteFile(string id);

    // ── jobs ──
    void AddJob(JobRecord job);
    JobRecord? GetJob(string id);
    Page<JobRecord> ListJobs(string? after, int limit);
    /// <summary>Jobs in one status, oldest first.</summary>
    IReadOnlyList<JobRecord> JobsWithStatus(JobStatus status);
    /// <summary>Jobs not yet finished that train or validate on <paramref name="fileId"/>.</summary>
    IReadOnlyList<JobRecord> ActiveJobsUsingFile(string fileId);
    /// <summary>Writes every field of <paramref name="job"/> if its stored status is one of <paramref name="ifStatus"/>; false (nothing written) otherwise.</summary>
    bool UpdateJob(JobRecord job, params JobStatus[] ifStatus);
    /// <summary>Marks the job cancelled (finished now) if it is validating_files, queued or running; false when it had already finished.</summary>
    bool CancelJob(string jobId, long now);
    /// <summary>Marks the oldest queued job running for <paramref name="worker"/>; null when none is queued.</summary>
    JobRecord? ClaimNextQueued(string worker, long now);
    /// <summary>Takes a running job over from <paramref name="previousWorker"/> (dead or gone); false when someone else did first.</summary>
    bool TakeOver(string jobId, string? previousWorker, string worker, long now);
    /// <summary>Records that <paramref name="worker"/> is still running the job.</summary>
    void Heartbeat(string jobId, string worker, long now);

    // ── events ──
    void AddEvent(JobEvent e);
    Page<JobEvent> ListEvents(string jobId, string? after, int limit);

    // ── checkpoints ──
    /// <summary>Adds the checkpoint, or replaces the one of the same job and step.</summary>
    void SaveCheckpoint(JobCheckpoint checkpoint);
    void DeleteCheckpoint(string jobId, int step);
    Page<JobCheckpoint> ListCheckpoints(string jobId, string? after, int limit);
}
