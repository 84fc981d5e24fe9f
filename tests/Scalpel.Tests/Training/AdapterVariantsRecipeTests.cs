using Scalpel.Adapters;
using Scalpel.IO;
using Scalpel.Tests.Models;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;
using Xunit;

namespace Scalpel.Tests.Training;

/// <summary>lora.use_dora, lora.loraplus_lr_ratio and lora.modules_to_save through the config and the recipe.</summary>
public class AdapterVariantsRecipeTests
{
    private static readonly string Base = Path.Combine(Path.GetTempPath(), "scalpel-config-base");

    private const string Minimal = """
        model:
          path: models/smol
        data:
          train: data/train.jsonl
        output:
          dir: runs/first
        """;

    private static TrainConfig Parse(string yaml, params string[] overrides) => TrainConfig.Parse(yaml, Path.Combine(Base, "config.yaml"), overrides);

    [Fact]
    public void TheNewFieldsAreReadWrittenAndPassedOn()
    {
        var c = Parse(Minimal, "lora.use_dora=true", "lora.loraplus_lr_ratio=16", "lora.modules_to_save=[embed_tokens,lm_head]");
        Assert.True(c.Lora.UseDora);
        Assert.Equal(16, c.Lora.LoraplusLrRatio);
        Assert.Equal(["embed_tokens", "lm_head"], c.Lora.ModulesToSave);
        Assert.Equal(c, TrainConfig.Parse(c.ToYaml(), Path.Combine(Base, "config.yaml")));
        var lora = c.ToLoraConfig();
        Assert.True(lora.UseDora);
        Assert.Equal(["embed_tokens", "lm_head"], lora.ModulesToSave);
        Assert.Equal(16f, c.ToTrainerOptions(10).LoraPlusLrRatio);

        var defaults = Parse(Minimal);
        Assert.False(defaults.Lora.UseDora);
        Assert.Null(defaults.Lora.LoraplusLrRatio);
        Assert.Empty(defaults.Lora.ModulesToSave);
        Assert.Null(defaults.ToTrainerOptions(10).LoraPlusLrRatio);
        Assert.Equal(defaults, TrainConfig.Parse(defaults.ToYaml(), Path.Combine(Base, "config.yaml")));
    }

    [Fact]
    public void BadValuesAreNamed()
    {
        var e = Assert.Throws<TrainConfigException>(() => Parse(Minimal + """

            lora:
              modules_to_save: [lm_head, score, lm_head]
              loraplus_lr_ratio: 0
              use_dora: perhaps
            """));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:8: lora.modules_to_save: unknown module 'score'; allowed: embed_tokens, lm_head"));
        Assert.Contains(e.Errors, m => m.Contains("lora.modules_to_save: 'lm_head' is listed twice"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:9: lora.loraplus_lr_ratio:"));
        Assert.Contains(e.Errors, m => m.Contains("config.yaml:10: lora.use_dora: expected true or false, got 'perhaps'"));

        var full = Assert.Throws<TrainConfigException>(() => Parse(Minimal, "method=full", "lora.use_dora=true", "lora.modules_to_save=[lm_head]",
            "lora.loraplus_lr_ratio=4"));
        foreach (string field in new[] { "lora.use_dora", "lora.modules_to_save", "lora.loraplus_lr_ratio" })
            Assert.Contains(full.Errors, m => m.Contains($"{field}: is a LoRA setting; method: full trains every weight already"));
    }

    [Fact]
    public void InitFromAnAdapterOfAnotherKindIsNamed()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string adapter = Path.Combine(ws.Root, "plain");
        using (var model = Scalpel.Models.DecoderModel.Load(Path.Combine(ws.Root, "model")))
        {
            model.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] });
            PeftAdapter.Save(model, adapter);
        }
        var config = ws.Config("run", $"lora.init_from={adapter}", "lora.use_dora=true", "lora.modules_to_save=[lm_head]");
        var e = Assert.Throws<TrainConfigException>(config.CheckInitialAdapter);
        Assert.Contains(e.Errors, m => m.StartsWith("lora.use_dora: is true, but lora.init_from's") && m.Contains("use_dora = false"));
        Assert.Contains(e.Errors, m => m.StartsWith("lora.modules_to_save: is [lm_head]") && m.Contains("set lora.modules_to_save: []"));
    }

    /// <summary>DoRA + a trained embedding and head + LoRA+: an interrupted run resumed from its checkpoint ends where the straight run does.</summary>
    [Fact]
    public void ADoraRunWithModulesToSaveResumesIdentically()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string[] settings = ["data.validation=", "training.max_steps=7", "checkpoints.interval=100", "lora.dropout=0.1", "lora.use_dora=true",
            "lora.modules_to_save=[embed_tokens,lm_head]", "lora.loraplus_lr_ratio=4"];
        var straight = FineTuneRecipe.Run(ws.Config("straight", settings), resume: false, ws.Registry);
        Assert.Equal(RunStatus.Completed, straight.Status);

        using var cancel = new CancellationTokenSource();
        var progress = new FineTuneRecipeTests.Progress(p => { if (p.Step == 3) cancel.Cancel(); });
        var stopped = FineTuneRecipe.Run(ws.Config("resumed", settings), resume: false, ws.Registry, progress, cancel.Token);
        Assert.Equal(RunStatus.Interrupted, stopped.Status);
        var resumed = FineTuneRecipe.Run(ws.Config("resumed", settings), resume: true, ws.Registry);
        Assert.Equal(RunStatus.Completed, resumed.Status);
        Assert.Equal(7, resumed.Steps);

        using var a = SafeTensorsFile.Open(Path.Combine(straight.RunDirectory, "adapter", PeftAdapter.WeightsFileName));
        using var b = SafeTensorsFile.Open(Path.Combine(resumed.RunDirectory, "adapter", PeftAdapter.WeightsFileName));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        Assert.Contains("base_model.model.model.embed_tokens.weight", a.Tensors.Keys);
        Assert.Contains("base_model.model.lm_head.weight", a.Tensors.Keys);
        Assert.Contains(a.Tensors.Keys, k => k.EndsWith(".lora_magnitude_vector", StringComparison.Ordinal));
        foreach (string name in a.Tensors.Keys)
        {
            var x = new float[a.Tensors[name].ElementCount];
            var y = new float[x.Length];
            a.ReadAsF32(name, x);
            b.ReadAsF32(name, y);
            Assert.True(x.AsSpan().SequenceEqual(y), name);
        }
        // The trained embedding moved away from the base.
        using var baseFile = CheckpointReader.Open(Path.Combine(ws.Root, "model"));
        var original = new float[baseFile.Info("model.embed_tokens.weight").ElementCount];
        baseFile.ReadAsF32("model.embed_tokens.weight", original);
        var trained = new float[original.Length];
        a.ReadAsF32("base_model.model.model.embed_tokens.weight", trained);
        Assert.False(original.AsSpan().SequenceEqual(trained));
    }
}
