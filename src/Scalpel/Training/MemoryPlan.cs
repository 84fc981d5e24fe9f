using System.Globalization;
using Scalpel.Adapters;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Training.Config;

namespace Scalpel.Training;

/// <summary>One line of a <see cref="MemoryPlan"/>: what takes the memory, how much, and why that much.</summary>
public sealed record MemoryItem(string Name, long Bytes, string Detail);

/// <summary>
/// What a training run will hold in memory at its peak (the first backward pass), computed from config.json, the
/// checkpoint's tensor headers and the training settings, before any weight is read. Every item mirrors an
/// allocation the engine makes: the base as it is stored in memory (BF16, F32 or quantized blocks), trainable
/// parameters with their F32 gradients and AdamW's two moments, the workspace of saved activations and backward
/// scratch (exactly the buffers <see cref="DecoderModel"/> asks its workspace for), the fused cross-entropy's chunk of
/// logits, attention's transient copies, and the process itself (runtime, tokenizer, dataset).
/// </summary>
public sealed record MemoryPlan
{
    public required IReadOnlyList<MemoryItem> Items { get; init; }
    /// <summary>The largest micro-batch in tokens the plan is for.</summary>
    public required int TokensPerMicroBatch { get; init; }
    /// <summary>Highest resident memory expected: training's peak or loading's, whichever is higher.</summary>
    public required long PeakBytes { get; init; }
    /// <summary>While loading: the base so far plus one tensor's f32 copy (quantization) or read chunk.</summary>
    public required long LoadPeakBytes { get; init; }
    /// <summary>The memory the run may use (<c>--memory-limit</c>, else what the machine has available); null when unknown.</summary>
    public long? AvailableBytes { get; init; }
    /// <summary>Changes to the config that would fit, each with its peak, when this plan does not.</summary>
    public IReadOnlyList<string> Advice { get; init; } = [];
    /// <summary>Estimated optimizer-step count and duration, when the data could be counted.</summary>
    public TimeEstimate? Time { get; init; }

    public bool Fits => AvailableBytes is not { } available || PeakBytes <= available;

    public long this[string item] => Items.FirstOrDefault(i => i.Name == item)?.Bytes ?? 0;

    /// <summary>Why a plan that does not fit is refused, and what would fit.</summary>
    public string Refusal() =>
        $"the memory plan needs {MemoryPlanner.Format(PeakBytes)} but {MemoryPlanner.Format(AvailableBytes ?? 0)} is available; change one of:\n" +
        string.Join('\n', Advice.Select(a => "  - " + a));

    /// <summary>
    /// The plan for tools: bytes per item, the peak, whether it fits, advice, and the time estimate when the plan has one
    /// (what <c>scalpel train --dry-run --json</c> prints and MCP's <c>estimate_training</c> answers).
    /// </summary>
    public System.Text.Json.Nodes.JsonObject ToJson()
    {
        var items = new System.Text.Json.Nodes.JsonObject();
        foreach (var item in Items) items[item.Name.Replace(' ', '_') + "_bytes"] = item.Bytes;
        var result = new System.Text.Json.Nodes.JsonObject
        {
            ["tokens_per_micro_batch"] = TokensPerMicroBatch,
            ["items"] = items,
            ["weights_bytes"] = this["base weights"],
            ["adapter_bytes"] = this["adapter"],
            ["gradients_bytes"] = this["gradients"],
            ["optimizer_bytes"] = this["optimizer"],
            ["activations_bytes"] = this["activations"] + this["backward scratch"],
            ["load_peak_bytes"] = LoadPeakBytes,
            ["peak_bytes"] = PeakBytes,
            ["available_bytes"] = AvailableBytes,
            ["fits"] = Fits,
            ["advice"] = new System.Text.Json.Nodes.JsonArray(Advice.Select(a => (System.Text.Json.Nodes.JsonNode)a).ToArray()),
        };
        if (Time is { } t)
            result["time"] = new System.Text.Json.Nodes.JsonObject
            {
                ["steps"] = t.Steps, ["tokens_per_step"] = t.TokensPerStep, ["tokens_per_second"] = Math.Round(t.TokensPerSecond, 1),
                ["seconds"] = Math.Round(t.Duration.TotalSeconds), ["basis"] = t.Basis,
            };
        return result;
    }

