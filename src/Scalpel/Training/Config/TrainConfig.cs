using System.Globalization;
using Scalpel.Data.Rendering;
using Scalpel.Adapters;
using Scalpel.Models;

namespace Scalpel.Training.Config;

/// <summary>
/// A training run's configuration: the YAML file of <c>scalpel train CONFIG.yaml</c>, documented field by field
/// in docs/config.md. Configuration is data: these records only hold values; <see cref="Parse"/> checks all of
/// them (collecting every problem, each naming the file, the field and the line) before anything is loaded.
/// Defaults live here, on the records, and nowhere else.
/// </summary>
/// <remarks>
/// Paths are absolute once parsed: relative paths in the YAML are resolved against the YAML file's folder,
/// relative paths in <c>--set</c> overrides against the current directory (where the user typed them).
/// </remarks>
public sealed record TrainConfig
{
    public required ModelSection Model { get; init; }
    public required DataSection Data { get; init; }
    public TrainingMethod Method { get; init; } = TrainingMethod.Lora;
    public LoraSection Lora { get; init; } = new();
    public TrainingSection Training { get; init; } = new();
    public ValidationSection Validation { get; init; } = new();
    public CheckpointSection Checkpoints { get; init; } = new();
    public required OutputSection Output { get; init; }

    /// <summary>Reads and checks a YAML config file; <paramref name="overrides"/> are <c>KEY=VALUE</c> strings (<c>--set</c>).</summary>
    /// <exception cref="TrainConfigException">every problem found, each naming the file or override, the field and the line</exception>
    public static TrainConfig Load(string yamlPath, IReadOnlyList<string>? overrides = null)
    {
        string text;
        try { text = File.ReadAllText(yamlPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrainConfigException(yamlPath, [$"{yamlPath}: cannot read the config: {e.Message}"]);
        }
        return Parse(text, yamlPath, overrides ?? [], Path.GetDirectoryName(Path.GetFullPath(yamlPath)));
    }

    /// <summary>Parses YAML text. <paramref name="sourceName"/> names it in errors; relative paths resolve against
    /// <paramref name="baseDirectory"/>, by default the folder of <paramref name="sourceName"/>.</summary>
    /// <exception cref="TrainConfigException">every problem found</exception>
    public static TrainConfig Parse(string yaml, string sourceName, IReadOnlyList<string>? overrides = null, string? baseDirectory = null)
    {
        baseDirectory ??= Path.GetDirectoryName(Path.GetFullPath(sourceName)) ?? Directory.GetCurrentDirectory();
        var values = ConfigValues.Read(yaml, sourceName, baseDirectory, overrides ?? []);
        if (values.Unreadable) throw new TrainConfigException(sourceName, values.Errors);
        var config = TrainConfigBuilder.Build(values);
        if (values.Errors.Count > 0) throw new TrainConfigException(sourceName, values.SortedErrors());
        return config;
    }

    /// <summary>The config as YAML with every field explicit (absolute paths): the run folder's snapshot.
    /// <see cref="Parse"/> of it gives back an equal config.</summary>
    public string ToYaml() => TrainConfigYaml.Write(this);

    /// <summary>Optimizer and schedule settings for <see cref="Trainer"/>, once the recipe knows the number of optimizer steps.</summary>
    public TrainerOptions ToTrainerOptions(int totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        var t = Training;
        float minRatio = t.Schedule switch
        {
            LrScheduleKind.Cosine => (float)t.MinLrRatio,
            // Cosine decay towards a floor equal to the peak is exactly constant after warmup.
            LrScheduleKind.Constant => 1f,
            _ => throw new TrainConfigException("training.schedule",
                [$"training.schedule: '{TrainConfigNames.Name(t.Schedule)}' is not implemented by the trainer yet; use cosine or constant"]),
        };
        return new TrainerOptions
        {
            LearningRate = (float)t.Lr,
            WarmupSteps = t.WarmupStepsFor(totalSteps),
            TotalSteps = totalSteps,
            MinLearningRateRatio = minRatio,
            WeightDecay = (float)t.WeightDecay,
            Beta1 = (float)t.Beta1,
            Beta2 = (float)t.Beta2,
            Epsilon = (float)t.Eps,
            MaxGradNorm = (float)t.MaxGradNorm,
            LoraPlusLrRatio = Method == TrainingMethod.Full ? null : (float?)Lora.LoraplusLrRatio,
        };
    }

    /// <summary>The LoRA settings for <see cref="DecoderModel.ApplyLora"/>.</summary>
    public LoraConfig ToLoraConfig() => new()
    {
        Rank = Lora.Rank,
        Alpha = (float)Lora.Alpha,
        Dropout = (float)Lora.Dropout,
        UseRsLora = Lora.UseRslora,
        UseDora = Lora.UseDora,
        TargetModules = Lora.TargetModules,
        ModulesToSave = Lora.ModulesToSave,
    };

    /// <summary>Checks that the input paths exist (model folder, data files): call before loading anything.</summary>
    /// <exception cref="TrainConfigException">one line per missing input, naming the field</exception>
    public void CheckInputsExist()
    {
        var errors = new List<string>();
        if (!Directory.Exists(Model.Path)) errors.Add($"model.path: no such folder: {Model.Path}");
        if (!File.Exists(Data.Train)) errors.Add($"data.train: no such file: {Data.Train}");
        if (Data.Validation is { } v && !File.Exists(v)) errors.Add($"data.validation: no such file: {v}");
        if (Lora.InitFrom is { } init && !Directory.Exists(init)) errors.Add($"lora.init_from: no such folder: {init}");
        if (errors.Count > 0) throw new TrainConfigException("config", errors);
    }

    /// <summary>
    /// When <c>lora.init_from</c> is set: checks that the adapter there is a PEFT LoRA adapter with the rank, alpha,
    /// target modules and rsLoRA flag this config's <c>lora</c> section says, so the config stays the one description
    /// of what is trained (and a resumed run reads the same). <c>lora.dropout</c> is the config's own; the adapter's
    /// lora_dropout is not used. Call after <see cref="CheckInputsExist"/>, before loading the model.
    /// </summary>
    /// <exception cref="TrainConfigException">one line per mismatch, naming adapter_config.json, its field and the config field to set</exception>
    public void CheckInitialAdapter()
    {
        if (Lora.InitFrom is not { } dir) return;
        LoraConfig stored;
        try { stored = PeftAdapter.ReadConfig(dir); }
        catch (AdapterFormatException e) { throw new TrainConfigException("lora.init_from", [$"lora.init_from: {e.Message}"]); }
        string file = Path.Combine(dir, PeftAdapter.ConfigFileName);
        var ours = ToLoraConfig();
        var errors = new List<string>();
        void Mismatch(string adapterField, object adapterValue, string configField, object configValue, string yaml) =>
            errors.Add($"{configField}: is {configValue}, but lora.init_from's {file} has {adapterField} = {adapterValue}; set {configField}: {yaml}");
        if (stored.Rank != ours.Rank) Mismatch("r", stored.Rank, "lora.rank", ours.Rank, stored.Rank.ToString(CultureInfo.InvariantCulture));
        if (stored.Alpha != ours.Alpha)
            Mismatch("lora_alpha", Num(stored.Alpha), "lora.alpha", Num(ours.Alpha), Num(stored.Alpha));
        if (!stored.ResolveTargets().SetEquals(ours.ResolveTargets()))
            Mismatch("target_modules", List(stored.TargetModules), "lora.target_modules", List(ours.TargetModules), List(stored.TargetModules));
        if (stored.UseRsLora != ours.UseRsLora)
            Mismatch("use_rslora", stored.UseRsLora ? "true" : "false", "lora.use_rslora", ours.UseRsLora ? "true" : "false", stored.UseRsLora ? "true" : "false");
        if (stored.UseDora != ours.UseDora)
            Mismatch("use_dora", stored.UseDora ? "true" : "false", "lora.use_dora", ours.UseDora ? "true" : "false", stored.UseDora ? "true" : "false");
        if (!stored.ResolveModulesToSave().SetEquals(ours.ResolveModulesToSave()))
            Mismatch("modules_to_save", "[" + string.Join(", ", stored.ModulesToSave) + "]", "lora.modules_to_save",
                "[" + string.Join(", ", ours.ModulesToSave) + "]", "[" + string.Join(", ", stored.ModulesToSave) + "]");
        if (errors.Count > 0) throw new TrainConfigException("lora.init_from", errors);

        static string Num(float x) => x.ToString("R", CultureInfo.InvariantCulture);
        static string List(IReadOnlyList<string> modules) => modules is ["all-linear"] ? "all-linear" : "[" + string.Join(", ", modules) + "]";
    }
}

/// <summary><c>model</c>: the base model.</summary>
public sealed record ModelSection
{
    /// <summary>Hugging Face model folder (config.json, *.safetensors, tokenizer files).</summary>
    public required string Path { get; init; }
    public WeightPrecision Precision { get; init; } = WeightPrecision.Auto;
    /// <summary>Quantize the blocks' linears on load (NF4 for <c>method: qlora</c> unless set); overrides <see cref="Precision"/> for them.</summary>
    public BaseQuantization Quantize { get; init; } = BaseQuantization.None;

