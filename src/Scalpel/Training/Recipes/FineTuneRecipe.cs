using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Data;
using Scalpel.Data.Rendering;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Text;
using Scalpel.Training.Config;
using Scalpel.Training.Reports;
using Scalpel.Training.Runs;

namespace Scalpel.Training.Recipes;

/// <summary>One line of progress for the terminal view.</summary>
public sealed record FineTuneProgress(int Step, int TotalSteps, int Epoch, double? Loss, double? ValLoss, double? ValAccuracy,
    float LearningRate, double TokensPerSecond, TimeSpan Elapsed, string? Message = null);

/// <summary>How a run ended.</summary>
public sealed record FineTuneResult(string RunDirectory, RunStatus Status, int Steps, int? BestStep, double? BestValLoss, string StopReason,
    string OutputPath);

/// <summary>What <see cref="FineTuneRecipe.Evaluate"/> measured on a set of rendered examples.</summary>
public readonly record struct EvaluationResult(double Loss, double TokenAccuracy, double ExactMatch);

/// <summary>A run that cannot start or had to stop; the message says why and what to do.</summary>
public sealed class FineTuneException(string message) : Exception(message);

/// <summary>
/// The fine-tuning recipe, top to bottom: read and render the data, load the model, add LoRA (or make every weight
/// trainable), then loop over epochs of seeded micro-batches: step, log, validate, stop early, checkpoint. A run folder
/// holds everything: config.yaml, data.json, env.json, metrics.jsonl, checkpoints/, adapter/ (or model/), report.html.
/// </summary>
public static class FineTuneRecipe
{
    /// <param name="checkMemory">refuse, before loading anything, a run whose memory plan does not fit the memory available
    /// (<see cref="MemoryPlanner"/>); callers that checked the plan themselves pass false</param>
    public static FineTuneResult Run(TrainConfig config, bool resume, string? registryPath = null,
        IProgress<FineTuneProgress>? progress = null, CancellationToken cancellationToken = default, bool checkMemory = true)
    {
        config.CheckInputsExist();
        config.CheckInitialAdapter();
        if (checkMemory && MemoryPlanner.Plan(config, estimateTime: false) is { Fits: false } memoryPlan) throw new FineTuneException(memoryPlan.Refusal());
        string runDir = Path.GetFullPath(config.Output.Dir);
        var store = new CheckpointStore(runDir, config.Checkpoints.Keep);
        string metricsPath = Path.Combine(runDir, "metrics.jsonl");
        var latest = resume ? store.Latest : null;
        if (resume && latest is null && !File.Exists(Path.Combine(runDir, "config.yaml")))
            throw new FineTuneException($"{runDir}: nothing to resume (no checkpoint and no config.yaml)");
        if (!resume && (File.Exists(metricsPath) || store.Latest is not null))
            throw new FineTuneException($"{runDir}: already holds a run; resume it with --resume {runDir} or choose another output.dir");
        Directory.CreateDirectory(runDir);
        WriteText(Path.Combine(runDir, "config.yaml"), config.ToYaml());
        WriteText(Path.Combine(runDir, "env.json"), Environment());

        // ── data ──
        var tokenizer = Tokenizer.FromDirectory(config.Model.Path);
        var renderOptions = new RenderOptions { MaxLength = config.Data.MaxLength, TrainOn = config.Data.TrainOn, Truncation = config.Data.Truncation };
        var readOptions = new DatasetReadOptions { Format = config.Data.Format.ToReaderFormat() };
        var trainExamples = DatasetReader.ReadExamples(config.Data.Train, readOptions).ToList();
        var validationExamples = config.Data.Validation is { } v ? DatasetReader.ReadExamples(v, readOptions).ToList() : [];
        if (config.Data.Validation is null && config.Data.ValidationSplit > 0)
        {
            var order = Enumerable.Range(0, trainExamples.Count).ToArray();
            new Random(config.Training.Seed).Shuffle(order);
            int take = Math.Max(1, (int)Math.Round(trainExamples.Count * config.Data.ValidationSplit));
            var held = order.Take(take).ToHashSet();
            validationExamples = held.Order().Select(i => trainExamples[i]).ToList();
            trainExamples = Enumerable.Range(0, trainExamples.Count).Where(i => !held.Contains(i)).Select(i => trainExamples[i]).ToList();
        }
        var renderer = new ExampleRenderer(tokenizer,
            trainExamples.Concat(validationExamples).Any(e => e is not TextExample) ? ChatTemplate.FromDirectory(config.Model.Path) : null,
            renderOptions);
        var trainStats = new RenderStats();
        var validationStats = new RenderStats();
        var train = trainExamples.Select(e => renderer.Render(e, trainStats)).OfType<RenderedExample>().ToList();
        var validation = validationExamples.Select(e => renderer.Render(e, validationStats)).OfType<RenderedExample>().ToList();
        if (train.Count == 0) throw new FineTuneException($"{config.Data.Train}: no example left to train on after rendering ({trainStats.Dropped} too long, {trainStats.NoTrainableTokens} without trainable tokens)");
        WriteText(Path.Combine(runDir, "data.json"), DataSummary(config, trainExamples.Count, validationExamples.Count, trainStats, validationStats));

        var t = config.Training;
        bool bucket = !config.Data.Packing;
        int batchesPerEpoch = BatchPlanner.PlanEpoch(train, 0, t.Seed, t.TokensPerBatch is null ? t.BatchSize : null, t.TokensPerBatch, bucket).Count;
        int stepsPerEpoch = Math.Max(1, (batchesPerEpoch + t.GradientAccumulation - 1) / t.GradientAccumulation);
        int totalSteps = t.MaxSteps ?? t.Epochs * stepsPerEpoch;

        // ── model ──
        bool full = config.Method == TrainingMethod.Full;
        string modelSource = full && latest is not null ? Path.Combine(latest.Value.Path, "model") : config.Model.Path;
        using var model = DecoderModel.Load(modelSource, new CpuBackend(), full ? WeightPrecision.F32 : config.Model.LoadPrecision);
        model.GradientCheckpointing = t.GradientCheckpointing;
        if (full) model.EnableFullFineTuning();
        else if (latest is not null) PeftAdapter.Load(model, Path.Combine(latest.Value.Path, "adapter"));
        else if (config.Lora.InitFrom is { } initial) PeftAdapter.Load(model, initial, config.ToLoraConfig());   // checked above
        else model.ApplyLora(config.ToLoraConfig(), seed: t.Seed);
        using var trainer = new Trainer(model, config.ToTrainerOptions(totalSteps));

        bool higherIsBetter = config.Validation.EarlyStopping.Metric == EarlyStoppingMetric.ValAccuracy;
        var early = new EarlyStopping(higherIsBetter, validation.Count > 0 ? config.Validation.EarlyStopping.Patience : null,
            config.Validation.EarlyStopping.MinDelta);
        int startEpoch = 0, startBatch = 0;
        double previousElapsed = 0;
        double? bestValLoss = null;
        if (latest is not null)
        {
            trainer.LoadState(Path.Combine(latest.Value.Path, "optimizer.safetensors"));
            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(latest.Value.Path, "trainer_state.json")))!.AsObject();
            startEpoch = (int)state["epoch"]!;
            startBatch = (int)state["next_batch"]!;
            previousElapsed = (double)state["elapsed_s"]!;
            bestValLoss = (double?)state["best_val_loss"];
            early.Restore((double?)state["best_metric"], (int)state["best_step"]!, (int)state["evaluations_without_improvement"]!);
            MetricsLog.TruncateAfter(metricsPath, trainer.Step);
        }
        else if (resume) MetricsLog.TruncateAfter(metricsPath, 0);

        using var registry = registryPath is null ? null : RunRegistry.Open(registryPath);
        var record = registry?.List().FirstOrDefault(r => Path.GetFullPath(r.RunDirectory) == runDir);
        record = record is null
            ? new RunRecord
            {
                Id = RunRecord.NewId(), Name = Path.GetFileName(runDir), RunDirectory = runDir, ConfigPath = Path.Combine(runDir, "config.yaml"),
                Model = config.Model.Path, Dataset = config.Data.Train, Method = full ? "full" : "lora", StartedUtc = DateTime.UtcNow,
            }
            : record with { Status = RunStatus.Running, ProcessId = System.Environment.ProcessId, Host = System.Environment.MachineName };
        if (registry is not null)
        {
            if (registry.List().Any(r => r.Id == record.Id)) registry.Update(record); else registry.Register(record);
        }

        // ── the loop ──
        using var metrics = new MetricsLog(metricsPath, append: true);
        var clock = Stopwatch.StartNew();
        double Elapsed() => previousElapsed + clock.Elapsed.TotalSeconds;
        string stopReason = t.MaxSteps is not null ? $"reached max_steps {totalSteps}" : $"completed {t.Epochs} epoch(s)";
        var status = RunStatus.Completed;
        int epoch = startEpoch, nextBatch = startBatch;

        void Checkpoint(int epochNow, int nextBatchNow)
        {
            store.Save(trainer.Step, dir =>
            {
                if (full) MergedExport.Write(model, config.Model.Path, Path.Combine(dir, "model"), DType.F32);
                else PeftAdapter.Save(model, Path.Combine(dir, "adapter"), config.Model.Path);
                trainer.SaveState(Path.Combine(dir, "optimizer.safetensors"));
                WriteText(Path.Combine(dir, "trainer_state.json"), new JsonObject
                {
                    ["step"] = trainer.Step, ["epoch"] = epochNow, ["next_batch"] = nextBatchNow, ["elapsed_s"] = Elapsed(),
                    ["best_metric"] = early.Best, ["best_step"] = early.BestStep, ["best_val_loss"] = bestValLoss,
                    ["evaluations_without_improvement"] = early.EvaluationsWithoutImprovement,
                }.ToJsonString());
            }, protectedStep: early.Best is null ? null : early.BestStep);
        }

        bool Validate()
        {
            if (validation.Count == 0) return false;
            var (loss, accuracy, _) = Evaluate(model, validation, t.BatchSize ?? 8);
            metrics.Write(w => { w.WriteString("type", "val"); w.WriteNumber("step", trainer.Step); w.WriteNumber("val_loss", loss); w.WriteNumber("val_accuracy", accuracy); });
            progress?.Report(new FineTuneProgress(trainer.Step, totalSteps, epoch, null, loss, accuracy, 0, 0, TimeSpan.FromSeconds(Elapsed())));
            bool best = early.Observe(trainer.Step, higherIsBetter ? accuracy : loss);
            if (best) bestValLoss = loss;
            return best;
        }

        try
        {
            while (trainer.Step < totalSteps && status == RunStatus.Completed)
            {
                var plan = BatchPlanner.PlanEpoch(train, epoch, t.Seed, t.TokensPerBatch is null ? t.BatchSize : null, t.TokensPerBatch, bucket);
                while (nextBatch < plan.Count && trainer.Step < totalSteps)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        status = RunStatus.Interrupted;
                        stopReason = $"interrupted at step {trainer.Step}";
                        Checkpoint(epoch, nextBatch);
                        break;
                    }
                    var micro = plan.Skip(nextBatch).Take(t.GradientAccumulation).Select(b => BatchPlanner.ToBatch(train, b)).ToList();
                    nextBatch += micro.Count;
                    var watch = Stopwatch.StartNew();
                    var step = trainer.TrainStep(micro, cancellationToken);
                    double tokensPerSecond = step.Tokens / Math.Max(watch.Elapsed.TotalSeconds, 1e-9);
                    if (!double.IsFinite(step.Loss) || !double.IsFinite(step.GradNorm))
                    {
                        status = RunStatus.Failed;
                        stopReason = $"the loss became {step.Loss} (gradient norm {step.GradNorm}) at step {step.Step}; " +
                                     $"the last good checkpoint is {store.Latest?.Path ?? "none"}; lower training.lr or raise max_grad_norm clipping";
                        break;
                    }
                    metrics.Write(w =>
                    {
                        w.WriteString("type", "train"); w.WriteNumber("step", step.Step); w.WriteNumber("epoch", epoch + (double)nextBatch / plan.Count);
                        w.WriteNumber("loss", step.Loss); w.WriteNumber("lr", step.LearningRate); w.WriteNumber("grad_norm", step.GradNorm);
                        w.WriteNumber("tokens_per_s", Math.Round(tokensPerSecond, 1)); w.WriteNumber("elapsed_s", Math.Round(Elapsed(), 3));
                    });
                    progress?.Report(new FineTuneProgress(step.Step, totalSteps, epoch, step.Loss, null, null, step.LearningRate, tokensPerSecond,
                        TimeSpan.FromSeconds(Elapsed())));

                    bool lastStep = trainer.Step >= totalSteps;
                    bool validated = false, isBest = false;
                    if (validation.Count > 0 && (trainer.Step % config.Validation.Interval == 0 || lastStep))
                    {
                        validated = true;
                        isBest = Validate();
                    }
                    if (trainer.Step % config.Checkpoints.Interval == 0 || isBest || lastStep) Checkpoint(epoch, nextBatch);
                    if (validated && early.ShouldStop)
                    {
                        status = RunStatus.Stopped;
                        stopReason = $"early stopping: {config.Validation.EarlyStopping.Metric} did not improve for {early.EvaluationsWithoutImprovement} evaluations; best at step {early.BestStep}";
                        break;
                    }
                }
                if (nextBatch >= plan.Count) { epoch++; nextBatch = 0; }
            }
            if (status == RunStatus.Completed && store.Latest?.Step != trainer.Step) Checkpoint(epoch, nextBatch);
        }
        catch (OperationCanceledException)
        {
            status = RunStatus.Interrupted;
            stopReason = $"interrupted at step {trainer.Step}";
        }

        // ── the result: the best checkpoint's weights (or the last), the summary, the report ──
        int? bestStep = early.Best is null ? null : early.BestStep;
        var chosen = bestStep is int b && store.List().FirstOrDefault(c => c.Step == b) is { Path: not null } found ? found : store.Latest;
        string output = Path.Combine(runDir, full ? "model" : "adapter");
        if (chosen is not null && status != RunStatus.Interrupted)
        {
            string source = Path.Combine(chosen.Value.Path, full ? "model" : "adapter");
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
            CopyDirectory(source, output);
        }
        metrics.Write(w =>
        {
            w.WriteString("type", "summary"); w.WriteNumber("steps", trainer.Step);
            if (bestStep is int bs) w.WriteNumber("best_step", bs); else w.WriteNull("best_step");
            if (bestValLoss is double bv) w.WriteNumber("best_val_loss", bv); else w.WriteNull("best_val_loss");
            w.WriteNumber("final_step", chosen?.Step ?? trainer.Step); w.WriteString("stopped_reason", stopReason); w.WriteString("status", status.ToString().ToLowerInvariant());
        });
        metrics.Dispose();
        RunReport.Write(runDir);
        registry?.Update(record with
        {
            Status = status, EndedUtc = DateTime.UtcNow, BestValLoss = bestValLoss, BestStep = bestStep, Steps = trainer.Step,
            Duration = TimeSpan.FromSeconds(Elapsed()),
        });
        return new FineTuneResult(runDir, status, trainer.Step, bestStep, bestValLoss, stopReason, output);
    }

    /// <summary>
    /// Validation loss (token-weighted mean), mean token accuracy (arg-max equals the target) and exact match (every
    /// trained token of an example is the arg-max: what greedy decoding would reproduce), from one forward pass per
    /// batch: the loss is taken from the same logits the accuracies read, a chunk of rows at a time.
    /// </summary>
    public static EvaluationResult Evaluate(DecoderModel model, IReadOnlyList<RenderedExample> examples, int batchSize)
    {
        double lossSum = 0, weightSum = 0;
        long correct = 0, counted = 0;
        int exact = 0;
        for (int start = 0; start < examples.Count; start += batchSize)
        {
            var indices = Enumerable.Range(start, Math.Min(batchSize, examples.Count - start)).ToArray();
            var batch = BatchPlanner.ToBatch(examples, indices);
            var rows = Enumerable.Range(0, batch.Count).Where(i => batch.Targets[i] != TokenBatch.IgnoreIndex).ToArray();
            var wrongExamples = new HashSet<int>();   // keyed by each example's first token (its segment start)
            if (rows.Length > 0)
            {
                var losses = new double[rows.Length];
                var right = new bool[rows.Length];
                model.ScoreTargets(batch, rows, losses, right);
                for (int k = 0; k < rows.Length; k++)
                {
                    double weight = batch.Weights?[rows[k]] ?? 1.0;
                    lossSum += weight * losses[k];
                    weightSum += weight;
                    if (right[k]) correct++;
                    else wrongExamples.Add(batch.SegmentStart[rows[k]]);
                    counted++;
                }
            }
            exact += indices.Length - wrongExamples.Count;
        }
        return new EvaluationResult(weightSum > 0 ? lossSum / weightSum : double.NaN, counted > 0 ? (double)correct / counted : double.NaN,
            examples.Count > 0 ? (double)exact / examples.Count : double.NaN);
    }

    private static string DataSummary(TrainConfig config, int trainExamples, int validationExamples, RenderStats train, RenderStats validation)
    {
        JsonObject Stats(RenderStats s) => new()
        {
            ["rendered"] = s.Rendered, ["dropped_too_long"] = s.Dropped, ["prompt_truncated"] = s.PromptTruncated,
            ["answer_truncated"] = s.AnswerTruncated, ["no_trainable_tokens"] = s.NoTrainableTokens, ["tokens"] = s.Tokens,
            ["trainable_tokens"] = s.TrainableTokens,
        };
        var json = new JsonObject
        {
            ["train_file"] = config.Data.Train, ["train_sha256"] = Sha256(config.Data.Train), ["train_examples"] = trainExamples,
            ["train"] = Stats(train),
            ["validation_file"] = config.Data.Validation, ["validation_sha256"] = config.Data.Validation is { } v ? Sha256(v) : null,
            ["validation_examples"] = validationExamples, ["validation"] = Stats(validation),
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string Environment() => new JsonObject
    {
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["cpu_count"] = System.Environment.ProcessorCount,
        ["avx512"] = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated,
        ["dotnet"] = System.Environment.Version.ToString(),
        ["scalpel"] = typeof(FineTuneRecipe).Assembly.GetName().Version?.ToString(),
        ["started_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    private static void WriteText(string path, string text)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    private static void CopyDirectory(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
