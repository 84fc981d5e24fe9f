using Scalpel.Data.Rendering;
using Scalpel.Models;
using Scalpel.Training.Config;
using Xunit;

namespace Scalpel.Tests.Training.Config;

public class TrainConfigTests
{
    private const string Minimal = """
        model:
          path: models/smol
        data:
          train: data/train.jsonl
        output:
          dir: runs/first
        """;

    private static readonly string Base = Path.Combine(Path.GetTempPath(), "scalpel-config-base");

    private static TrainConfig Parse(string yaml, params string[] overrides) =>
        TrainConfig.Parse(yaml, Path.Combine(Base, "config.yaml"), overrides);

    private static TrainConfigException Fails(string yaml, params string[] overrides) =>
        Assert.Throws<TrainConfigException>(() => Parse(yaml, overrides));

    [Fact]
    public void MinimalConfigGetsTheDocumentedDefaultsAndPathsResolveAgainstTheYamlFolder()
    {
        var c = Parse(Minimal);
        Assert.Equal(Path.Combine(Base, "models", "smol"), c.Model.Path);
        Assert.Equal(Path.Combine(Base, "data", "train.jsonl"), c.Data.Train);
        Assert.Equal(Path.Combine(Base, "runs", "first"), c.Output.Dir);
        Assert.Equal(WeightPrecision.Auto, c.Model.Precision);
        Assert.Null(c.Data.Validation);
        Assert.Equal(DataFormat.Auto, c.Data.Format);
        Assert.Equal(LossScope.Assistant, c.Data.TrainOn);
        Assert.Equal(2048, c.Data.MaxLength);
        Assert.Equal(TruncationPolicy.Drop, c.Data.Truncation);
        Assert.True(c.Data.Packing);
        Assert.Equal(0, c.Data.ValidationSplit);
        Assert.Equal(TrainingMethod.Lora, c.Method);
        Assert.Equal(8, c.Lora.Rank);
        Assert.Equal(16, c.Lora.Alpha);
        Assert.Equal(0.05, c.Lora.Dropout);
        Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj"], c.Lora.TargetModules);
        Assert.False(c.Lora.UseRslora);
        Assert.Equal(1, c.Training.Epochs);
        Assert.Null(c.Training.MaxSteps);
        Assert.Equal(4, c.Training.BatchSize);
        Assert.Null(c.Training.TokensPerBatch);
        Assert.Equal(1, c.Training.GradientAccumulation);
        Assert.Equal(2e-4, c.Training.Lr);
        Assert.Equal(LrScheduleKind.Cosine, c.Training.Schedule);
        Assert.Null(c.Training.WarmupSteps);
        Assert.Null(c.Training.WarmupRatio);
        Assert.Equal(1.0, c.Training.MaxGradNorm);
        Assert.Equal(42, c.Training.Seed);
        Assert.False(c.Training.GradientCheckpointing);
        Assert.Equal(50, c.Validation.Interval);
        Assert.False(c.Validation.EarlyStopping.Enabled);
        Assert.Equal(EarlyStoppingMetric.ValLoss, c.Validation.EarlyStopping.Metric);
        Assert.Equal(100, c.Checkpoints.Interval);
        Assert.Equal(3, c.Checkpoints.Keep);
    }

    private const string Full = """
        # every field set
        model:
          path: /models/smol
          precision: bf16
        data:
          train: /data/train.jsonl
          validation: /data/val.jsonl
          format: prompt_completion
          train_on: last_assistant
          max_length: 512
          truncation: truncate_prompt_left
          packing: false
          validation_split: 0
        method: full
        lora:
          rank: 16
          alpha: 32.5
          dropout: 0
          target_modules: all-linear
          use_rslora: true
        training:
          epochs: 3
          max_steps: 200
          batch_size: 2
          gradient_accumulation: 8
          lr: 1e-5
          schedule: constant
          warmup_ratio: 0.1
          min_lr_ratio: 0.1
          weight_decay: 0.01
          max_grad_norm: 0
          beta1: 0.8
          beta2: 0.95
          eps: 1e-6
          seed: 7
          gradient_checkpointing: true
        validation:
          interval: 10
          early_stopping:
            metric: val_accuracy
            patience: 3
            min_delta: 0.001
        checkpoints:
          interval: 20
          keep: 1
        output:
          dir: /runs/full
        """;