    /// <summary>The plan as a table for the terminal.</summary>
    public string Describe()
    {
        var lines = new List<string> { $"memory plan for micro-batches of {TokensPerMicroBatch} tokens:" };
        int width = Items.Max(i => i.Name.Length);
        foreach (var item in Items)
            lines.Add($"  {item.Name.PadRight(width)}  {MemoryPlanner.Format(item.Bytes),10}  {item.Detail}");
        lines.Add($"  {"peak".PadRight(width)}  {MemoryPlanner.Format(PeakBytes),10}  " +
                  (LoadPeakBytes >= PeakBytes ? "while loading the base" : "during the first backward pass"));
        if (AvailableBytes is { } available)
            lines.Add($"  {"available".PadRight(width)}  {MemoryPlanner.Format(available),10}  " + (Fits ? "fits" : "DOES NOT FIT"));
        if (Time is { } t)
            lines.Add($"time: about {t.Steps} optimizer steps of {t.TokensPerStep} tokens at ~{t.TokensPerSecond:F0} tokens/s ≈ " +
                      $"{MemoryPlanner.FormatDuration(t.Duration)} ({t.Basis})");
        return string.Join('\n', lines);
    }
}

/// <summary>A rough duration: FLOPs per token over a measured matrix-multiply speed.</summary>
public sealed record TimeEstimate(int Steps, long TokensPerStep, double TokensPerSecond, TimeSpan Duration, string Basis);

/// <summary>The settings a plan depends on; <see cref="MemoryPlanner.Inputs"/> reads them from a config.</summary>
public sealed record MemoryPlanInputs
{
    public required ModelSpec Spec { get; init; }
    public required TrainingMethod Method { get; init; }
    /// <summary>How the base is kept (see <see cref="DecoderModel.Load(string, Backends.IBackend?, WeightPrecision)"/>).</summary>
    public required WeightPrecision Precision { get; init; }
    /// <summary>The checkpoint's storage type of its matrices (Auto keeps BF16 as BF16).</summary>
    public DType CheckpointDType { get; init; } = DType.F32;
    public LoraConfig? Lora { get; init; }
    public required int TokensPerMicroBatch { get; init; }
    public bool GradientCheckpointing { get; init; }
    /// <summary>Bytes of tokenizer.json (its vocabulary and merges live on the managed heap).</summary>
    public long TokenizerFileBytes { get; init; }
    /// <summary>Bytes of the training and validation files (their examples are held, rendered, for the run).</summary>
    public long DataFileBytes { get; init; }
}

/// <summary>Builds <see cref="MemoryPlan"/>s and says what to change when one does not fit.</summary>
public static class MemoryPlanner
{
    /// <summary>The process before any model: .NET runtime, JIT-compiled code, thread stacks, GEMM pack buffers.</summary>
    public const long RuntimeBaseBytes = 96L << 20;
    /// <summary>Managed bytes per byte of tokenizer.json (strings and dictionaries of the vocabulary and merges).</summary>
    public const double TokenizerBytesPerFileByte = 15.0;
    /// <summary>Managed bytes per byte of dataset file (parsed examples, rendered token and weight arrays).</summary>
    public const double DataBytesPerFileByte = 6.0;

    /// <summary>The plan for a config, from config.json and the checkpoint's headers; reads no weights.</summary>
    public static MemoryPlan Plan(TrainConfig config, long? memoryLimitBytes = null, bool estimateTime = true)
    {
        var inputs = Inputs(config);
        var plan = Plan(inputs) with { AvailableBytes = memoryLimitBytes ?? AvailableMemoryBytes() };
        if (estimateTime) plan = plan with { Time = EstimateTime(config, inputs) };
        return plan.Fits ? plan : plan with { Advice = Advise(config, inputs, plan.AvailableBytes!.Value) };
    }

