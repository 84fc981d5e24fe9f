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