    [Fact]
    public void EveryFieldIsRead()
    {
        var c = Parse(Full);
        Assert.Equal(WeightPrecision.BF16, c.Model.Precision);
        Assert.Equal(Path.GetFullPath("/data/val.jsonl"), c.Data.Validation);
        Assert.Equal(DataFormat.PromptCompletion, c.Data.Format);
        Assert.Equal(LossScope.LastAssistant, c.Data.TrainOn);
        Assert.Equal(512, c.Data.MaxLength);
        Assert.Equal(TruncationPolicy.TruncatePromptLeft, c.Data.Truncation);
        Assert.False(c.Data.Packing);
        Assert.Equal(TrainingMethod.Full, c.Method);
        Assert.Equal(new LoraSection { Rank = 16, Alpha = 32.5, Dropout = 0, TargetModules = ["all-linear"], UseRslora = true }, c.Lora);
        Assert.Equal(3, c.Training.Epochs);
        Assert.Equal(200, c.Training.MaxSteps);
        Assert.Equal(2, c.Training.BatchSize);
        Assert.Equal(8, c.Training.GradientAccumulation);
        Assert.Equal(1e-5, c.Training.Lr);
        Assert.Equal(LrScheduleKind.Constant, c.Training.Schedule);
        Assert.Equal(0.1, c.Training.WarmupRatio);
        Assert.Equal(0.1, c.Training.MinLrRatio);
        Assert.Equal(0.01, c.Training.WeightDecay);
        Assert.Equal(0, c.Training.MaxGradNorm);
        Assert.Equal((0.8, 0.95, 1e-6), (c.Training.Beta1, c.Training.Beta2, c.Training.Eps));
        Assert.Equal(7, c.Training.Seed);
        Assert.True(c.Training.GradientCheckpointing);
        Assert.Equal(10, c.Validation.Interval);
        Assert.Equal(new EarlyStoppingSection { Metric = EarlyStoppingMetric.ValAccuracy, Patience = 3, MinDelta = 0.001 }, c.Validation.EarlyStopping);
        Assert.Equal(new CheckpointSection { Interval = 20, Keep = 1 }, c.Checkpoints);
        Assert.Equal(Path.GetFullPath("/runs/full"), c.Output.Dir);
    }