    /// <summary>The settings of a config that the plan needs.</summary>
    /// <exception cref="TrainConfigException">the model folder has no readable config.json or checkpoint</exception>
    public static MemoryPlanInputs Inputs(TrainConfig config)
    {
        ModelSpec spec;
        DType stored;
        try
        {
            spec = ModelSpec.FromConfigFile(Path.Combine(config.Model.Path, "config.json"));
            using var reader = CheckpointReader.Open(config.Model.Path);
            stored = reader.Contains("model.embed_tokens.weight") ? reader.Info("model.embed_tokens.weight").DType : DType.F32;
        }
        catch (Exception e) when (e is ModelConfigException or SafeTensorsFormatException or IOException or UnauthorizedAccessException)
        {
            throw new TrainConfigException("model.path", [$"model.path: {e.Message}"]);
        }
        var t = config.Training;
        int tokens = (int)Math.Min(int.MaxValue, (long)(t.TokensPerBatch ?? (long)(t.BatchSize ?? 1) * config.Data.MaxLength));
        long FileBytes(string? path) => path is not null && File.Exists(path) ? new FileInfo(path).Length : 0;
        return new MemoryPlanInputs
        {
            Spec = spec,
            Method = config.Method,
            Precision = config.Method == TrainingMethod.Full ? WeightPrecision.F32 : config.Model.LoadPrecision,
            CheckpointDType = stored,
            Lora = config.Method == TrainingMethod.Full ? null : config.ToLoraConfig(),
            TokensPerMicroBatch = tokens,
            GradientCheckpointing = t.GradientCheckpointing,
            TokenizerFileBytes = FileBytes(Path.Combine(config.Model.Path, "tokenizer.json")),
            DataFileBytes = FileBytes(config.Data.Train) + FileBytes(config.Data.Validation),
        };
    }

