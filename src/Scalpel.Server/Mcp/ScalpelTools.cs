using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Scalpel.Adapters;
using Scalpel.Data;
using Scalpel.Evaluation;
using Scalpel.Generation;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Training.Config;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

public sealed record TensorInfo(string Name, string DType, IReadOnlyList<long> Shape);
public sealed record ModelInfo(string Architecture, string ModelType, int Layers, int HiddenSize, int IntermediateSize, int Heads, int KvHeads,
    int HeadDim, int VocabSize, double RopeTheta, bool TiedEmbeddings, long Parameters, IReadOnlyList<TensorInfo> Tensors);
public sealed record DatasetOutput(string Path, long Records);
public sealed record DatasetToolSummary(string? Format, long Records, long Written, long Invalid, long ExactDuplicates, long NearDuplicates,
    IReadOnlyList<DatasetOutput> Outputs);
public sealed record ConfigCreated(string ConfigPath, string RunDirectory, long Parameters, int Examples, double MeanTokens, int P95Tokens,
    IReadOnlyList<string> Reasons, string Yaml);
public sealed record RunStarted(string RunId, string RunDirectory, string Message);
public sealed record RunList(IReadOnlyList<McpRunStatus> Active, IReadOnlyList<RegisteredRun> Registered);
public sealed record RegisteredRun(string Id, string? Name, string RunDirectory, string Status, string? Model, string? Dataset, int Steps,
    double? BestValLoss, int? BestStep, DateTime StartedUtc, DateTime? EndedUtc);
public sealed record ComparisonSummary(string Winner, bool FineTuningWorthIt, string Summary, string Task, string Metric, string? BestPrompting, string? BestAdapter,
    string ReportPath, string ResultsDirectory);
public sealed record Exported(string Kind, string Output);

/// <summary>
/// The MCP tools of <c>scalpel mcp</c>: thin wrappers over the library calls the CLI commands make, with every path
/// argument held to the roots and every refusal turned into a tool error carrying the library's own message (what
/// the CLI prints after "scalpel: "). Training runs in the background; evaluation, comparison and export run on the
/// thread pool, so no call holds up the others.
/// </summary>
[McpServerToolType]
public sealed class ScalpelTools(McpRoots roots, McpRuns runs)
{
    [McpServerTool(Name = "inspect_model", ReadOnly = true, UseStructuredContent = true)]
    [Description("Architecture, shapes and tensors of a Hugging Face checkpoint folder, read the way training reads it.")]
    public ModelInfo InspectModel([Description("Model folder (config.json + *.safetensors)")] string model_dir) => Guard(() =>
    {
        string dir = roots.Resolve(model_dir, "model_dir");
        if (!Directory.Exists(dir)) throw new IOException($"{model_dir}: no such folder");
        var spec = ModelSpec.FromConfigFile(Path.Combine(dir, "config.json"));
        using var reader = CheckpointReader.Open(dir);
        long total = 0;
        var list = new List<TensorInfo>();
        foreach (var name in reader.TensorNames.Order(StringComparer.Ordinal))
        {
            var info = reader.Info(name);
            total += info.ElementCount;
            list.Add(new TensorInfo(name, info.DType.ToString(), info.Shape.Select(d => (long)d).ToList()));
        }
        return new ModelInfo(spec.Architecture, spec.ModelType, spec.NumLayers, spec.HiddenSize, spec.IntermediateSize, spec.NumHeads,
            spec.NumKvHeads, spec.HeadDim, spec.VocabSize, spec.RopeTheta, spec.TieWordEmbeddings, total, list);
    });

    [McpServerTool(Name = "check_dataset", ReadOnly = true)]
    [Description("Validate a training file (JSONL/JSON/CSV/Parquet; chat, instruction, prompt/completion, preference or text): errors, warnings and stats. has_errors true means training would refuse it.")]
    public CallToolResult CheckDataset([Description("Dataset file")] string file,
        [Description("Optional validation file, checked for overlap with the training file")] string? validation_file = null) => Guard(() =>
    {
        var options = new DataCheckOptions { ValidationFile = validation_file is null ? null : roots.Resolve(validation_file, "validation_file") };
        var report = DataChecker.Check(ExistingFile(file, "file"), options);
        var json = JsonNode.Parse(report.ToJson())!.AsObject();
        json["has_errors"] = report.HasErrors;
        return Structured(json);
    });

