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
using Scalpel.Training;
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
public sealed record RunList(IReadOnlyList<McpRunStatus> Active, IReadOnlyList<RegisteredRun> Registered, IReadOnlyList<McpJobStatus> Jobs);
public sealed record RegisteredRun(string Id, string? Name, string RunDirectory, string Status, string? Model, string? Dataset, int Steps,
    double? BestValLoss, int? BestStep, DateTime StartedUtc, DateTime? EndedUtc);
public sealed record ComparisonSummary(string Winner, bool FineTuningWorthIt, string Summary, string Task, string Metric, string? BestPrompting, string? BestAdapter,
    string ReportPath, string ResultsDirectory);
public sealed record Exported(string Kind, string Output, string? ModelfilePath, IReadOnlyList<string> Warnings);
public sealed record JobStarted(string JobId, string Kind, string Message);

/// <summary>
/// The MCP tools of <c>scalpel mcp</c>: thin wrappers over the library calls the CLI commands make, with every path
/// argument held to the roots and every refusal turned into a tool error carrying the library's own message (what
/// the CLI prints after "scalpel: "). Training, evaluation, comparison and export run in the background: the tool
/// checks its inputs, starts the work and returns an id at once, so no call waits on long work.
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
    [Description("Validate a training file (JSONL/JSON/CSV/Parquet; chat, instruction, prompt/completion, preference or text): errors, warnings and stats. has_errors true means training would refuse it. The report stays readable as the resource at resource_uri (scalpel://data-checks/{check_id}).")]
    public CallToolResult CheckDataset([Description("Dataset file")] string file,
        [Description("Optional validation file, checked for overlap with the training file")] string? validation_file = null) => Guard(() =>
    {
        var options = new DataCheckOptions { ValidationFile = validation_file is null ? null : roots.Resolve(validation_file, "validation_file") };
        var report = DataChecker.Check(ExistingFile(file, "file"), options);
        string text = report.ToJson();
        var json = JsonNode.Parse(text)!.AsObject();
        json["has_errors"] = report.HasErrors;
        var kept = runs.DataChecks.Add(report.File, text);
        json["check_id"] = kept.Id;
        json["resource_uri"] = kept.Uri;
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

    [McpServerTool(Name = "estimate_training", ReadOnly = true)]
    [Description("Memory and time a training config would take, before loading anything (scalpel train --dry-run --json): bytes for weights, adapter, gradients, optimizer and activations, the peak against the memory available (fits), advice when it does not fit, and a time estimate (steps, tokens/s measured on this machine, seconds). summary is the same plan as text.")]
    public CallToolResult EstimateTraining([Description("Training config (.yaml)")] string config_path,
        [Description("Overrides as KEY=VALUE, e.g. training.max_steps=100")] string[]? overrides = null,
        [Description("Memory to plan against, e.g. 8G or 512M (default: what this machine has available)")] string? memory_limit = null) => Guard(() =>
    {
        var config = LoadConfig(config_path, overrides);
        long? limit = null;
        if (memory_limit is not null)
            limit = MemoryPlanner.TryParseSize(memory_limit, out long bytes) ? bytes
                : throw new ArgumentException($"memory_limit: '{memory_limit}' is not a size (e.g. 8G, 512M, 1073741824)");
        var plan = MemoryPlanner.Plan(config, limit, estimateTime: true);
        var json = plan.ToJson();
        json["summary"] = plan.Describe();
        if (!plan.Fits) json["refusal"] = plan.Refusal();
        return Structured(json);
    });

    [McpServerTool(Name = "start_training", UseStructuredContent = true)]
    [Description("Start fine-tuning from a config file. Returns a run id at once; training continues in the background. Follow it with run_status (or wait_for_run for progress notifications); stop it with cancel_run. A run whose memory plan does not fit the memory available is refused with what to change (estimate_training shows the plan).")]
    public RunStarted StartTraining([Description("Training config (.yaml)")] string config_path,
        [Description("Overrides as KEY=VALUE, e.g. training.max_steps=100")] string[]? overrides = null,
        [Description("Resume the run already in the config's output.dir from its latest checkpoint")] bool resume = false,
        [Description("Start even when the memory plan says the run will not fit")] bool ignore_memory_plan = false) => Guard(() =>
    {
        var config = LoadConfig(config_path, overrides);
        string runDir = roots.Resolve(config.Output.Dir, "output.dir");
        var plan = MemoryPlanner.Plan(config, estimateTime: false);
        if (!plan.Fits && !ignore_memory_plan) throw new ArgumentException(plan.Refusal());
        string id = runs.Start(config, resume);
        return new RunStarted(id, runDir, $"training in the background; poll run_status with run_id {id}");
    });

    /// <summary>A config whose every path lies under the roots and whose model and data exist (refused now, not in the background).</summary>
    private TrainConfig LoadConfig(string configPath, string[]? overrides)
    {
        string path = roots.Resolve(configPath, "config_path");
        if (!File.Exists(path)) throw new ArgumentException($"{configPath}: no such config file");
        var config = TrainConfig.Load(path, overrides ?? []);
        roots.Resolve(config.Model.Path, "model.path");
        roots.Resolve(config.Data.Train, "data.train");
        if (config.Data.Validation is { } v) roots.Resolve(v, "data.validation");
        roots.Resolve(config.Output.Dir, "output.dir");
        config.CheckInputsExist();
        return config;
    }

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
    [Description("Runs started by this server (with live metrics), every run in the run registry, and the evaluate / compare / export jobs of this server.")]
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
        return new RunList(runs.Active(), registered, runs.Jobs.All());
    });

    [McpServerTool(Name = "evaluate", UseStructuredContent = true)]
    [Description("Start scoring a model (optionally with an adapter) on an eval suite, zero-shot. Returns a job id at once; the work runs in the background. Follow it with job_status or wait_for_job: when completed, result holds metrics with 95% intervals per task and results_path (out_dir/results.json).")]
    public JobStarted Evaluate([Description("Eval suite (.yaml)")] string suite, [Description("Base model folder")] string model_dir,
        [Description("Folder to write results.json into")] string out_dir,
        [Description("Optional LoRA adapter folder")] string? adapter_dir = null,
        [Description("At most this many examples per task")] int? limit = null) => Guard(() =>
    {
        // Everything an agent can get wrong is refused here, before the job starts.
        var loaded = EvalSuite.Load(ExistingFile(suite, "suite"));
        foreach (var task in loaded.Tasks) roots.Resolve(task.DataPath, $"task '{task.Name}' data");
        string outDir = roots.Resolve(out_dir, "out_dir");
        string model = ExistingFolder(model_dir, "model_dir", "model");
        string? adapter = adapter_dir is null ? null : ExistingFolder(adapter_dir, "adapter_dir", "adapter");
        var tests = new List<IReadOnlyList<EvalExample>>();
        foreach (var task in loaded.Tasks)
        {
            EvalMetrics.Create(task);
            tests.Add(EvalExample.Read(task.DataPath, limit is { } l ? Math.Min(l, task.Limit ?? int.MaxValue) : task.Limit));
        }
        string id = runs.Jobs.Start("evaluate", (lines, cancellationToken) =>
        {
            var setups = new PromptSetups(null);
            lines.Report($"loading {model}" + (adapter is null ? "" : $" + {adapter}"));
            using var inference = InferenceModel.Load(model, adapter);
            var source = new LocalModelSource(inference);
            var results = new List<SetupResult>();
            for (int i = 0; i < loaded.Tasks.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var task = loaded.Tasks[i];
                results.Add(EvalRunner.Run(task, PromptSetups.ZeroShotName, tests[i], e => setups.Messages(PromptKind.ZeroShot, e, task), source, progress: lines));
            }
            var document = EvalJson.Tasks(results);
            document["suite"] = loaded.Name;
            document["model"] = model;
            document["adapter"] = adapter;
            EvalJson.WriteJson(Path.Combine(outDir, "results.json"), document);
            document["results_path"] = Path.Combine(outDir, "results.json");
            return document;
        });
        return Started(id, "evaluate");
    });

    [McpServerTool(Name = "compare", UseStructuredContent = true)]
    [Description("Start comparing prompting baselines (zero-shot, system prompt, few-shot random/retrieved when train_file is given) against adapters on an eval suite. Returns a job id at once; the work runs in the background. Follow it with job_status or wait_for_job: when completed, result holds the verdict (winner, fine_tuning_worth_it, summary) and report_path (compare.html in out_dir). With no adapters it measures the baselines only.")]
    public JobStarted Compare([Description("Eval suite (.yaml)")] string suite, [Description("Base model folder")] string model_dir,
        [Description("Folder for the report")] string out_dir,
        [Description("Training data, for few-shot baselines")] string? train_file = null,
        [Description("Adapter folders to compare")] string[]? adapters = null,
        [Description("At most this many examples per task")] int? limit = null) => Guard(() =>
    {
        var loaded = EvalSuite.Load(ExistingFile(suite, "suite"));
        foreach (var task in loaded.Tasks) roots.Resolve(task.DataPath, $"task '{task.Name}' data");
        var adapterDirs = (adapters ?? []).Select(a => ExistingFolder(a, "adapters", "adapter")).ToList();
        string outDir = roots.Resolve(out_dir, "out_dir");
        var options = new CompareOptions
        {
            ModelDirectory = ExistingFolder(model_dir, "model_dir", "model"),
            TrainPath = train_file is null ? null : ExistingFile(train_file, "train_file"),
            Adapters = adapterDirs,
            Limit = limit,
        };
        string id = runs.Jobs.Start("compare", (lines, _) =>
        {
            var result = CompareRunner.Run(loaded, options, lines);
            CompareReport.WriteAll(result, outDir);
            var v = result.Verdict;
            return ToJson(new ComparisonSummary(v.Winner, v.FineTuningWorthIt, v.Summary, v.Task, v.Metric, v.BestPrompting, v.BestAdapter,
                Path.Combine(outDir, "compare.html"), outDir));
        });
        return Started(id, "compare");
    });

    [McpServerTool(Name = "export", UseStructuredContent = true)]
    [Description("Start folding an adapter into its base model: kind 'merged' writes a Hugging Face folder (safetensors), 'gguf' one .gguf file for llama.cpp/Ollama, 'gguf-adapter' the adapter alone as a GGUF LoRA. Returns a job id at once; follow it with job_status or wait_for_job (result: kind, output, modelfile_path).")]
    public JobStarted Export([Description("merged, gguf or gguf-adapter")] string kind, [Description("Base model folder")] string model_dir,
        [Description("Output folder (merged) or .gguf file (gguf, gguf-adapter)")] string output,
        [Description("LoRA adapter folder (required for gguf-adapter)")] string? adapter_dir = null,
        [Description("merged: bf16, f16 or f32 (default: as stored); gguf: f32, f16, bf16, q8_0 or q4_0 (default f16); gguf-adapter: f32, f16 or bf16 (default f32)")] string? type = null,
        [Description("Also write an Ollama Modelfile next to the .gguf file")] bool modelfile = false,
        [Description("gguf-adapter with modelfile: the base model's .gguf file (the Modelfile's FROM)")] string? base_gguf = null) => Guard(() =>
    {
        var request = new ExportRequest
        {
            Kind = ModelExport.ParseKind(kind),
            ModelDirectory = roots.Resolve(model_dir, "model_dir"),
            Output = roots.Resolve(output, "output"),
            AdapterDirectory = adapter_dir is null ? null : roots.Resolve(adapter_dir, "adapter_dir"),
            Type = type,
            Modelfile = modelfile,
            BaseGguf = base_gguf is null ? null : roots.Resolve(base_gguf, "base_gguf"),
        };
        // The Modelfile is written next to the .gguf file, so the output's folder is inside the roots already.
        ModelExport.Check(request);
        string id = runs.Jobs.Start("export", (lines, cancellationToken) =>
        {
            var r = ModelExport.Run(request, lines, cancellationToken);
            return ToJson(new Exported(kind, r.Output, r.ModelfilePath, r.Warnings));
        });
        return Started(id, "export");
    });

    [McpServerTool(Name = "job_status", ReadOnly = true, UseStructuredContent = true)]
    [Description("State of an evaluate, compare or export job (running, completed, failed, cancelled), its progress (count of progress lines and the latest one) and, once completed, its result: compare gives winner, fine_tuning_worth_it, summary and report_path; evaluate gives metrics and results_path; export gives the output path.")]
    public McpJobStatus JobStatus([Description("Job id from evaluate, compare or export")] string job_id) => Guard(() => runs.Jobs.Status(job_id));

    [McpServerTool(Name = "wait_for_job", ReadOnly = true, UseStructuredContent = true)]
    [Description("Wait up to timeout_seconds (at most 60) for a job to end, sending a progress notification at each progress line when the request carries a progress token. Returns the job's status either way.")]
    public async Task<McpJobStatus> WaitForJob([Description("Job id from evaluate, compare or export")] string job_id,
        [Description("Seconds to wait, 1 to 60")] double timeout_seconds, IProgress<ProgressNotificationValue> progress, CancellationToken cancellationToken)
    {
        var status = Guard(() => runs.Jobs.Status(job_id));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Clamp(timeout_seconds, 1, 60));
        int reported = -1;
        while (status.State == "running" && DateTime.UtcNow < deadline)
        {
            await runs.Jobs.WaitForChange(job_id, deadline - DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
            status = runs.Jobs.Status(job_id);
            if (status.Progress != reported && status.Message is { } message)
            {
                reported = status.Progress;
                progress.Report(new ProgressNotificationValue { Progress = status.Progress, Message = message });
            }
        }
        return status;
    }

    [McpServerTool(Name = "cancel_job", UseStructuredContent = true)]
    [Description("Ask an evaluate, compare or export job to stop; it ends as cancelled at its next progress step.")]
    public McpJobStatus CancelJob([Description("Job id from evaluate, compare or export")] string job_id) => Guard(() => runs.Jobs.Cancel(job_id));

    private static JobStarted Started(string id, string kind) =>
        new(id, kind, $"{kind} running in the background; follow it with job_status or wait_for_job (job_id {id})");

    /// <summary>A tool's record as the JSON its structured output would carry (snake_case), for a job's result.</summary>
    private static JsonObject ToJson<T>(T value) => JsonSerializer.SerializeToNode(value, ScalpelMcpServer.OutputJson)!.AsObject();

    private string ExistingFolder(string path, string argument, string what)
    {
        string real = roots.Resolve(path, argument);
        return Directory.Exists(real) ? real : throw new IOException($"{path}: no such {what} folder");
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