    public static MemoryPlan Plan(MemoryPlanInputs inputs)
    {
        var s = inputs.Spec;
        int d = s.HiddenSize, qDim = s.NumHeads * s.HeadDim, kvDim = s.NumKvHeads * s.HeadDim, inter = s.IntermediateSize;
        long T = Math.Max(1, inputs.TokensPerMicroBatch), L = s.NumLayers, V = s.VocabSize;
        bool full = inputs.Method == TrainingMethod.Full;
        var lora = full ? null : inputs.Lora ?? new LoraConfig();
        var targets = lora?.ResolveTargets() ?? new HashSet<string>();

        // ── the base, as DecoderModel.Load keeps it ──
        var linears = new (string Module, long Out, long In)[]
        {
            ("q_proj", qDim, d), ("k_proj", kvDim, d), ("v_proj", kvDim, d), ("o_proj", d, qDim),
            ("gate_proj", inter, d), ("up_proj", inter, d), ("down_proj", d, inter),
        };
        DType dense = inputs.Precision switch
        {
            WeightPrecision.F32 => DType.F32,
            WeightPrecision.BF16 => DType.BF16,
            _ => inputs.CheckpointDType == DType.BF16 ? DType.BF16 : DType.F32,
        };
        DType blockLinear = inputs.Precision switch { WeightPrecision.NF4 => DType.NF4, WeightPrecision.Q8_0 => DType.Q8_0, _ => dense };
        long linearElements = linears.Sum(l => l.Out * l.In);
        long blockLinearBytes = L * linears.Sum(l => blockLinear.StorageBytes(l.Out * l.In));
        long biasFloats = (s.AttentionBias ? qDim + 2L * kvDim : 0) + (s.AttentionOutputBias ? d : 0) + (s.MlpBias ? 2L * inter + d : 0);
        long normFloats = 2L * d + (s.QkNorm ? 2L * s.HeadDim : 0);
        long vectorFloats = L * (biasFloats + normFloats) + d;
        long parameterCount = L * (linearElements + biasFloats + normFloats) + d + V * d * (s.TieWordEmbeddings ? 1 : 2);
        // modules_to_save: a trainable F32 copy of each named matrix. Tied, the original stays (frozen) for the other
        // side unless both are named; untied, the named matrix itself is widened and trained.
        var saved = lora?.ResolveModulesToSave() ?? new HashSet<string>();
        long denseMatrices = s.TieWordEmbeddings ? (saved.Count == 2 ? 0 : 1) : 2 - saved.Count;
        long embedBytes = dense.StorageBytes(V * d) * denseMatrices;
        long weightBytes = blockLinearBytes + embedBytes + vectorFloats * 4;

        // ── what trains: F32 values (LoRA; full fine-tuning's are the base itself), F32 gradients, AdamW m and v ──
        var adapted = linears.Where(l => targets.Contains(l.Module)).ToArray();
        bool dora = lora?.UseDora == true && adapted.Length > 0;
        long trainableFloats = full ? parameterCount
            : L * adapted.Sum(l => (long)lora!.Rank * (l.In + l.Out) + (dora ? l.Out : 0)) + saved.Count * V * d;
        // DoRA keeps per linear the base's row norms (host), g and 1/‖W + sBA‖, and an r×r identity.
        long doraStateBytes = dora ? 4 * L * adapted.Sum(l => 3 * l.Out + (long)lora!.Rank * lora.Rank) : 0;
        long adapterBytes = full ? 0 : trainableFloats * 4 + doraStateBytes;

        // ── workspace: the buffers DecoderModel asks for (Activations, Residual, ForwardBackward, BlockBackward, Linear) ──
        long savedPerToken = d + 1 + qDim + 2L * kvDim + qDim + s.NumHeads + d + d + 1 + 3L * inter
            + (s.QkNorm ? qDim + kvDim + s.NumHeads + s.NumKvHeads : 0)
            + linears.Count(l => targets.Contains(l.Module)) * (long)(lora?.Rank ?? 0);
        long savedSets = inputs.GradientCheckpointing ? 1 : L;
        long residualPerToken = (L + 1) * d + (inputs.GradientCheckpointing ? d : 0);   // + the recomputed block's output
        long finalPerToken = d + 1;
        long backwardPerToken = 3L * d + 3L * inter + 2L * qDim + 2L * kvDim + (s.QkNorm ? qDim + kvDim : 0);
        // LoRA's scratch is keyed by width: du [T, r]; with dropout, the dropped input and its gradient per input width.
        var loraInputs = linears.Where(l => targets.Contains(l.Module)).Select(l => l.In).Distinct().ToArray();
        long loraPerToken = lora is null || targets.Count == 0 ? 0
            : lora.Rank + (lora.Dropout > 0 ? 2 * loraInputs.Sum() : 0);
        // DoRA's scratch, keyed by output width: the recomputed unscaled output and g ⊙ dy [T, out], and per linear
        // A·Wᵀ, Bᵀ [r, out], two [1, out] rows and A·Aᵀ [r, r] for the norms.
        var doraOutputs = dora ? adapted.Select(l => l.Out).Distinct().ToArray() : [];
        long doraPerToken = 2 * doraOutputs.Sum();
        long doraFixed = dora ? doraOutputs.Sum(o => (2L * lora!.Rank + 2) * o) + (long)lora!.Rank * lora.Rank : 0;
        long activationBytes = 4 * T * (savedSets * savedPerToken + residualPerToken + finalPerToken);
        long scratchBytes = 4 * T * (backwardPerToken + loraPerToken + doraPerToken) + 4 * doraFixed;

        // ── transient native buffers: cross-entropy's chunk of logits, attention backward's copies ──
        long chunkRows = Math.Min(Backends.Cpu.Kernels.FusedCrossEntropy.ChunkRows(s.VocabSize), T);
        long lossBytes = 4 * (chunkRows * V + 2 * chunkRows * d);
        long attentionBytes = 4 * T * (2L * kvDim + (s.NumHeads > s.NumKvHeads ? 2L * qDim : 0) + 2L * qDim);

        long runtimeBytes = RuntimeBaseBytes + (long)(inputs.TokenizerFileBytes * TokenizerBytesPerFileByte)
            + (long)(inputs.DataFileBytes * DataBytesPerFileByte);

        var items = new List<MemoryItem>
        {
            new("base weights", weightBytes, BaseDetail(parameterCount, blockLinear, dense, full)),
        };
        if (!full)
            items.Add(new("adapter", adapterBytes, $"{Count(trainableFloats)} trainable F32 parameters ({(dora ? "DoRA" : "LoRA")} r={lora!.Rank} on " +
                $"{string.Join(", ", linears.Select(l => l.Module).Where(targets.Contains))}{(saved.Count > 0 ? "; in full: " + string.Join(", ", saved.Order()) : "")})"));
        items.Add(new("gradients", trainableFloats * 4, "F32, one per trainable parameter"));
        items.Add(new("optimizer", trainableFloats * 8, "AdamW first and second moments, F32, trainable parameters only"));
        items.Add(new("activations", activationBytes, inputs.GradientCheckpointing
            ? $"block inputs of {L} layers + one block's saved activations (gradient checkpointing)"
            : $"saved activations of {L} layers (gradient_checkpointing: false)"));
        items.Add(new("backward scratch", scratchBytes, "gradients of one block's activations, reused by every block"));
        items.Add(new("loss and attention", lossBytes + attentionBytes, $"fused cross-entropy: logits of {chunkRows} rows at a time, never the whole batch"));
        items.Add(new("runtime", runtimeBytes, ".NET runtime, tokenizer and dataset"));

        long peak = items.Sum(i => i.Bytes);
        long largestLinear = linears.Max(l => l.Out * l.In);
        long loadTransient = blockLinear.IsQuantized() ? largestLinear * 4 + blockLinear.StorageBytes(largestLinear) : DecoderModel.LoadBandElements * 4;
        long loadPeak = weightBytes + loadTransient + runtimeBytes;
        return new MemoryPlan
        {
            Items = items,
            TokensPerMicroBatch = (int)T,
            PeakBytes = Math.Max(peak, loadPeak),
            LoadPeakBytes = loadPeak,
        };
    }

