using System.Text.Json.Nodes;
using Scalpel.Training.Config;

namespace Scalpel.Server.Jobs;

/// <summary>
/// A job's training config: <see cref="StarterConfig"/>'s choices for this model and data (LoRA rank, learning rate,
/// epochs, max_length, batch of 8 × 2 accumulation), then the job's hyperparameters on top. "auto" keeps Scalpel's
/// choice; <c>batch_size</c> is examples per optimizer step (micro-batches of up to 8, accumulated);
/// <c>learning_rate_multiplier</c> scales the starter learning rate. As OpenAI's API does, a job holds out no
/// validation data of its own (validation_file is the validation set) and runs every epoch asked for (no early
/// stopping); the adapter is the best validation checkpoint when there is a validation file, else the last.
/// </summary>
public static class JobConfig
{
    /// <summary>Largest micro-batch (examples per forward pass); larger batch sizes accumulate gradients.</summary>
    public const int MaxMicroBatch = 8;

    /// <exception cref="TrainConfigException">the resulting config is not valid</exception>
    public static (TrainConfig Config, JsonObject Hyperparameters) Build(JobRecord job, string modelDirectory, string trainPath, string? validationPath,
        string runDirectory, int? checkpointInterval)
    {
        var requested = JobHyperparameters.FromJson(job.Hyperparameters);
        var starter = StarterConfig.Create(modelDirectory, trainPath, validationPath, runDirectory, runDirectory);
        var config = TrainConfig.Parse(starter.Yaml, $"{job.Id} starter config", null, runDirectory);

        var t = config.Training;
        int batch = requested.BatchSize ?? (t.BatchSize ?? MaxMicroBatch) * t.GradientAccumulation;
        var (micro, accumulation) = SplitBatch(batch);
        double multiplier = requested.LearningRateMultiplier ?? 1.0;
        config = config with
        {
            Data = config.Data with { ValidationSplit = 0 },
            Training = t with
            {
                Epochs = requested.Epochs ?? t.Epochs, MaxSteps = null, BatchSize = micro, TokensPerBatch = null, GradientAccumulation = accumulation,
                Lr = t.Lr * multiplier, Seed = job.Seed,
            },
            Validation = config.Validation with { EarlyStopping = config.Validation.EarlyStopping with { Patience = null } },
            Checkpoints = checkpointInterval is int k ? config.Checkpoints with { Interval = k } : config.Checkpoints,
            Output = new OutputSection { Dir = runDirectory },
        };
        // Through YAML and back: the same checks as a config file gets, and the exact text the run will use.
        config = TrainConfig.Parse(config.ToYaml(), $"{job.Id} config", null, runDirectory);
        var resolved = new JsonObject
        {
            ["n_epochs"] = config.Training.Epochs,
            ["batch_size"] = batch,
            ["learning_rate_multiplier"] = multiplier,
        };
        return (config, resolved);
    }

    /// <summary>Examples per optimizer step as micro-batch × accumulation, with the largest micro-batch ≤ 8 that divides it.</summary>
    public static (int MicroBatch, int Accumulation) SplitBatch(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        for (int micro = Math.Min(batch, MaxMicroBatch); micro >= 1; micro--)
            if (batch % micro == 0) return (micro, batch / micro);
        return (1, batch);
    }
}
