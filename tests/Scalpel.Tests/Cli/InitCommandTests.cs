using Scalpel.Tests.Training;
using Scalpel.Training.Config;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class InitCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    [Fact]
    public void WritesALoadableCommentedConfigSizedToTheData()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string output = Path.Combine(ws.Root, "config.yaml");
        var (code, stdout, err) = Run("init", "--model", Path.Combine(ws.Root, "model"), "--data", Path.Combine(ws.Root, "train.jsonl"), "--out", output);
        Assert.True(code == 0, err);
        Assert.Contains("96 examples", stdout);
        string yaml = File.ReadAllText(output);
        Assert.Contains("# Starter config", yaml);
        var config = TrainConfig.Load(output);
        Assert.Equal(8, config.Lora.Rank);            // < 1000 examples
        Assert.Equal(3, config.Training.Epochs);      // < 500 examples
        Assert.Equal(3e-4, config.Training.Lr);       // a tiny model
        Assert.Equal(0.0, config.Data.ValidationSplit); // < 100 examples: no split
        Assert.InRange(config.Data.MaxLength, 64, 256);
        Assert.Equal(Path.Combine(ws.Root, "train.jsonl"), config.Data.Train);

        // It refuses to overwrite without --force.
        var (again, _, againErr) = Run("init", "--model", Path.Combine(ws.Root, "model"), "--data", Path.Combine(ws.Root, "train.jsonl"), "--out", output);
        Assert.Equal(1, again);
        Assert.Contains("--force", againErr);
    }

    [Fact]
    public void MissingInputsAreUsageErrors()
    {
        Assert.Equal(2, Run("init", "--model", "/nonexistent", "--data", "x.jsonl").Code);
        Assert.Equal(2, Run("init").Code);
    }
}
