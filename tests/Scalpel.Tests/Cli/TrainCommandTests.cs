using Scalpel.Tests.Training;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class TrainCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    private static string WriteConfig(FineTuneRecipeTests.Workspace ws, string extra = "")
    {
        string path = Path.Combine(ws.Root, "config.yaml");
        File.WriteAllText(path, $"""
            model:
              path: model
            data:
              train: train.jsonl
              validation: val.jsonl
              max_length: 64
            lora:
              rank: 2
            training:
              max_steps: 3
              batch_size: 8
            validation:
              interval: 2
            output:
              dir: run
            {extra}
            """);
        return path;
    }

    [Fact]
    public void TrainsAndPrintsTheAdapterPath()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        var (code, output, err) = Run("train", WriteConfig(ws), "--set", "training.lr=0.005", "--home", ws.Root);
        Assert.True(code == 0, err);
        string last = output.TrimEnd().Split('\n')[^1].Trim();
        Assert.Equal(Path.Combine(ws.Root, "run", "adapter"), last);
        Assert.True(File.Exists(Path.Combine(last, "adapter_model.safetensors")));
        Assert.Contains("val_loss", output);
        var (listCode, list, _) = Run("runs", "--home", ws.Root);
        Assert.Equal(0, listCode);
        Assert.Contains("completed", list);
    }

    [Fact]
    public void DryRunPrintsThePlanAndTrainsNothing()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        var (code, output, err) = Run("train", WriteConfig(ws), "--dry-run", "--home", ws.Root);
        Assert.True(code == 0, err);
        foreach (string item in new[] { "base weights", "adapter", "optimizer", "activations", "peak", "available", "fits", "optimizer steps" })
            Assert.Contains(item, output);
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "run")));

        var (jsonCode, json, _) = Run("train", WriteConfig(ws), "--dry-run", "--json", "--set", "training.gradient_checkpointing=true");
        Assert.Equal(0, jsonCode);
        var plan = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Assert.True((long)plan["peak_bytes"]! > (long)plan["weights_bytes"]! + (long)plan["activations_bytes"]!);
        Assert.Equal(512, (int)plan["tokens_per_micro_batch"]!);   // batch_size 8 × max_length 64
        Assert.True((bool)plan["fits"]!);
        Assert.Equal(3, (int)plan["time"]!["steps"]!);
    }

    [Fact]
    public void APlanOverTheMemoryLimitIsRefusedBeforeLoadingWithWhatToChange()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string config = WriteConfig(ws);
        var (_, json, _) = Run("train", config, "--dry-run", "--json", "--set", "data.max_length=2048", "--set", "training.batch_size=16");
        var plan = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        long peak = (long)plan["peak_bytes"]!;
        // A limit just under this plan's peak: halving the micro-batch (or checkpointing) fits, so advice is given.
        string limit = (peak - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (code, output, err) = Run("train", config, "--set", "data.max_length=2048", "--set", "training.batch_size=16", "--memory-limit", limit,
            "--home", ws.Root);
        Assert.Equal(3, code);
        Assert.Contains("DOES NOT FIT", err);
        Assert.Contains("change one of", err);
        Assert.Contains("gradient_checkpointing: true", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "run")));
        Assert.Equal("", output);

        var (dryCode, _, dryErr) = Run("train", config, "--dry-run", "--memory-limit", "1M");
        Assert.Equal(3, dryCode);
        Assert.Contains("smaller model or a machine with more memory", dryErr);
        var (badCode, _, badErr) = Run("train", config, "--dry-run", "--memory-limit", "lots");
        Assert.NotEqual(0, badCode);
        Assert.Contains("--memory-limit", badErr);
    }

    [Fact]
    public void BadConfigNamesTheFieldAndExitsOne()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        var (code, _, err) = Run("train", WriteConfig(ws, "extra_section: 1"), "--home", ws.Root);
        Assert.Equal(1, code);
        Assert.Contains("extra_section", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void MissingConfigIsAUsageError()
    {
        var (code, _, err) = Run("train", "/nonexistent/config.yaml");
        Assert.Equal(2, code);
        Assert.Contains("no such config", err);
    }
}