    private static string BaseDetail(long parameters, DType blockLinear, DType dense, bool full) => full
        ? $"{Count(parameters)} parameters, F32 (full fine-tuning trains them all)"
        : blockLinear == dense
            ? $"{Count(parameters)} parameters, {dense}, frozen"
            : $"{Count(parameters)} parameters: block linears {blockLinear}, embedding/head {dense}, frozen";

    /// <summary>Changes that would make the run fit, cheapest first, each with the peak it would have.</summary>
    private static IReadOnlyList<string> Advise(TrainConfig config, MemoryPlanInputs inputs, long available)
    {
        var advice = new List<string>();
        void Try(string change, MemoryPlanInputs changed)
        {
            long peak = Plan(changed).PeakBytes;
            if (peak <= available) advice.Add($"{change} (peak {Format(peak)})");
        }
        var t = config.Training;
        if (!inputs.GradientCheckpointing)
            Try("set training.gradient_checkpointing: true", inputs with { GradientCheckpointing = true });
        if (inputs.Method != TrainingMethod.Full && inputs.Precision is not (WeightPrecision.NF4 or WeightPrecision.Q8_0))
            Try("use method: qlora (NF4 base)", inputs with { Precision = WeightPrecision.NF4 });
        if (inputs.Method == TrainingMethod.Full)
        {
            string lora = $"with the lora section as it is (rank {config.Lora.Rank}, {string.Join("/", config.ToLoraConfig().ResolveTargets().Order())})";
            Try($"use method: lora instead of full fine-tuning, {lora}", inputs with { Method = TrainingMethod.Lora, Precision = WeightPrecision.Auto, Lora = config.ToLoraConfig() });
            Try($"use method: qlora instead of full fine-tuning, {lora}", inputs with { Method = TrainingMethod.Qlora, Precision = WeightPrecision.NF4, Lora = config.ToLoraConfig() });
        }
        for (int tokens = inputs.TokensPerMicroBatch / 2; tokens >= 64; tokens /= 2)
        {
            long peak = Plan(inputs with { TokensPerMicroBatch = tokens, GradientCheckpointing = true }).PeakBytes;
            if (peak > available) continue;
            string how = t.TokensPerBatch is not null
                ? $"set training.tokens_per_batch: {tokens}"
                : (t.BatchSize ?? 1) > 1 && tokens >= config.Data.MaxLength
                    ? $"set training.batch_size: {tokens / config.Data.MaxLength} with gradient_accumulation: {Math.Max(1, (t.BatchSize ?? 1) * t.GradientAccumulation / Math.Max(1, tokens / config.Data.MaxLength))}"
                    : $"set data.max_length: {tokens / Math.Max(1, t.BatchSize ?? 1)}";
            advice.Add($"{how}{(inputs.GradientCheckpointing ? "" : " and training.gradient_checkpointing: true")} (peak {Format(peak)})");
            break;
        }
        if (advice.Count == 0) advice.Add("no change of method, batch or length fits: use a smaller model or a machine with more memory");
        return advice;
    }

