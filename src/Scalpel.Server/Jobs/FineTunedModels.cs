namespace Scalpel.Server.Jobs;

/// <summary>
/// The adapters fine-tuning jobs produced, for the inference side to serve: each succeeded job's model id
/// (<c>ft:BASE:SUFFIX:JOBID</c>) and its PEFT adapter folder (<c>DATA/jobs/JOBID/adapter</c>). <see cref="Added"/>
/// fires (on the worker's thread) when a job of this server succeeds; <see cref="List"/> also holds the jobs of earlier
/// runs of the server.
/// </summary>
public interface IFineTunedModels
{
    /// <summary>Every servable fine-tuned model, oldest first (succeeded jobs whose adapter folder exists).</summary>
    IReadOnlyList<(string Id, string AdapterDirectory)> List();

    /// <summary>The adapter folder of a fine-tuned model id, or null.</summary>
    string? AdapterDirectoryOf(string id);

    event Action<(string Id, string AdapterDirectory)>? Added;
}

public sealed class FineTunedModels(IJobStore store, JobPaths paths) : IFineTunedModels
{
    public event Action<(string Id, string AdapterDirectory)>? Added;

    public IReadOnlyList<(string Id, string AdapterDirectory)> List() =>
        store.JobsWithStatus(JobStatus.Succeeded)
            .Where(j => j.FineTunedModel is not null)
            .Select(j => (Id: j.FineTunedModel!, AdapterDirectory: paths.AdapterDirectory(j.Id)))
            .Where(m => Directory.Exists(m.AdapterDirectory))
            .ToList();

    public string? AdapterDirectoryOf(string id) => List().FirstOrDefault(m => m.Id == id).AdapterDirectory;

    internal void Announce(string id, string adapterDirectory) => Added?.Invoke((id, adapterDirectory));
}