    /// <summary>The precision <see cref="Models.DecoderModel.Load(string, Backends.IBackend?, WeightPrecision)"/> gets for a frozen base.</summary>
    public WeightPrecision LoadPrecision => Quantize switch
    {
        BaseQuantization.Nf4 => WeightPrecision.NF4,
        BaseQuantization.Q8_0 => WeightPrecision.Q8_0,
        _ => Precision,
    };
}

/// <summary><c>data</c>: the datasets and how examples become token sequences.</summary>
public sealed record DataSection
{
    public required string Train { get; init; }
    public string? Validation { get; init; }
    public DataFormat Format { get; init; } = DataFormat.Auto;
    public LossScope TrainOn { get; init; } = LossScope.Assistant;
    /// <summary>Longest sequence in tokens.</summary>
    public int MaxLength { get; init; } = 2048;
    public TruncationPolicy Truncation { get; init; } = TruncationPolicy.Drop;
    public bool Packing { get; init; } = true;
    /// <summary>Fraction of the training file held out for validation when <see cref="Validation"/> is not set.</summary>
    public double ValidationSplit { get; init; }

    /// <summary>Whether the run has validation data at all.</summary>
    public bool HasValidation => Validation is not null || ValidationSplit > 0;
}

/// <summary><c>lora</c>: adapter settings (used when <c>method: lora</c>).</summary>
public sealed record LoraSection
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; } = 0.05;
    /// <summary>Module names (q_proj … down_proj) or the single entry "all-linear".</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj"];
    public bool UseRslora { get; init; }
    /// <summary>DoRA: a learnt magnitude per output feature of each adapted linear (peft's use_dora).</summary>
    public bool UseDora { get; init; }
    /// <summary>LoRA+: B matrices (and DoRA magnitudes) learn at training.lr × this; null = off.</summary>
    public double? LoraplusLrRatio { get; init; }
    /// <summary>embed_tokens and/or lm_head, trained in full and saved with the adapter (peft's modules_to_save).</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
    /// <summary>A PEFT adapter folder whose weights the adapter starts from (instead of A random, B zero). Its r,
    /// lora_alpha, target_modules, use_rslora, use_dora and modules_to_save must be the ones this section says; see
    /// <see cref="TrainConfig.CheckInitialAdapter"/>.</summary>
    public string? InitFrom { get; init; }

    public bool Equals(LoraSection? other) =>
        other is not null && Rank == other.Rank && Alpha.Equals(other.Alpha) && Dropout.Equals(other.Dropout)
        && UseRslora == other.UseRslora && TargetModules.SequenceEqual(other.TargetModules) && InitFrom == other.InitFrom
        && UseDora == other.UseDora && LoraplusLrRatio.Equals(other.LoraplusLrRatio) && ModulesToSave.SequenceEqual(other.ModulesToSave);

    public override int GetHashCode() =>
        HashCode.Combine(Rank, Alpha, Dropout, UseRslora, string.Join(',', TargetModules), InitFrom, UseDora, string.Join(',', ModulesToSave));
}