    [McpServerTool(Name = "dataset_stats", ReadOnly = true)]
    [Description("Statistics of a dataset file: examples by kind, roles, length histograms (characters, words, messages).")]
    public CallToolResult DatasetStats([Description("Dataset file")] string file) => Guard(() =>
    {
        var report = DataChecker.Check(ExistingFile(file, "file"));
        var json = JsonNode.Parse(report.ToJson())!.AsObject();
        var stats = new JsonObject { ["file"] = report.File, ["format"] = json["format"]?.DeepClone(), ["examples"] = report.Examples };
        if (json["stats"] is JsonObject s) foreach (var (k, v) in s) stats[k] = v?.DeepClone();
        return Structured(stats);
    });

    [McpServerTool(Name = "split_dataset", UseStructuredContent = true)]
    [Description("Split a dataset into train/validation/test files (deduplicated, stratified by label when there is one), written atomically into out_dir.")]
    public DatasetToolSummary SplitDataset([Description("Dataset file")] string file, [Description("Folder to write the splits into")] string out_dir,
        [Description("Fractions, e.g. [0.8, 0.1, 0.1] (default) or [0.9, 0.1]")] double[]? ratios = null,
        [Description("Shuffle seed")] long seed = 0,
        [Description("Drop records with errors instead of refusing to write anything")] bool skip_invalid = false) => Guard(() =>
    {
        string input = ExistingFile(file, "file");
        string outDir = roots.Resolve(out_dir, "out_dir");
        if (File.Exists(outDir)) throw new ArgumentException($"out_dir {out_dir} is a file; split writes a folder");
        var result = DatasetTools.Split(input, outDir, ratios ?? [0.8, 0.1, 0.1], (ulong)seed, new DatasetToolOptions { SkipInvalid = skip_invalid });
        return Summary(result);
    });

    [McpServerTool(Name = "convert_dataset", UseStructuredContent = true)]
    [Description("Convert a dataset (any supported format) to OpenAI chat JSONL (or preference / text JSONL), written atomically.")]
    public DatasetToolSummary ConvertDataset([Description("Dataset file")] string file, [Description("Output .jsonl file")] string output,
        [Description("Drop records with errors instead of refusing to write anything")] bool skip_invalid = false) => Guard(() =>
    {
        var result = DatasetTools.Convert(ExistingFile(file, "file"), roots.Resolve(output, "output"), new DatasetToolOptions { SkipInvalid = skip_invalid });
        return Summary(result);
    });

