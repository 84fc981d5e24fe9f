using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Training;

/// <summary>
/// <c>lora.init_from</c>: a run that starts from a peft-layout adapter instead of a fresh one (A random, B zero), on the
/// recipe tests' tiny model. The run's adapter after one step at a negligible learning rate must give the starting
/// adapter's logits (a fresh start would give the base model's, far away); a rank or module mismatch is refused before
/// anything is written, naming adapter_config.json and the config field.
/// </summary>
[Collection("console")]
public class InitFromAdapterTests(ITestOutputHelper output)
{
    private static readonly int[] Probe = [1, 450, 2706, 338, 263, 1243, 29889, 32001, 13, 3492, 7, 99, 3000];

    /// <summary>An adapter of rank 4, alpha 8 on all linears with random B (so it is far from the base), saved by Scalpel in peft's layout.</summary>
    private static string WriteAdapter(FineTuneRecipeTests.Workspace ws, out float[][] logits, out float[][] baseLogits)
    {
        string dir = Path.Combine(ws.Root, "start-adapter");
        using var m = DecoderModel.Load(Path.Combine(ws.Root, "model"), new CpuBackend(), WeightPrecision.F32);
        baseLogits = LlamaCppOracle.AllLogits(m, Probe);
        m.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.1f, TargetModules = ["all-linear"] }, seed: 5);
        DecoderOracle.RandomizeLoraB(m, 6);
        logits = LlamaCppOracle.AllLogits(m, Probe);
        PeftAdapter.Save(m, dir);
        return dir;
    }

    private static float[][] LogitsWith(string model, string adapter)
    {
        using var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32);
        PeftAdapter.Load(m, adapter);
        return LlamaCppOracle.AllLogits(m, Probe);
    }

    private static double MaxAbs(float[][] a, float[][] b) =>
        a.Zip(b, (x, y) => x.Zip(y, (p, q) => (double)Math.Abs(p - q)).Max()).Max();

    [Fact]
    public void TrainCommandStartsFromTheAdapter()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string start = WriteAdapter(ws, out var startLogits, out var baseLogits);
        double adapterEffect = MaxAbs(startLogits, baseLogits);

        string configPath = Path.Combine(ws.Root, "continue.yaml");
        File.WriteAllText(configPath, ws.Config("continued", "data.validation=", "training.max_steps=1", "training.lr=1e-12").ToYaml());
        var (code, stdout, err) = Cli.CliRunner.Run("train", configPath, "--set", $"lora.init_from={start}", "--home", ws.Root);
        Assert.True(code == 0, err + stdout);

        string run = Path.Combine(ws.Root, "continued");
        var continued = LogitsWith(Path.Combine(ws.Root, "model"), Path.Combine(run, "adapter"));
        double drift = MaxAbs(continued, startLogits);
        output.WriteLine($"starting adapter moves the base logits by {adapterEffect:E2}; after one step at lr 1e-12 the run's adapter is {drift:E2} from it");
        Assert.True(adapterEffect > 0.1, $"the starting adapter changes the logits by only {adapterEffect}");
        Assert.True(drift < 1e-5, $"the run's adapter is {drift:E2} from the one it started from");

        // The run keeps its own dropout (0 in the config), not the adapter's 0.1, and records where it started.
        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "adapter", PeftAdapter.ConfigFileName)))!;
        Assert.Equal(0.0, (double)written["lora_dropout"]!);
        Assert.Contains($"init_from: {TrainConfigYamlString(start)}", File.ReadAllText(Path.Combine(run, "config.yaml")));

        // A run that resumes from its snapshot reads the same config back (init_from and all).
        Assert.Equal(start, TrainConfig.Load(Path.Combine(run, "config.yaml")).Lora.InitFrom);
    }

    private static string TrainConfigYamlString(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    [Fact]
    public void FirstStepLossIsTheStartingAdaptersNotTheBaseModels()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string start = WriteAdapter(ws, out _, out _);
        var fresh = FineTuneRecipe.Run(ws.Config("fresh", "data.validation=", "training.max_steps=3"), resume: false, ws.Registry);
        var continued = FineTuneRecipe.Run(ws.Config("from-adapter", "data.validation=", "training.max_steps=3", $"lora.init_from={start}"),
            resume: false, ws.Registry);
        double FirstLoss(string run) => File.ReadLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!)
            .Where(n => (string?)n["type"] == "train").Select(n => (double)n["loss"]!).First();
        // Step 1's loss is measured before any update: the base model's for a fresh adapter (B = 0), the starting
        // adapter's otherwise, on the same first batch (same seed).
        double freshLoss = FirstLoss(fresh.RunDirectory), startLoss = FirstLoss(continued.RunDirectory);
        output.WriteLine($"first-step loss: fresh adapter {freshLoss:F4}, from the saved adapter {startLoss:F4}");
        Assert.True(Math.Abs(freshLoss - startLoss) > 0.05, "starting from the adapter did not change the first loss");
    }

    [Fact]
    public void MismatchedRankAndModulesAreRefusedByFieldBeforeAnythingIsWritten()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string start = WriteAdapter(ws, out _, out _);
        string configPath = Path.Combine(ws.Root, "bad.yaml");
        File.WriteAllText(configPath, ws.Config("bad-run", "lora.rank=8", "lora.target_modules=[q_proj, v_proj]").ToYaml());
        var (code, _, err) = Cli.CliRunner.Run("train", configPath, "--set", $"lora.init_from={start}", "--home", ws.Root);
        output.WriteLine(err);
        Assert.Equal(1, code);
        string file = Path.Combine(start, "adapter_config.json");
        Assert.Contains($"lora.rank: is 8, but lora.init_from's {file} has r = 4; set lora.rank: 4", err);
        Assert.Contains("lora.target_modules: is [q_proj, v_proj]", err);
        Assert.Contains("set lora.target_modules: [", err);
        Assert.DoesNotContain("lora.alpha", err);
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "bad-run")));

        // Not an adapter folder, or no folder at all.
        var notAdapter = Assert.Throws<TrainConfigException>(() =>
            FineTuneRecipe.Run(ws.Config("x", $"lora.init_from={Path.Combine(ws.Root, "model")}"), resume: false, ws.Registry));
        Assert.Contains("lora.init_from:", notAdapter.Message);
        Assert.Contains("adapter_config.json", notAdapter.Message);
        var missing = Assert.Throws<TrainConfigException>(() =>
            FineTuneRecipe.Run(ws.Config("x", $"lora.init_from={Path.Combine(ws.Root, "nope")}"), resume: false, ws.Registry));
        Assert.Contains("lora.init_from: no such folder", missing.Message);
    }
}