/// <summary><c>training</c>: length of training, batch, optimizer and schedule.</summary>
public sealed record TrainingSection
{
    public int Epochs { get; init; } = 1;
    /// <summary>Optimizer steps; wins over <see cref="Epochs"/> when set.</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Examples per micro-batch; null when <see cref="TokensPerBatch"/> is used instead.</summary>
    public int? BatchSize { get; init; } = 4;
    /// <summary>Tokens per packed micro-batch, the alternative to <see cref="BatchSize"/> (needs packing).</summary>
    public int? TokensPerBatch { get; init; }
    public int GradientAccumulation { get; init; } = 1;
    public double Lr { get; init; } = 2e-4;
    public LrScheduleKind Schedule { get; init; } = LrScheduleKind.Cosine;
    /// <summary>At most one of <see cref="WarmupSteps"/> and <see cref="WarmupRatio"/> is set; neither means no warmup.</summary>
    public int? WarmupSteps { get; init; }
    public double? WarmupRatio { get; init; }
    public double MinLrRatio { get; init; }
    public double WeightDecay { get; init; }
    /// <summary>Global gradient-norm clip; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public int Seed { get; init; } = 42;
    public bool GradientCheckpointing { get; init; }

    /// <summary>Warmup steps for a run of <paramref name="totalSteps"/> optimizer steps (a ratio rounds up, as transformers does).</summary>
    public int WarmupStepsFor(int totalSteps) =>
        WarmupSteps ?? (WarmupRatio is { } r ? (int)Math.Ceiling(totalSteps * r) : 0);
}

/// <summary><c>validation</c>: how often to evaluate on held-out data, and early stopping.</summary>
public sealed record ValidationSection
{
    /// <summary>Evaluate every this many optimizer steps (and at the end).</summary>
    public int Interval { get; init; } = 50;
    public EarlyStoppingSection EarlyStopping { get; init; } = new();
}

/// <summary><c>validation.early_stopping</c>: off unless <see cref="Patience"/> is set.</summary>
public sealed record EarlyStoppingSection
{
    public EarlyStoppingMetric Metric { get; init; } = EarlyStoppingMetric.ValLoss;
    /// <summary>Stop after this many evaluations without improvement; null = never stop early.</summary>
    public int? Patience { get; init; }
    /// <summary>An evaluation improves on the best only by more than this.</summary>
    public double MinDelta { get; init; }

    public bool Enabled => Patience is not null;
}

/// <summary><c>checkpoints</c>: how often to save and how many to keep.</summary>
public sealed record CheckpointSection
{
    public int Interval { get; init; } = 100;
    public int Keep { get; init; } = 3;
}

/// <summary><c>output</c>: where the run goes.</summary>
public sealed record OutputSection
{
    /// <summary>The run folder: config snapshot, metrics.jsonl, checkpoints, adapter, report.html.</summary>
    public required string Dir { get; init; }
}