    /// <summary>
    /// Optimizer steps from the data file's size (examples counted by line, or tokens guessed at 4 bytes each when
    /// batches are by tokens), and tokens/s from the model's FLOPs per token over a short matrix-multiply probe.
    /// </summary>
    private static TimeEstimate? EstimateTime(TrainConfig config, MemoryPlanInputs inputs)
    {
        if (!File.Exists(config.Data.Train)) return null;
        var t = config.Training;
        long examples = File.ReadLines(config.Data.Train).LongCount(line => !string.IsNullOrWhiteSpace(line));
        double trainFraction = config.Data.Validation is null ? 1 - config.Data.ValidationSplit : 1;
        long microBatches = t.TokensPerBatch is { } budget
            ? Math.Max(1, (long)Math.Ceiling(new FileInfo(config.Data.Train).Length * trainFraction / 4.0 / budget))
            : Math.Max(1, (long)Math.Ceiling(examples * trainFraction / Math.Max(1, t.BatchSize ?? 1)));
        int steps = t.MaxSteps ?? (int)Math.Min(int.MaxValue, t.Epochs * Math.Max(1, (microBatches + t.GradientAccumulation - 1) / t.GradientAccumulation));
        long tokensPerStep = (long)inputs.TokensPerMicroBatch * t.GradientAccumulation;

        var s = inputs.Spec;
        long d = s.HiddenSize, qDim = s.NumHeads * s.HeadDim, kvDim = s.NumKvHeads * s.HeadDim;
        long matmulParams = s.NumLayers * (2 * d * qDim + 2 * d * kvDim + 3 * d * s.IntermediateSize) + d * s.VocabSize;
        double forward = 2.0 * matmulParams + 2.0 * s.NumLayers * qDim * inputs.TokensPerMicroBatch;   // + attention, causal half of 4·T·q
        // Backward costs one forward for input gradients, one more for weight gradients when all weights train;
        // gradient checkpointing adds a forward of the blocks.
        double perToken = forward * (inputs.Method == TrainingMethod.Full ? 3 : 2) + (inputs.GradientCheckpointing ? forward : 0);
        double flops = MeasureMatMulFlops();
        if (flops <= 0) return null;
        // A training step runs at about two thirds of the GEMM's speed (attention, norms, the loss and the optimizer
        // take the rest): Qwen2.5-0.5B shapes at 1 × 1024 measured 96 (QLoRA), 100 (LoRA) and 70 (full) tokens/s
        // with this probe at ~430 GFLOP/s, where this estimate gives 90, 90 and 68.
        const double trainingEfficiency = 0.65;
        double tokensPerSecond = trainingEfficiency * flops / perToken;
        var duration = TimeSpan.FromSeconds(Math.Min(steps * tokensPerStep / tokensPerSecond, TimeSpan.MaxValue.TotalSeconds / 2));
        return new TimeEstimate(steps, tokensPerStep, tokensPerSecond, duration,
            $"GEMM {flops / 1e9:F0} GFLOP/s measured on this machine, training at ~{trainingEfficiency:P0} of it, {perToken / 1e9:F2} GFLOP a token; tokens per step is the upper bound");
    }

