using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Scalpel.Data;
using Scalpel.Server.Files;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;

namespace Scalpel.Server.Jobs;

/// <summary>
/// What the endpoints and the worker share: creating a job (checks that fail fast, as HTTP 400), validating its files
/// (the data check report of each, then the training config), cancelling, the events log, and the wake-up signal of
/// the worker.
/// </summary>
public sealed class JobService(IJobStore store, JobPaths paths, FileStorage files, ServerOptions options)
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();

    public IJobStore Store => store;
    public JobPaths Paths => paths;
    public FileStorage Files => files;
    public ServerOptions Options => options;

    /// <summary>Checks the request against the server (model, files) and records the job as validating_files.</summary>
    /// <exception cref="JobRequestException">the model is not the served base, or a file is missing or not a fine-tune file</exception>
    public JobRecord Create(JobRequest request)
    {
        if (request.Model != paths.BaseModelId)
        {
            string hint = request.Model.StartsWith("ft:", StringComparison.Ordinal)
                ? "fine-tuning a fine-tuned model is not supported yet; start from the base model"
                : "this server fine-tunes the base model it serves";
            throw new JobRequestException($"model '{FilesFeature.Shorten(request.Model)}' cannot be fine-tuned here: {hint}, '{paths.BaseModelId}'", "model", "model_not_available");
        }
        CheckFile(request.TrainingFile, "training_file");
        if (request.ValidationFile is { } v) CheckFile(v, "validation_file");
        var job = new JobRecord
        {
            Id = ObjectIds.New(JobPaths.JobIdPrefix),
            Model = request.Model,
            TrainingFile = request.TrainingFile,
            ValidationFile = request.ValidationFile,
            Suffix = request.Suffix,
            Seed = request.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue),
            CreatedAt = ObjectIds.Now(),
            Hyperparameters = request.Hyperparameters.ToJson().ToJsonString(),
            Metadata = request.Metadata?.ToJsonString(),
        };
        store.AddJob(job);
        AddEvent(job.Id, $"Created fine-tuning job: {job.Id}");
        AddEvent(job.Id, $"Validating training file: {job.TrainingFile}{(job.ValidationFile is { } vf ? $" and validation file: {vf}" : "")}");
        return job;
    }

    private void CheckFile(string id, string param)
    {
        if (!ObjectIds.IsValid(id, StoredFile.IdPrefix))
            throw new JobRequestException($"{param}: '{FilesFeature.Shorten(id)}' is not a file id (upload the data with POST /v1/files first)", param, "invalid_file_id");
        var file = store.GetFile(id) ?? throw new JobRequestException($"{param}: no file with id {id}", param, "file_not_found");
        if (file.Purpose != StoredFile.FineTunePurpose)
            throw new JobRequestException($"{param}: {id} ({file.Filename}) was uploaded with purpose '{file.Purpose}'; upload training data with purpose '{StoredFile.FineTunePurpose}'", param, "invalid_file_purpose");
    }

    /// <summary>
    /// validating_files → queued (or failed): the files' data check reports must be clean, then the training config is
    /// fixed (model and data sizes decide the defaults). Safe to call twice: only the call that finds the job
    /// validating_files changes it.
    /// </summary>
    public void Validate(string jobId)
    {
        var job = store.GetJob(jobId);
        if (job is not { Status: JobStatus.ValidatingFiles }) return;
        try
        {
            var train = FileFor(job, job.TrainingFile, "training_file");
            var validation = job.ValidationFile is { } v ? FileFor(job, v, "validation_file") : null;
            string runDir = paths.JobDirectory(job.Id);
            var (config, hyperparameters) = JobConfig.Build(job, paths.ModelDirectory, files.PathOf(train), validation is null ? null : files.PathOf(validation),
                runDir, options.JobCheckpointInterval);
            var queued = job with { Status = JobStatus.Queued, Hyperparameters = hyperparameters.ToJsonString(), ConfigYaml = config.ToYaml() };
            if (!store.UpdateJob(queued, JobStatus.ValidatingFiles)) return;   // cancelled meanwhile
            AddEvent(job.Id, $"Files validated: {Examples(train)} training examples{(validation is null ? "" : $", {Examples(validation)} validation examples")}; " +
                             $"LoRA rank {config.Lora.Rank}, {config.Training.Epochs} epoch(s), batch size {hyperparameters["batch_size"]}, " +
                             $"learning rate {config.Training.Lr.ToString("G3", CultureInfo.InvariantCulture)}, max length {config.Data.MaxLength} tokens");
            AddEvent(job.Id, "Job queued");
            Wake();
        }
        catch (JobRequestException e)
        {
            Fail(job, new JobError(e.Code, e.Message, e.Param), JobStatus.ValidatingFiles);
        }
        catch (Exception e) when (e is TrainConfigException or FineTuneException or DatasetException or FormatException or IOException or UnauthorizedAccessException)
        {
            Fail(job, new JobError("invalid_training_file", Humanize(job, e.Message), "training_file"), JobStatus.ValidatingFiles);
        }
    }

    private StoredFile FileFor(JobRecord job, string id, string param)
    {
        var file = store.GetFile(id);
        if (file is null || !File.Exists(files.PathOf(file)))
            throw new JobRequestException($"The {param.Replace('_', ' ')} {id} was deleted before the job could start", param, $"invalid_{param}");
        if (file.CheckErrors > 0)
            throw new JobRequestException(
                $"The {param.Replace('_', ' ')} has {file.CheckErrors} error(s); the first: {file.FirstError ?? file.StatusDetails}. " +
                $"Every problem: GET /v1/files/{file.Id}/check", param, $"invalid_{param}");
        return file;
    }

    private static long Examples(StoredFile file)
    {
        if (file.CheckReport is null) return 0;
        return (long?)JsonNode.Parse(file.CheckReport)?["examples"] ?? 0;
    }

    /// <summary>
    /// Cancels a job not yet finished: recorded at once (a queued job never starts); a running one stops at its next
    /// step, wherever it runs (this process is signalled directly, other workers see the status).
    /// </summary>
    /// <returns>the job as it is now, or null when there is no such job</returns>
    /// <exception cref="JobRequestException">the job has already finished</exception>
    public JobRecord? Cancel(string jobId)
    {
        var job = store.GetJob(jobId);
        if (job is null) return null;
        if (!store.CancelJob(jobId, ObjectIds.Now()))
        {
            job = store.GetJob(jobId)!;
            throw new JobRequestException($"job {jobId} has finished ({JobStatuses.Name(job.Status)}): only validating_files, queued or running jobs can be cancelled", "fine_tuning_job_id", "job_finished");
        }
        AddEvent(jobId, job.Status == JobStatus.Running ? "Cancellation requested: the run stops after its current step" : "Job cancelled");
        if (_running.TryGetValue(jobId, out var cts)) cts.Cancel();
        return store.GetJob(jobId);
    }

    internal void Fail(JobRecord job, JobError error, params JobStatus[] ifStatus)
    {
        if (store.UpdateJob(job with { Status = JobStatus.Failed, Error = error, FinishedAt = ObjectIds.Now(), Worker = null }, ifStatus))
            AddEvent(job.Id, $"The job failed: {error.Message}", "error");
    }

    /// <summary>Messages from the data layer name the stored file's path: name it as the user knows it (upload name and id).</summary>
    internal string Humanize(JobRecord job, string message)
    {
        foreach (var id in new[] { job.TrainingFile, job.ValidationFile })
            if (id is not null && store.GetFile(id) is { } f)
                message = message.Replace(files.PathOf(f), $"{f.Filename} ({f.Id})", StringComparison.Ordinal);
        return message.Replace(paths.DataDirectory, "DATA", StringComparison.Ordinal);
    }

    public void AddEvent(string jobId, string message, string level = "info", string type = "message", JsonObject? data = null) =>
        store.AddEvent(new JobEvent(ObjectIds.New("ftevent-"), jobId, ObjectIds.Now(), level, message, type, data?.ToJsonString()));

    /// <summary>Tells the worker that a job was queued (it also polls, for jobs queued by other servers).</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    internal Task<bool> WaitForWorkAsync(TimeSpan timeout, CancellationToken cancellationToken) => _wake.WaitAsync(timeout, cancellationToken);

    internal void Running(string jobId, CancellationTokenSource cancel) => _running[jobId] = cancel;

    internal void Finished(string jobId) => _running.TryRemove(jobId, out _);
}