    [Fact]
    public void UnknownFieldsNameTheLineAndSuggestTheNearMiss()
    {
        var e = Fails(Minimal + """

            training:
              lrr: 0.1
              rank: 4
              learning_rate_thing: 1
            lora:
              target_module: [q_proj]
            optimizer: adamw
            """);
        Assert.Equal(5, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:8: training.lrr: unknown field (did you mean 'training.lr'?)"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:9: training.rank: unknown field (did you mean 'lora.rank'?)"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:10: training.learning_rate_thing: unknown field; known in 'training': epochs, max_steps"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:12: lora.target_module: unknown field (did you mean 'lora.target_modules'?)"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:13: optimizer: unknown field"));
        Assert.StartsWith("5 problems in ", e.Message);
    }

    [Fact]
    public void AFieldInTheWrongSectionSuggestsEverySectionThatHasIt()
    {
        var e = Fails(Minimal, "training.interval=5", "Training.lr=1");
        Assert.Contains("--set training.interval=5: training.interval: unknown field (did you mean 'validation.interval' or 'checkpoints.interval'?)", e.Errors);
        Assert.Contains(e.Errors, m => m.Contains("Training.lr: unknown field (did you mean 'training.lr'?)"));
    }

    [Fact]
    public void WrongTypesAreErrorsWithTheFieldAndLine()
    {
        var e = Fails(Minimal + """

            training:
              lr: fast
              epochs: 2.5
              gradient_checkpointing: maybe
              batch_size: [1, 2]
            lora:
              target_modules: {q: 1}
            checkpoints:
              keep: x
            """);
        Assert.Contains("config.yaml:8: training.lr: expected a number, got 'fast'", e.Message);
        Assert.Contains("config.yaml:9: training.epochs: expected a whole number, got '2.5'", e.Message);
        Assert.Contains("config.yaml:10: training.gradient_checkpointing: expected true or false, got 'maybe'", e.Message);
        Assert.Contains("config.yaml:11: training.batch_size: expected a whole number, got a list", e.Message);
        Assert.Contains("config.yaml:13: lora.target_modules: expected a list of names, got a mapping", e.Message);
        Assert.Contains("config.yaml:15: checkpoints.keep: expected a whole number, got 'x'", e.Message);
        Assert.Equal(6, e.Errors.Count);
    }

    [Fact]
    public void ImpossibleValuesAreAllReportedTogether()
    {
        var e = Fails(Minimal + """

            lora:
              rank: 0
              dropout: 1
            training:
              lr: -0.1
              epochs: 0
              warmup_steps: 10
              warmup_ratio: 1.5
            checkpoints:
              keep: 0
            """, "data.max_length=8", "training.beta2=1");
        Assert.Contains("config.yaml:8: lora.rank: must be at least 1, got 0", e.Message);
        Assert.Contains("config.yaml:9: lora.dropout: must be in [0, 1), got 1", e.Message);
        Assert.Contains("config.yaml:11: training.lr: must be > 0, got -0.1", e.Message);
        Assert.Contains("config.yaml:12: training.epochs: must be at least 1, got 0", e.Message);
        Assert.Contains("config.yaml:14: training.warmup_ratio: must be in [0, 1], got 1.5", e.Message);
        Assert.Contains("config.yaml:16: checkpoints.keep: must be at least 1, got 0", e.Message);
        Assert.Contains("--set data.max_length=8: data.max_length: must be at least 16, got 8", e.Message);
        Assert.Contains("--set training.beta2=1: training.beta2: must be in [0, 1), got 1", e.Message);
        Assert.Equal(8, e.Errors.Count);
    }

    [Fact]
    public void BothWarmupsAreAnError()
    {
        var e = Fails(Minimal + "\ntraining:\n  warmup_steps: 10\n  warmup_ratio: 0.1\n");
        Assert.Equal("config.yaml:9: training.warmup_ratio: set training.warmup_steps (" + Path.Combine(Base, "config.yaml") +
                     ":8) or training.warmup_ratio, not both", Tail(e.Errors.Single()));
    }

    private static string Tail(string error) => error.StartsWith(Base, StringComparison.Ordinal) ? error[(Base.Length + 1)..] : error;

    [Fact]
    public void UnknownEnumValuesListTheAllowedOnes()
    {
        var e = Fails(Minimal + "\nmethod: dora\n", "data.format=csv", "data.truncation=chop", "training.schedule=step");
        Assert.Contains("data.format: unknown value 'csv'; allowed: auto, chat, alpaca, sharegpt, prompt_completion, text, preference", e.Message);
        Assert.Contains("data.truncation: unknown value 'chop'; allowed: drop, truncate_prompt_left, truncate_answer", e.Message);
        Assert.Contains("method: unknown value 'dora'; allowed: lora, full, qlora", e.Message);
        Assert.Contains("training.schedule: unknown value 'step'; allowed: cosine, linear, constant", e.Message);
    }

    [Fact]
    public void QloraQuantizesTheBaseToNf4UnlessTold()
    {
        var qlora = Parse(Minimal, "method=qlora");
        Assert.Equal(TrainingMethod.Qlora, qlora.Method);
        Assert.Equal(BaseQuantization.Nf4, qlora.Model.Quantize);
        Assert.Equal(WeightPrecision.NF4, qlora.Model.LoadPrecision);
        Assert.Equal(WeightPrecision.Q8_0, Parse(Minimal, "method=qlora", "model.quantize=q8_0").Model.LoadPrecision);
        var lora = Parse(Minimal);
        Assert.Equal(BaseQuantization.None, lora.Model.Quantize);
        Assert.Equal(WeightPrecision.Auto, lora.Model.LoadPrecision);
        Assert.Equal(WeightPrecision.NF4, Parse(Minimal, "model.quantize=nf4").Model.LoadPrecision); // LoRA on a quantized base
    }

    [Fact]
    public void QuantizeContradictingTheMethodIsAnError()
    {
        Assert.Contains("model.quantize: full fine-tuning trains every weight in F32", Fails(Minimal, "method=full", "model.quantize=nf4").Message);
        Assert.Contains("model.quantize: method: qlora trains LoRA on a quantized base", Fails(Minimal, "method=qlora", "model.quantize=none").Message);
        Assert.Contains("model.quantize: unknown value 'int4'; allowed: none, nf4, q8_0", Fails(Minimal, "model.quantize=int4").Message);
    }

    [Fact]
    public void EnumValuesIgnoreCase()
    {
        var c = Parse(Minimal, "model.precision=BF16", "method=Full");
        Assert.Equal(WeightPrecision.BF16, c.Model.Precision);
        Assert.Equal(TrainingMethod.Full, c.Method);
    }

    [Fact]
    public void MissingRequiredFieldsAreNamed()
    {
        var e = Fails("training:\n  lr: 1e-4\n");
        Assert.Equal(3, e.Errors.Count);
        Assert.Contains(e.Errors, m => m.EndsWith("config.yaml: model.path: required field is missing"));
        Assert.Contains(e.Errors, m => m.EndsWith("config.yaml: data.train: required field is missing"));
        Assert.Contains(e.Errors, m => m.EndsWith("config.yaml: output.dir: required field is missing"));
        Assert.Equal(3, Fails("").Errors.Count);
        Assert.Equal(3, Fails("# only a comment\n").Errors.Count);
    }

    [Fact]
    public void RequiredFieldsCanComeFromOverrides()
    {
        var c = Parse("", "model.path=/m", "data.train=/d.jsonl", "output.dir=/o");
        Assert.Equal(Path.GetFullPath("/m"), c.Model.Path);
    }

    [Fact]
    public void NotAMappingIsAnError()
    {
        Assert.Contains("config.yaml:1: expected a mapping of fields, got a list", Fails("- a\n- b\n").Message);
        var e = Fails(Minimal + "\nlora: 8\n");
        Assert.Contains("config.yaml:7: lora: expected a mapping of fields, got '8'; fields of lora: rank, alpha", e.Message);
    }

    [Fact]
    public void InvalidYamlNamesTheLine()
    {
        var e = Fails("model:\n  path: [unclosed\ndata:\n  train: x\n");
        Assert.Single(e.Errors);
        Assert.Matches(@"config\.yaml:\d+: not valid YAML: ", e.Errors[0]);
    }

    [Fact]
    public void DuplicateKeysAreAnError()
    {
        var e = Fails(Minimal + "\nmodel:\n  path: other\n");
        Assert.Contains("not valid YAML", e.Message);
        Assert.Contains("config.yaml:7", e.Message);
    }

    [Fact]
    public void OverridesAreTypedByTheFieldTheySet()
    {
        var c = Parse(Minimal, "training.lr=5e-5", "lora.target_modules=[q_proj,v_proj]", "validation.early_stopping.patience=3",
            "data.validation_split=0.1", "data.packing=false", "lora.rank=32", "training.lr=1e-3");
        Assert.Equal(1e-3, c.Training.Lr);   // the last override wins
        Assert.Equal(["q_proj", "v_proj"], c.Lora.TargetModules);
        Assert.Equal(3, c.Validation.EarlyStopping.Patience);
        Assert.Equal(0.1, c.Data.ValidationSplit);
        Assert.False(c.Data.Packing);
        Assert.Equal(32, c.Lora.Rank);
    }

    [Fact]
    public void OverridesCanUnsetAnOptionalField()
    {
        var yaml = Minimal + "\ntraining:\n  max_steps: 100\n";
        Assert.Equal(100, Parse(yaml).Training.MaxSteps);
        Assert.Null(Parse(yaml, "training.max_steps=").Training.MaxSteps);
        Assert.Null(Parse(yaml, "training.max_steps=null").Training.MaxSteps);
    }

    [Fact]
    public void OverrideErrorsNameTheOverride()
    {
        var e = Fails(Minimal, "training.lrr=1", "training.lr=abc", "no-equals-sign", "lora=5", "lora.target_modules=[q_proj,x_proj]");
        Assert.Equal(5, e.Errors.Count);
        Assert.Contains("--set training.lrr=1: training.lrr: unknown field (did you mean 'training.lr'?)", e.Errors);
        Assert.Contains("--set training.lr=abc: training.lr: expected a number, got 'abc'", e.Errors);
        Assert.Contains(e.Errors, m => m.StartsWith("--set no-equals-sign: expected KEY=VALUE"));
        Assert.Contains(e.Errors, m => m.StartsWith("--set lora=5: lora: is a section"));
        Assert.Contains(e.Errors, m => m.StartsWith("--set lora.target_modules=[q_proj,x_proj]: lora.target_modules: unknown module 'x_proj'"));
    }

    [Fact]
    public void ASectionCanBeOverriddenWithAMapping()
    {
        var c = Parse(Minimal, "lora={rank: 4, alpha: 8}");
        Assert.Equal((4, 8.0), (c.Lora.Rank, c.Lora.Alpha));
    }

    [Fact]
    public void OverridePathsAreRelativeToTheCurrentDirectory()
    {
        var c = Parse(Minimal, "output.dir=elsewhere/run");
        Assert.Equal(Path.GetFullPath("elsewhere/run"), c.Output.Dir);
    }

    [Fact]
    public void HomeIsExpandedInPaths()
    {
        var c = Parse(Minimal, "model.path=~/models/x");
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "models", "x"), c.Model.Path);
    }

    [Fact]
    public void TargetModulesRules()
    {
        Assert.Equal(["all-linear"], Parse(Minimal, "lora.target_modules=all-linear").Lora.TargetModules);
        Assert.Equal(["down_proj"], Parse(Minimal, "lora.target_modules=down_proj").Lora.TargetModules);
        Assert.Contains("all-linear stands alone", Fails(Minimal, "lora.target_modules=[all-linear, q_proj]").Message);
        Assert.Contains("needs at least one module", Fails(Minimal, "lora.target_modules=[]").Message);
        Assert.Contains("'q_proj' is listed twice", Fails(Minimal, "lora.target_modules=[q_proj, q_proj]").Message);
    }

    [Fact]
    public void BatchSizeOrTokensPerBatch()
    {
        var c = Parse(Minimal, "training.tokens_per_batch=8192");
        Assert.Equal(8192, c.Training.TokensPerBatch);
        Assert.Null(c.Training.BatchSize);
        Assert.Contains("not both", Fails(Minimal, "training.tokens_per_batch=8192", "training.batch_size=2").Message);
        Assert.Contains("needs data.packing: true", Fails(Minimal, "training.tokens_per_batch=8192", "data.packing=false").Message);
        Assert.Contains("must hold at least one sequence of data.max_length = 2048 tokens, got 1000",
            Fails(Minimal, "training.tokens_per_batch=1000").Message);
    }

    [Fact]
    public void ValidationFileOrSplitAndEarlyStoppingNeedsValidationData()
    {
        Assert.Contains("not both", Fails(Minimal, "data.validation=v.jsonl", "data.validation_split=0.1").Message);
        Assert.Contains("--set validation.early_stopping.patience=2: validation.early_stopping.patience: early stopping needs validation data",
            Fails(Minimal, "validation.early_stopping.patience=2").Message);
        Assert.True(Parse(Minimal, "validation.early_stopping.patience=2", "data.validation_split=0.05").Validation.EarlyStopping.Enabled);
    }

    [Fact]
    public void ToYamlRoundTrips()
    {
        foreach (var original in new[]
                 {
                     Parse(Minimal), Parse(Full), Parse(Minimal, "training.tokens_per_batch=4096", "training.warmup_steps=5"),
                     Parse(Minimal, "output.dir=/tmp/we\"ird: #path\\ü 😀", "training.lr=0.1", "training.eps=1e-300"),
                 })
        {
            string yaml = original.ToYaml();
            var back = TrainConfig.Parse(yaml, "/elsewhere/config.yaml");
            Assert.Equal(original, back);
            Assert.Equal(yaml, back.ToYaml());
        }
    }

    [Fact]
    public void ToYamlWritesEveryField()
    {
        string yaml = Parse(Full).ToYaml();
        var keys = yaml.Split('\n').Where(l => l.Contains(':') && !l.TrimStart().StartsWith('#'))
            .Select(l => (Indent: l.Length - l.TrimStart().Length, Key: l.Trim()[..l.Trim().IndexOf(':')])).ToList();
        var paths = new List<string>();
        var stack = new List<string>();
        foreach (var (indent, key) in keys)
        {
            stack.RemoveRange(indent / 2, stack.Count - indent / 2);
            stack.Add(key);
            paths.Add(string.Join('.', stack));
        }
        foreach (string field in ConfigSchema.Fields) Assert.Contains(field, paths);
        foreach (string path in paths) Assert.True(ConfigSchema.IsField(path) || ConfigSchema.IsSection(path), path);
    }

    [Fact]
    public void ToTrainerOptions()
    {
        var c = Parse(Minimal, "training.lr=1e-3", "training.warmup_ratio=0.1", "training.min_lr_ratio=0.1", "training.weight_decay=0.01",
            "training.max_grad_norm=0.5", "training.beta1=0.8", "training.beta2=0.95", "training.eps=1e-6");
        var o = c.ToTrainerOptions(totalSteps: 95);
        Assert.Equal(1e-3f, o.LearningRate);
        Assert.Equal(10, o.WarmupSteps);   // ceil(9.5), as transformers
        Assert.Equal(95, o.TotalSteps);
        Assert.Equal(0.1f, o.MinLearningRateRatio);
        Assert.Equal(0.01f, o.WeightDecay);
        Assert.Equal(0.5f, o.MaxGradNorm);
        Assert.Equal((0.8f, 0.95f, 1e-6f), (o.Beta1, o.Beta2, o.Epsilon));
        Assert.Equal(7, Parse(Minimal, "training.warmup_steps=7").ToTrainerOptions(100).WarmupSteps);
        Assert.Equal(0, Parse(Minimal).ToTrainerOptions(100).WarmupSteps);

        var constant = Parse(Minimal, "training.schedule=constant", "training.warmup_steps=2").ToTrainerOptions(10);
        var schedule = new Scalpel.Training.LearningRateSchedule(constant.LearningRate, constant.WarmupSteps, constant.TotalSteps, constant.MinLearningRateRatio);
        Assert.All(Enumerable.Range(2, 8), s => Assert.Equal(2e-4f, schedule.At(s)));

        var e = Assert.Throws<TrainConfigException>(() => Parse(Minimal, "training.schedule=linear").ToTrainerOptions(10));
        Assert.Contains("training.schedule: 'linear' is not implemented by the trainer yet", e.Message);
    }

    [Fact]
    public void ToLoraConfig()
    {
        var lora = Parse(Minimal, "lora={rank: 4, alpha: 8, dropout: 0.1, use_rslora: true, target_modules: all-linear}").ToLoraConfig();
        Assert.Equal((4, 8f, 0.1f, true), (lora.Rank, lora.Alpha, lora.Dropout, lora.UseRsLora));
        Assert.Equal(7, lora.ResolveTargets().Count);
        Assert.Equal(4, Parse(Minimal).ToLoraConfig().ResolveTargets().Count);
    }

    [Fact]
    public void InitFromIsAPathThatNeedsMethodLora()
    {
        var c = Parse(Minimal + "\nlora:\n  init_from: adapters/start\n");
        Assert.Equal(Path.Combine(Base, "adapters", "start"), c.Lora.InitFrom);
        Assert.Null(Parse(Minimal).Lora.InitFrom);
        Assert.Equal(c, TrainConfig.Parse(c.ToYaml(), "/elsewhere/config.yaml"));
        var e = Fails(Minimal, "method=full", "lora.init_from=/adapters/start");
        Assert.Contains("lora.init_from: starts a LoRA adapter from a saved one, so it needs method: lora", e.Message);
    }

    [Fact]
    public void LoadReadsTheFileAndNamesIt()
    {
        using var dir = new Scalpel.Tests.Models.TinyCheckpoint.TempDir();
        string file = Path.Combine(dir.Path, "my.yaml");
        File.WriteAllText(file, Minimal + "\ntraining:\n  lr: 0\n");
        var e = Assert.Throws<TrainConfigException>(() => TrainConfig.Load(file, []));
        Assert.Equal($"{file}:8: training.lr: must be > 0, got 0", e.Message);

        File.WriteAllText(file, Minimal);
        var c = TrainConfig.Load(file, []);
        Assert.Equal(Path.Combine(dir.Path, "models", "smol"), c.Model.Path);

        var missing = Assert.Throws<TrainConfigException>(() => TrainConfig.Load(Path.Combine(dir.Path, "nope.yaml"), []));
        Assert.Contains("nope.yaml: cannot read the config", missing.Message);
    }

    [Fact]
    public void CheckInputsExistNamesTheField()
    {
        using var dir = new Scalpel.Tests.Models.TinyCheckpoint.TempDir();
        var c = TrainConfig.Parse(Minimal, Path.Combine(dir.Path, "config.yaml"), ["data.validation=" + Path.Combine(dir.Path, "v.jsonl")]);
        var e = Assert.Throws<TrainConfigException>(c.CheckInputsExist);
        Assert.Equal(3, e.Errors.Count);
        Assert.StartsWith("model.path: no such folder", e.Errors[0]);
        Directory.CreateDirectory(Path.Combine(dir.Path, "models", "smol"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "data"));
        File.WriteAllText(Path.Combine(dir.Path, "data", "train.jsonl"), "");
        File.WriteAllText(Path.Combine(dir.Path, "v.jsonl"), "");
        c.CheckInputsExist();
    }

    [Fact]
    public void ErrorsComeInReadingOrder()
    {
        var e = Fails("training:\n  lr: 0\nlora:\n  rank: 0\nmodel:\n  path: m\n  precison: x\n", "lora.alpha=0", "data.format=csv");
        Assert.Equal(
        [
            "config.yaml:2: training.lr: must be > 0, got 0",
            "config.yaml:4: lora.rank: must be at least 1, got 0",
            "config.yaml:7: model.precison: unknown field (did you mean 'model.precision'?)",
            "--set lora.alpha=0: lora.alpha: must be > 0, got 0",
            "--set data.format=csv: data.format: unknown value 'csv'; allowed: auto, chat, alpaca, sharegpt, prompt_completion, text, preference",
            "config.yaml: data.train: required field is missing",
            "config.yaml: output.dir: required field is missing",
        ], e.Errors.Select(Tail));
    }

    [Fact]
    public void EditDistanceCountsSwapsAsOneEdit()
    {
        Assert.Equal(1, ConfigSchema.EditDistance("lrr", "lr"));
        Assert.Equal(1, ConfigSchema.EditDistance("rl", "lr"));
        Assert.Equal(3, ConfigSchema.EditDistance("abc", ""));
    }
}
