using Scalpel.Adapters;

namespace Scalpel.Training.Config;

/// <summary>
/// Reads every field of <see cref="TrainConfig"/> from <see cref="ConfigValues"/>, top to bottom in YAML order, with
/// its type and range; then the checks that involve two fields. Errors are collected, never thrown here.
/// </summary>
internal static class TrainConfigBuilder
{
    public static TrainConfig Build(ConfigValues v)
    {
        var modelDefaults = new ModelSection { Path = "" };
        var model = new ModelSection
        {
            Path = v.RequiredPath("model.path"),
            Precision = v.Enum("model.precision", modelDefaults.Precision, TrainConfigNames.Precision),
        };

        var dataDefaults = new DataSection { Train = "" };
        var data = new DataSection
        {
            Train = v.RequiredPath("data.train"),
            Validation = v.PathValue("data.validation"),
            Format = v.Enum("data.format", dataDefaults.Format, TrainConfigNames.Format),
            TrainOn = v.Enum("data.train_on", dataDefaults.TrainOn, TrainConfigNames.TrainOnValues),
            MaxLength = v.Int("data.max_length", dataDefaults.MaxLength, min: 16),
            Truncation = v.Enum("data.truncation", dataDefaults.Truncation, TrainConfigNames.TruncationValues),
            Packing = v.Bool("data.packing", dataDefaults.Packing),
            ValidationSplit = v.Double("data.validation_split", dataDefaults.ValidationSplit, 0, 1, maxExclusive: true),
        };
        if (data.Validation is not null && data.ValidationSplit > 0)
            v.Error("data.validation_split", "set data.validation (a file) or data.validation_split (a fraction of data.train), not both");

        var method = v.Enum("method", TrainingMethod.Lora, TrainConfigNames.Method, TrainConfigNames.NotYetSupportedMethods);
        // Read after method, whose value sets its default: QLoRA's base is NF4 unless told otherwise.
        model = model with
        {
            Quantize = v.Enum("model.quantize", method == TrainingMethod.Qlora ? BaseQuantization.Nf4 : BaseQuantization.None, TrainConfigNames.Quantize),
        };
        if (method == TrainingMethod.Full && model.Quantize != BaseQuantization.None)
            v.Error("model.quantize", $"full fine-tuning trains every weight in F32, so the base cannot be quantized ({v.Where("method")})");
        if (method == TrainingMethod.Qlora && model.Quantize == BaseQuantization.None)
            v.Error("model.quantize", $"method: qlora trains LoRA on a quantized base: use nf4 or q8_0, or method: lora ({v.Where("method")})");

        var loraDefaults = new LoraSection();
        var lora = new LoraSection
        {
            Rank = v.Int("lora.rank", loraDefaults.Rank, min: 1),
            Alpha = v.Double("lora.alpha", loraDefaults.Alpha, 0, minExclusive: true),
            Dropout = v.Double("lora.dropout", loraDefaults.Dropout, 0, 1, maxExclusive: true),
            TargetModules = TargetModules(v) ?? loraDefaults.TargetModules,
            UseRslora = v.Bool("lora.use_rslora", loraDefaults.UseRslora),
            UseDora = v.Bool("lora.use_dora", loraDefaults.UseDora),
            LoraplusLrRatio = v.OptionalDouble("lora.loraplus_lr_ratio", 0, minExclusive: true),
            ModulesToSave = ModulesToSave(v) ?? loraDefaults.ModulesToSave,
            InitFrom = v.PathValue("lora.init_from"),
        };
        if (lora.InitFrom is not null && method == TrainingMethod.Full)
            v.Error("lora.init_from", $"starts a LoRA adapter from a saved one, so it needs method: lora or qlora ({v.Where("method")})");
        // Settings of the adapter mean nothing when every weight trains: say so rather than ignore them.
        if (method == TrainingMethod.Full)
            foreach (var (path, set) in new[] { ("lora.use_dora", lora.UseDora), ("lora.loraplus_lr_ratio", lora.LoraplusLrRatio is not null),
                         ("lora.modules_to_save", lora.ModulesToSave.Count > 0) })
                if (set) v.Error(path, $"is a LoRA setting; method: full trains every weight already ({v.Where("method")})");

        var t = new TrainingSection();
        int? tokensPerBatch = v.OptionalInt("training.tokens_per_batch", min: 1);
        var training = new TrainingSection
        {
            Epochs = v.Int("training.epochs", t.Epochs, min: 1),
            MaxSteps = v.OptionalInt("training.max_steps", min: 1),
            BatchSize = tokensPerBatch is null ? v.Int("training.batch_size", t.BatchSize!.Value, min: 1) : v.OptionalInt("training.batch_size", min: 1),
            TokensPerBatch = tokensPerBatch,
            GradientAccumulation = v.Int("training.gradient_accumulation", t.GradientAccumulation, min: 1),
            Lr = v.Double("training.lr", t.Lr, 0, minExclusive: true),
            Schedule = v.Enum("training.schedule", t.Schedule, TrainConfigNames.Schedule),
            WarmupSteps = v.OptionalInt("training.warmup_steps", min: 0),
            WarmupRatio = v.OptionalDouble("training.warmup_ratio", 0, 1),
            MinLrRatio = v.Double("training.min_lr_ratio", t.MinLrRatio, 0, 1),
            WeightDecay = v.Double("training.weight_decay", t.WeightDecay, 0),
            MaxGradNorm = v.Double("training.max_grad_norm", t.MaxGradNorm, 0),
            Beta1 = v.Double("training.beta1", t.Beta1, 0, 1, maxExclusive: true),
            Beta2 = v.Double("training.beta2", t.Beta2, 0, 1, maxExclusive: true),
            Eps = v.Double("training.eps", t.Eps, 0, minExclusive: true),
            Seed = v.Int("training.seed", t.Seed, min: 0),
            GradientCheckpointing = v.Bool("training.gradient_checkpointing", t.GradientCheckpointing),
        };
        if (training.WarmupSteps is not null && training.WarmupRatio is not null)
            v.Error("training.warmup_ratio", $"set training.warmup_steps ({v.Where("training.warmup_steps")}) or training.warmup_ratio, not both");
        if (training.TokensPerBatch is { } tokens)
        {
            if (training.BatchSize is not null)
                v.Error("training.tokens_per_batch", $"set training.batch_size ({v.Where("training.batch_size")}) or training.tokens_per_batch, not both");
            if (!data.Packing)
                v.Error("training.tokens_per_batch", "needs data.packing: true (without packing a micro-batch is training.batch_size examples)");
            if (tokens < data.MaxLength)
                v.Error("training.tokens_per_batch", $"must hold at least one sequence of data.max_length = {data.MaxLength} tokens, got {tokens}");
        }

        var esDefaults = new EarlyStoppingSection();
        var validation = new ValidationSection
        {
            Interval = v.Int("validation.interval", new ValidationSection().Interval, min: 1),
            EarlyStopping = new EarlyStoppingSection
            {
                Metric = v.Enum("validation.early_stopping.metric", esDefaults.Metric, TrainConfigNames.Metric),
                Patience = v.OptionalInt("validation.early_stopping.patience", min: 1),
                MinDelta = v.Double("validation.early_stopping.min_delta", esDefaults.MinDelta, 0),
            },
        };
        if (validation.EarlyStopping.Enabled && !data.HasValidation)
            v.Error("validation.early_stopping.patience", "early stopping needs validation data: set data.validation or data.validation_split");

        var ckDefaults = new CheckpointSection();
        var checkpoints = new CheckpointSection
        {
            Interval = v.Int("checkpoints.interval", ckDefaults.Interval, min: 1),
            Keep = v.Int("checkpoints.keep", ckDefaults.Keep, min: 1),
        };

        var output = new OutputSection { Dir = v.RequiredPath("output.dir") };

        return new TrainConfig
        {
            Model = model,
            Data = data,
            Method = method,
            Lora = lora,
            Training = training,
            Validation = validation,
            Checkpoints = checkpoints,
            Output = output,
        };
    }

