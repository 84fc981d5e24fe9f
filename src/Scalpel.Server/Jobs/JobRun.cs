using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Data;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Jobs;

/// <summary>
/// One job's run on the worker thread: <see cref="FineTuneRecipe.Run"/> in <c>DATA/jobs/JOBID</c> (resumed from its last
/// checkpoint when the folder already holds a run), its progress turned into events, checkpoint rows and heartbeats;
/// then the outcome: succeeded (the adapter becomes a servable model), failed (the reason), cancelled, or — when the
/// server is stopping — left running, to resume at the next start.
/// </summary>
internal sealed class JobRun(JobService jobs, FineTunedModels models, JobRecord job, string worker, bool takenOver) : IProgress<FineTuneProgress>
{
    private static readonly TimeSpan StatusPollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(10);

    private readonly IJobStore _store = jobs.Store;
    private readonly string _runDirectory = jobs.Paths.JobDirectory(job.Id);
    private readonly string _modelId = JobPaths.FineTunedModelId(job.Model, job.Suffix, job.Id);
    private readonly HashSet<int> _recordedCheckpoints = [];
    private CancellationTokenSource? _cancel;
    private CheckpointStore? _checkpoints;
    private DateTime _lastStatusPoll = DateTime.MinValue;
    private int _totalSteps;
    private int _lastStep;

