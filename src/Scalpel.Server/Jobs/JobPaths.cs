namespace Scalpel.Server.Jobs;

/// <summary>Where jobs live on disk, and the model ids they produce.</summary>
public sealed class JobPaths
{
    public const string JobIdPrefix = "ftjob-";

    public JobPaths(ServerOptions options)
    {
        DataDirectory = Path.GetFullPath(options.DataDirectory);
        ModelDirectory = Path.GetFullPath(options.ModelDirectory);
        BaseModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(ModelDirectory));
    }

    public string DataDirectory { get; }
    public string ModelDirectory { get; }
    /// <summary>The served base model's id: its folder's name.</summary>
    public string BaseModelId { get; }

    /// <summary><c>DATA/jobs/JOBID</c>: the job's run folder (config, metrics, checkpoints, adapter, report).</summary>
    public string JobDirectory(string jobId) => ObjectIds.IsValid(jobId, JobIdPrefix)
        ? Path.Combine(DataDirectory, "jobs", jobId)
        : throw new InvalidOperationException($"refusing to build a path from job id '{jobId}'");

    public string AdapterDirectory(string jobId) => Path.Combine(JobDirectory(jobId), "adapter");

    /// <summary><c>ft:BASE:SUFFIX:JOBID</c> (an empty SUFFIX when none was given, as OpenAI writes it).</summary>
    public static string FineTunedModelId(string baseModel, string? suffix, string jobId) => $"ft:{baseModel}:{suffix}:{jobId}";
}