    private static IReadOnlyList<string>? ModulesToSave(ConfigValues v)
    {
        const string path = "lora.modules_to_save";
        if (v.StringList(path) is not { } modules) return null;
        bool ok = true;
        foreach (string m in modules)
            if (!LoraConfig.SavableModules.Contains(m))
            {
                v.Error(path, $"unknown module '{m}'; allowed: {string.Join(", ", LoraConfig.SavableModules)} (the linears train through LoRA)");
                ok = false;
            }
        foreach (var dup in modules.GroupBy(m => m).Where(g => g.Count() > 1))
        {
            v.Error(path, $"'{dup.Key}' is listed twice");
            ok = false;
        }
        return ok ? modules.ToArray() : null;
    }

    private static IReadOnlyList<string>? TargetModules(ConfigValues v)
    {
        const string path = "lora.target_modules";
        if (v.StringList(path) is not { } modules) return null;
        string known = string.Join(", ", LoraConfig.AllLinear) + " or all-linear";
        if (modules.Count == 0)
        {
            v.Error(path, $"needs at least one module; allowed: {known}");
            return null;
        }
        if (modules.Contains("all-linear"))
        {
            if (modules.Count == 1) return ["all-linear"];
            v.Error(path, "all-linear stands alone: it already means every linear layer");
            return null;
        }
        bool ok = true;
        foreach (string m in modules)
            if (!LoraConfig.AllLinear.Contains(m))
            {
                v.Error(path, $"unknown module '{m}'; allowed: {known}");
                ok = false;
            }
        foreach (var dup in modules.GroupBy(m => m).Where(g => g.Count() > 1))
        {
            v.Error(path, $"'{dup.Key}' is listed twice");
            ok = false;
        }
        return ok ? modules.ToArray() : null;
    }
}