    /// <summary>
    /// F32 matrix-multiply speed of this machine's CPU backend on a training-sized product (1024 tokens × 1024 × 1024,
    /// all cores): the fastest of the runs in ~0.3 s after a warm-up, so a busy moment does not halve the estimate.
    /// </summary>
    private static double MeasureMatMulFlops()
    {
        using var backend = new Backends.Cpu.CpuBackend();
        const int m = 1024, k = 1024, n = 1024;
        using var a = backend.Allocate(DType.F32, m, k);
        using var b = backend.Allocate(DType.F32, n, k);
        using var c = backend.Allocate(DType.F32, m, n);
        backend.MatMul(c, a, false, b, true);                // warm up: JIT and pack buffers
        var total = System.Diagnostics.Stopwatch.StartNew();
        double best = double.MaxValue;
        for (int runs = 0; runs < 3 || total.Elapsed.TotalSeconds < 0.3; runs++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            backend.MatMul(c, a, false, b, true);
            best = Math.Min(best, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return 2.0 * m * n * k / best;
    }

    /// <summary>What the machine can give this run: MemAvailable, capped by a cgroup limit; null when unknown.</summary>
    public static long? AvailableMemoryBytes()
    {
        long? available = null;
        try
        {
            if (File.Exists("/proc/meminfo"))
                foreach (var line in File.ReadLines("/proc/meminfo"))
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                        available = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            foreach (var (limit, usage) in new[] { ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes") })
            {
                if (!File.Exists(limit) || !File.Exists(usage)) continue;
                if (!long.TryParse(File.ReadAllText(limit).Trim(), CultureInfo.InvariantCulture, out long max) || max >= long.MaxValue / 2) continue;
                long free = max - long.Parse(File.ReadAllText(usage).Trim(), CultureInfo.InvariantCulture);
                available = available is { } a ? Math.Min(a, free) : free;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException) { }
        if (available is null && GC.GetGCMemoryInfo().TotalAvailableMemoryBytes is > 0 and var total) available = total;
        return available;
    }

    /// <summary>This process's peak resident memory so far (VmHWM), or null where the OS does not tell.</summary>
    public static long? PeakResidentBytes()
    {
        try
        {
            if (!File.Exists("/proc/self/status")) return null;
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception e) when (e is IOException or FormatException) { }
        return null;
    }

    /// <summary>Parses a size such as <c>8G</c>, <c>512MiB</c> or <c>1073741824</c>.</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        text = text.Trim();
        int split = 0;
        while (split < text.Length && (char.IsAsciiDigit(text[split]) || text[split] == '.')) split++;
        if (split == 0 || !double.TryParse(text[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out double value)) return false;
        double unit = text[split..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => 0,
        };
        if (unit == 0 || value * unit > long.MaxValue / 2) return false;
        bytes = (long)(value * unit);
        return bytes > 0;
    }

    public static string Format(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    public static string FormatDuration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours} h {t.Minutes} min" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes} min {t.Seconds} s" : $"{t.TotalSeconds:F0} s";

    private static string Count(long n) => n >= 1_000_000_000 ? $"{n / 1e9:F2} B" : n >= 1_000_000 ? $"{n / 1e6:F1} M" : n.ToString("N0", CultureInfo.InvariantCulture);
}