    public void Execute(CancellationToken stopping)
    {
        TrainConfig config;
        try
        {
            config = TrainConfig.Parse(job.ConfigYaml ?? throw new FineTuneException("the job has no training config (its files were never validated)"),
                $"{job.Id} config", null, _runDirectory);
        }
        catch (Exception e) when (e is TrainConfigException or FineTuneException)
        {
            jobs.Fail(job, new JobError("invalid_config", e.Message, null), JobStatus.Running);
            return;
        }
        _checkpoints = new CheckpointStore(_runDirectory, config.Checkpoints.Keep);
        foreach (var c in _store.ListCheckpoints(job.Id, null, 10_000).Items) _recordedCheckpoints.Add(c.Step);
        // The recipe writes config.yaml first: with it the folder holds a run to resume (from step 0 if no checkpoint yet).
        bool resume = File.Exists(Path.Combine(_runDirectory, "config.yaml"));
        if (takenOver)
            jobs.AddEvent(job.Id, _checkpoints.Latest is { } latest
                ? $"The server restarted: resuming from the checkpoint at step {latest.Step}"
                : "The server restarted: starting the run again (it had no checkpoint yet)");
        else jobs.AddEvent(job.Id, "Fine-tuning job started");

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _cancel = cancel;
        jobs.Running(job.Id, cancel);
        using var heartbeat = new Timer(_ => Beat(), null, HeartbeatInterval, HeartbeatInterval);
        FineTuneResult? result = null;
        JobError? error = null;
        try
        {
            // A cancel that came between the claim and now.
            if (_store.GetJob(job.Id)?.Status == JobStatus.Cancelled) cancel.Cancel();
            result = FineTuneRecipe.Run(config, resume, registryPath: null, this, cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is FineTuneException or TrainConfigException or DatasetException or FormatException or IOException
                                      or UnauthorizedAccessException or InvalidDataException)
        {
            error = new JobError("training_failed", jobs.Humanize(job, e.Message), null);
        }
        catch (Exception e)
        {
            // A bug must not take the worker down: the job fails with what happened.
            error = new JobError("internal_error", $"{e.GetType().Name}: {jobs.Humanize(job, e.Message)}", null);
        }
        finally
        {
            jobs.Finished(job.Id);
            heartbeat.Dispose();
        }
        SyncCheckpoints();
        Finish(result, error, stopping.IsCancellationRequested);
    }

    private void Finish(FineTuneResult? result, JobError? error, bool stopping)
    {
        var now = _store.GetJob(job.Id);
        if (now is null) return;
        if (now.Status == JobStatus.Cancelled)
        {
            _store.UpdateJob(now with { Worker = null }, JobStatus.Cancelled);
            jobs.AddEvent(job.Id, $"The job was cancelled at step {result?.Steps ?? _lastStep}");
            return;
        }
        if (error is not null)
        {
            jobs.Fail(now, error, JobStatus.Running);
            return;
        }
        if (result is null || result.Status == RunStatus.Interrupted)
        {
            if (stopping)
            {
                // Paused, not finished: the next start of a server takes it over and resumes from this checkpoint.
                _store.UpdateJob(now with { Worker = null }, JobStatus.Running);
                jobs.AddEvent(job.Id, $"The server is stopping: the job paused at step {result?.Steps ?? _lastStep} and resumes from its checkpoint when the server starts again");
            }
            else jobs.Fail(now, new JobError("training_failed", "the run was interrupted without a cancel request", null), JobStatus.Running);
            return;
        }
        if (result.Status == RunStatus.Failed)
        {
            jobs.Fail(now, new JobError("training_failed", jobs.Humanize(job, result.StopReason), null), JobStatus.Running);
            return;
        }
        var succeeded = now with
        {
            Status = JobStatus.Succeeded, FineTunedModel = _modelId, FinishedAt = ObjectIds.Now(), TrainedTokens = TrainedTokens(result.Steps), Worker = null,
        };
        if (!_store.UpdateJob(succeeded, JobStatus.Running)) return;   // cancelled at the last moment
        jobs.AddEvent(job.Id, $"New fine-tuned model created: {_modelId}");
        jobs.AddEvent(job.Id, $"The job has successfully completed ({result.Steps} steps; {result.StopReason})");
        models.Announce(_modelId, jobs.Paths.AdapterDirectory(job.Id));
    }

    /// <summary>Tokens of the training set (data.json) times the epochs run.</summary>
    private long? TrainedTokens(int steps)
    {
        try
        {
            var data = JsonNode.Parse(File.ReadAllText(Path.Combine(_runDirectory, "data.json")));
            long tokens = (long?)data?["train"]?["tokens"] ?? 0;
            int epochs = JobHyperparameters.FromJson(job.Hyperparameters).Epochs ?? 1;
            if (_totalSteps <= 0) return tokens * epochs;
            return (long)Math.Round((double)tokens * epochs * Math.Min(steps, _totalSteps) / _totalSteps);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    // ── progress: events, checkpoints, heartbeat, cancel ──

    public void Report(FineTuneProgress p)
    {
        if (_totalSteps == 0)
        {
            _totalSteps = p.TotalSteps;
            jobs.AddEvent(job.Id, $"Training: {p.TotalSteps} steps");
        }
        _lastStep = p.Step;
        int every = Math.Max(1, p.TotalSteps / 500);
        if (p.Loss is double loss && (p.Step % every == 0 || p.Step == p.TotalSteps))
            jobs.AddEvent(job.Id, $"Step {p.Step}/{p.TotalSteps}: training loss={Format(loss)}", type: "metrics", data: new JsonObject
            {
                ["step"] = p.Step, ["train_loss"] = loss, ["total_steps"] = p.TotalSteps, ["learning_rate"] = Finite(p.LearningRate),
                ["tokens_per_second"] = Finite(Math.Round(p.TokensPerSecond, 1)),
            });
        if (p.ValLoss is double valLoss)
            jobs.AddEvent(job.Id, $"Step {p.Step}/{p.TotalSteps}: validation loss={Format(valLoss)}, token accuracy={Format(p.ValAccuracy ?? double.NaN)}",
                type: "metrics", data: new JsonObject
                {
                    ["step"] = p.Step, ["valid_loss"] = Finite(valLoss), ["valid_mean_token_accuracy"] = Finite(p.ValAccuracy), ["total_steps"] = p.TotalSteps,
                });
        SyncCheckpoints();
        if (DateTime.UtcNow - _lastStatusPoll > StatusPollInterval)
        {
            _lastStatusPoll = DateTime.UtcNow;
            // A cancel made through another server of a shared queue shows only in the store.
            if (_store.GetJob(job.Id)?.Status == JobStatus.Cancelled) _cancel?.Cancel();
        }
    }

    private void Beat()
    {
        try { _store.Heartbeat(job.Id, worker, ObjectIds.Now()); }
        catch (JobStoreException) { /* the next beat tries again */ }
    }

    /// <summary>Checkpoint rows follow the run folder: new checkpoints are added with their step's metrics, pruned ones removed.</summary>
    private void SyncCheckpoints()
    {
        if (_checkpoints is null) return;
        var onDisk = _checkpoints.List();
        var steps = onDisk.Select(c => c.Step).ToHashSet();
        if (steps.SetEquals(_recordedCheckpoints)) return;
        var added = steps.Except(_recordedCheckpoints).Order().ToList();
        var metrics = added.Count > 0 ? StepMetrics(added.ToHashSet()) : [];
        foreach (int step in added)
        {
            _store.SaveCheckpoint(new JobCheckpoint(ObjectIds.New("ftckpt-"), job.Id, ObjectIds.Now(), step,
                (metrics.GetValueOrDefault(step) ?? new JsonObject { ["step"] = step }).ToJsonString()));
            _recordedCheckpoints.Add(step);
            jobs.AddEvent(job.Id, $"Checkpoint saved at step {step}: {_modelId}:ckpt-step-{step}");
        }
        foreach (int step in _recordedCheckpoints.Except(steps).ToList())
        {
            _store.DeleteCheckpoint(job.Id, step);
            _recordedCheckpoints.Remove(step);
        }
    }

    /// <summary>The metrics logged at each step (metrics.jsonl): train_loss, and valid_loss / valid_mean_token_accuracy where validated
    /// (on the whole validation set, so the full_valid_* fields are the same numbers).</summary>
    private Dictionary<int, JsonObject> StepMetrics(HashSet<int> steps)
    {
        var found = new Dictionary<int, JsonObject>();
        string path = Path.Combine(_runDirectory, "metrics.jsonl");
        if (!File.Exists(path)) return found;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            JsonObject? o;
            try { o = JsonNode.Parse(line) as JsonObject; }
            catch (JsonException) { continue; }   // the line being written
            if (o?["step"] is not JsonValue s || !s.TryGetValue(out int step) || !steps.Contains(step)) continue;
            if (!found.TryGetValue(step, out var m)) found[step] = m = new JsonObject { ["step"] = step };
            switch ((string?)o["type"])
            {
                case "train":
                    m["train_loss"] = o["loss"]?.DeepClone();
                    break;
                case "val":
                    m["valid_loss"] = o["val_loss"]?.DeepClone();
                    m["valid_mean_token_accuracy"] = o["val_accuracy"]?.DeepClone();
                    m["full_valid_loss"] = o["val_loss"]?.DeepClone();
                    m["full_valid_mean_token_accuracy"] = o["val_accuracy"]?.DeepClone();
                    break;
            }
        }
        return found;
    }

    /// <summary>JSON has no NaN or infinity: those are written as null.</summary>
    private static double? Finite(double? x) => x is double d && double.IsFinite(d) ? d : null;

    private static string Format(double x) => x.ToString("0.0000", CultureInfo.InvariantCulture);
}