    [McpServerTool(Name = "create_config", UseStructuredContent = true)]
    [Description("Write a commented starter training config (scalpel init) sized from the model and the data; the reasons say why each setting was chosen.")]
    public ConfigCreated CreateConfig([Description("Base model folder")] string model_dir, [Description("Training data file")] string train_file,
        [Description("Where to write the config (.yaml)")] string output,
        [Description("Optional validation file")] string? validation_file = null,
        [Description("Overwrite an existing config")] bool force = false) => Guard(() =>
    {
        string model = roots.Resolve(model_dir, "model_dir");
        string data = roots.Resolve(train_file, "train_file");
        string? validation = validation_file is null ? null : roots.Resolve(validation_file, "validation_file");
        string config = roots.Resolve(output, "output");
        if (!Directory.Exists(model)) throw new ArgumentException($"{model_dir}: no such model folder");
        if (!File.Exists(data)) throw new ArgumentException($"{train_file}: no such data file");
        if (File.Exists(config) && !force) throw new IOException($"{output} already exists; pass force to overwrite it");
        string configDir = Path.GetDirectoryName(config)!;
        string runDir = Path.Combine(configDir, "runs", Path.GetFileName(model.TrimEnd('/')) + "-" + Path.GetFileNameWithoutExtension(data));
        var result = StarterConfig.Create(model, data, validation, runDir, configDir);
        TrainConfig.Parse(result.Yaml, config, [], configDir);   // what we write must load
        Directory.CreateDirectory(configDir);
        string temp = config + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, result.Yaml);
        File.Move(temp, config, overwrite: true);
        return new ConfigCreated(config, runDir, result.Parameters, result.Examples, result.MeanTokens, result.P95Tokens, result.Reasons, result.Yaml);
    });

    [McpServerTool(Name = "start_training", UseStructuredContent = true)]
    [Description("Start fine-tuning from a config file. Returns a run id at once; training continues in the background. Follow it with run_status (or wait_for_run for progress notifications); stop it with cancel_run.")]
    public RunStarted StartTraining([Description("Training config (.yaml)")] string config_path,
        [Description("Overrides as KEY=VALUE, e.g. training.max_steps=100")] string[]? overrides = null,
        [Description("Resume the run already in the config's output.dir from its latest checkpoint")] bool resume = false) => Guard(() =>
    {
        string path = roots.Resolve(config_path, "config_path");
        if (!File.Exists(path)) throw new ArgumentException($"{config_path}: no such config file");
        var config = TrainConfig.Load(path, overrides ?? []);
        roots.Resolve(config.Model.Path, "model.path");
        roots.Resolve(config.Data.Train, "data.train");
        if (config.Data.Validation is { } v) roots.Resolve(v, "data.validation");
        string runDir = roots.Resolve(config.Output.Dir, "output.dir");
        config.CheckInputsExist();   // refuse a missing model or data file now, not in the background
        string id = runs.Start(config, resume);
        return new RunStarted(id, runDir, $"training in the background; poll run_status with run_id {id}");
    });

    [McpServerTool(Name = "run_status", ReadOnly = true, UseStructuredContent = true)]
    [Description("State of a run started by start_training (running, completed, stopped = early stopping, interrupted, failed) with its latest metrics: step, loss, validation loss and accuracy, best validation loss, adapter path.")]
    public McpRunStatus RunStatus([Description("Run id from start_training")] string run_id) => Guard(() => runs.Status(run_id));

    [McpServerTool(Name = "wait_for_run", ReadOnly = true, UseStructuredContent = true)]
    [Description("Wait up to timeout_seconds (at most 60) for a run to end, sending a progress notification at every training step when the request carries a progress token. Returns the run's status either way.")]
    public async Task<McpRunStatus> WaitForRun([Description("Run id from start_training")] string run_id,
        [Description("Seconds to wait, 1 to 60")] double timeout_seconds, IProgress<ProgressNotificationValue> progress, CancellationToken cancellationToken)
    {
        var status = Guard(() => runs.Status(run_id));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Clamp(timeout_seconds, 1, 60));
        int reported = -1;
        while (status.State == "running" && DateTime.UtcNow < deadline)
        {
            await runs.WaitForChange(run_id, deadline - DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
            status = runs.Status(run_id);
            if (status.Step != reported)
            {
                reported = status.Step;
                progress.Report(new ProgressNotificationValue
                {
                    Progress = status.Step, Total = status.TotalSteps,
                    Message = status.ValLoss is double vl ? $"step {status.Step}/{status.TotalSteps} val_loss {vl:F4}"
                        : $"step {status.Step}/{status.TotalSteps} loss {status.Loss:F4}",
                });
            }
        }
        return status;
    }

    [McpServerTool(Name = "cancel_run", UseStructuredContent = true)]
    [Description("Ask a running training run to stop; it saves a checkpoint and ends as interrupted (resume with start_training resume=true).")]
    public McpRunStatus CancelRun([Description("Run id from start_training")] string run_id) => Guard(() => runs.Cancel(run_id));

    [McpServerTool(Name = "list_runs", ReadOnly = true, UseStructuredContent = true)]
    [Description("Runs started by this server (with live metrics) and every run in the run registry.")]
    public RunList ListRuns() => Guard(() =>
    {
        var registered = new List<RegisteredRun>();
        if (runs.RegistryPath is { } path && File.Exists(path))
        {
            using var registry = RunRegistry.Open(path);
            foreach (var r in registry.List())
                registered.Add(new RegisteredRun(r.Id, r.Name, r.RunDirectory, RunRecord.StatusName(r.Status), r.Model, r.Dataset, r.Steps,
                    r.BestValLoss, r.BestStep, r.StartedUtc, r.EndedUtc));
        }
        return new RunList(runs.Active(), registered);
    });

    [McpServerTool(Name = "evaluate")]
    [Description("Score a model (optionally with an adapter) on an eval suite, zero-shot: metrics with 95% intervals per task. Results are also written to out_dir/results.json.")]
    public Task<CallToolResult> Evaluate([Description("Eval suite (.yaml)")] string suite, [Description("Base model folder")] string model_dir,
        [Description("Folder to write results.json into")] string out_dir,
        [Description("Optional LoRA adapter folder")] string? adapter_dir = null,
        [Description("At most this many examples per task")] int? limit = null,
        IProgress<ProgressNotificationValue>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Guard(() =>
        {
            var loaded = EvalSuite.Load(ExistingFile(suite, "suite"));
            foreach (var task in loaded.Tasks) roots.Resolve(task.DataPath, $"task '{task.Name}' data");
            string outDir = roots.Resolve(out_dir, "out_dir");
            var lines = Lines(progress);
            string model = roots.Resolve(model_dir, "model_dir");
            string? adapter = adapter_dir is null ? null : roots.Resolve(adapter_dir, "adapter_dir");
            var setups = new PromptSetups(null);
            using var inference = InferenceModel.Load(model, adapter);
            var source = new LocalModelSource(inference);
            var results = new List<SetupResult>();
            foreach (var task in loaded.Tasks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                EvalMetrics.Create(task);
                var tests = EvalExample.Read(task.DataPath, limit is { } l ? Math.Min(l, task.Limit ?? int.MaxValue) : task.Limit);
                results.Add(EvalRunner.Run(task, PromptSetups.ZeroShotName, tests, e => setups.Messages(PromptKind.ZeroShot, e, task), source, progress: lines));
            }
            var document = EvalJson.Tasks(results);
            document["suite"] = loaded.Name;
            document["model"] = model;
            document["adapter"] = adapter;
            EvalJson.WriteJson(Path.Combine(outDir, "results.json"), document);
            document["results_path"] = Path.Combine(outDir, "results.json");
            return Structured(document);
        }), cancellationToken);

    [McpServerTool(Name = "compare", UseStructuredContent = true)]
    [Description("Prompting baselines (zero-shot, system prompt, few-shot random/retrieved when train_file is given) against adapters on an eval suite, with a verdict: whether fine-tuning beats prompting. With no adapters it measures the baselines only. Writes compare.html and JSON into out_dir.")]
    public Task<ComparisonSummary> Compare([Description("Eval suite (.yaml)")] string suite, [Description("Base model folder")] string model_dir,
        [Description("Folder for the report")] string out_dir,
        [Description("Training data, for few-shot baselines")] string? train_file = null,
        [Description("Adapter folders to compare")] string[]? adapters = null,
        [Description("At most this many examples per task")] int? limit = null,
        IProgress<ProgressNotificationValue>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Guard(() =>
        {
            var loaded = EvalSuite.Load(ExistingFile(suite, "suite"));
            foreach (var task in loaded.Tasks) roots.Resolve(task.DataPath, $"task '{task.Name}' data");
            var adapterDirs = (adapters ?? []).Select(a => roots.Resolve(a, "adapters")).ToList();
            foreach (var a in adapterDirs) if (!Directory.Exists(a)) throw new ArgumentException($"adapter {a}: no such folder");
            string outDir = roots.Resolve(out_dir, "out_dir");
            var options = new CompareOptions
            {
                ModelDirectory = roots.Resolve(model_dir, "model_dir"),
                TrainPath = train_file is null ? null : roots.Resolve(train_file, "train_file"),
                Adapters = adapterDirs,
                Limit = limit,
            };
            var result = CompareRunner.Run(loaded, options, Lines(progress));
            CompareReport.WriteAll(result, outDir);
            var v = result.Verdict;
            return new ComparisonSummary(v.Winner, v.FineTuningWorthIt, v.Summary, v.Task, v.Metric, v.BestPrompting, v.BestAdapter, Path.Combine(outDir, "compare.html"), outDir);
        }), cancellationToken);

    [McpServerTool(Name = "export", UseStructuredContent = true)]
    [Description("Fold an adapter into its base model: kind 'merged' writes a Hugging Face folder (safetensors), kind 'gguf' one .gguf file for llama.cpp/Ollama.")]
    public Task<Exported> Export([Description("merged or gguf")] string kind, [Description("Base model folder")] string model_dir,
        [Description("Output folder (merged) or .gguf file (gguf)")] string output,
        [Description("Optional LoRA adapter folder")] string? adapter_dir = null,
        [Description("merged: bf16, f16 or f32 (default: as stored); gguf: f32, f16, bf16, q8_0 ... (default f16)")] string? type = null,
        CancellationToken cancellationToken = default) =>
        Task.Run(() => Guard(() =>
        {
            string model = roots.Resolve(model_dir, "model_dir");
            string outPath = roots.Resolve(output, "output");
            string? adapter = adapter_dir is null ? null : roots.Resolve(adapter_dir, "adapter_dir");
            if (!Directory.Exists(model)) throw new IOException($"{model_dir}: no such model folder");
            if (kind == "merged")
            {
                DType storeAs;
                using (var reader = CheckpointReader.Open(model))
                    storeAs = type switch
                    {
                        null => reader.Info(reader.TensorNames.First()).DType,
                        "bf16" or "bfloat16" => DType.BF16,
                        "f16" or "float16" => DType.F16,
                        "f32" or "float32" => DType.F32,
                        _ => throw new ArgumentException($"type must be bf16, f16 or f32, not '{type}'"),
                    };
                using var loaded = DecoderModel.Load(model, precision: WeightPrecision.F32);
                if (adapter is not null) PeftAdapter.Load(loaded, adapter);
                MergedExport.Write(loaded, model, outPath, storeAs);
            }
            else if (kind == "gguf")
            {
                var ggmlType = GgufExport.ParseType(type ?? "f16");
                if (Directory.Exists(outPath)) throw new IOException($"{output}: is a folder; output names the .gguf file to write");
                GgufExport.Architecture(ModelSpec.FromConfigFile(Path.Combine(model, "config.json")));
                if (!File.Exists(Path.Combine(model, "tokenizer.json")))
                    throw new GgufExportException($"{model}: no tokenizer.json; GGUF export needs the model's tokenizer");
                using var loaded = DecoderModel.Load(model, precision: WeightPrecision.F32);
                if (adapter is not null) PeftAdapter.Load(loaded, adapter);
                GgufExport.Write(loaded, model, outPath, ggmlType);
            }
            else throw new ArgumentException($"kind must be merged or gguf, not '{kind}'");
            return new Exported(kind, outPath);
        }), cancellationToken);

    /// <summary>
    /// The library's progress lines as MCP progress notifications (a count, no total), so a client that resets its
    /// request timeout on progress keeps waiting through a long evaluation.
    /// </summary>
    private static IProgress<string>? Lines(IProgress<ProgressNotificationValue>? progress)
    {
        if (progress is null) return null;
        int count = 0;
        return new LineProgress(line => progress.Report(new ProgressNotificationValue { Progress = Interlocked.Increment(ref count), Message = line }));
    }

    private sealed class LineProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    private string ExistingFile(string path, string argument)
    {
        string real = roots.Resolve(path, argument);
        return File.Exists(real) ? real : throw new IOException($"{path}: no such file");
    }

    /// <summary>A report whose shape is the library's own JSON (as the CLI's --json prints it): structured content plus the same text.</summary>
    private static CallToolResult Structured(JsonObject json) => new()
    {
        Content = [new TextContentBlock { Text = json.ToJsonString() }],
        StructuredContent = JsonSerializer.SerializeToElement(json),
    };

    private static DatasetToolSummary Summary(DatasetToolResult result)
    {
        if (result.Refused)
            throw new FormatException($"{result.Errors.Count:N0} errors in the input, nothing written: fix them, or pass skip_invalid to drop those records; first: " +
                                      string.Join("; ", result.Errors.Items.Take(5)));
        return new DatasetToolSummary(result.Format?.Name(), result.Records, result.Written, result.Invalid, result.ExactDuplicates, result.NearDuplicates,
            result.Outputs.Select(o => new DatasetOutput(o.Path, o.Count)).ToList());
    }

    /// <summary>
    /// Runs a tool body; a refusal the CLI would print as "scalpel: MESSAGE" becomes an MCP tool error with MESSAGE.
    /// Anything else is a bug and keeps the SDK's generic error.
    /// </summary>
    private static T Guard<T>(Func<T> body)
    {
        try { return body(); }
        catch (Exception e) when (e is not McpException && IsUserError(e)) { throw new McpException(e.Message, e); }
    }

    internal static bool IsUserError(Exception e) =>
        e is OutsideRootsException or ModelConfigException or SafeTensorsFormatException or AdapterFormatException or TrainConfigException
            or Training.Recipes.FineTuneException or Text.TokenizerFormatException or Text.TokenizerConfigException or Text.TemplateException
            or IOException or UnauthorizedAccessException or ArgumentException or FormatException or GgufExportException or GgufFormatException
            or EvalSuiteException or GenerationException or DatasetException or RunRegistryException;
}
