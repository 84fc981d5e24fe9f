using System.Text.Json;
using Scalpel.Tests.Models;
using Scalpel.Training.Runs;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class RunsCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    private static readonly DateTime T0 = DateTime.UtcNow.AddDays(-1);

    private static void Seed(string home)
    {
        using var registry = RunRegistry.Open(Path.Combine(home, "runs.db"));
        registry.Register(new RunRecord
        {
            Id = "4f2a00000001", Name = "first", RunDirectory = Path.Combine(home, "runs", "first"), Model = "/models/SmolLM2-135M/",
            Method = "lora", Dataset = "/data/train.jsonl", Status = RunStatus.Stopped, StartedUtc = T0, EndedUtc = T0.AddMinutes(62),
            Duration = TimeSpan.FromMinutes(61.5), BestValLoss = 0.87654, BestStep = 300, Steps = 450, ConfigPath = "/runs/first/config.yaml",
        });
        registry.Register(new RunRecord
        {
            Id = "4f2b00000002", RunDirectory = Path.Combine(home, "runs", "second"), Model = "HuggingFaceTB/SmolLM2-135M",
            Status = RunStatus.Failed, StartedUtc = T0.AddHours(2), Duration = TimeSpan.FromSeconds(42), Steps = 3,
        });
    }

    [Fact]
    public void NoRegistryMeansNoRunsAndCreatesNothing()
    {
        using var home = new TinyCheckpoint.TempDir();
        var (code, output, _) = Run("runs", "--home", home.Path);
        Assert.Equal(0, code);
        Assert.Contains("No runs recorded yet", output);
        Assert.False(File.Exists(Path.Combine(home.Path, "runs.db")));
        var (jsonCode, json, _) = Run("runs", "--home", home.Path, "--json");
        Assert.Equal(0, jsonCode);
        Assert.Equal(0, JsonDocument.Parse(json).RootElement.GetArrayLength());
    }

    [Fact]
    public void ListsRunsAsATableNewestFirst()
    {
        using var home = new TinyCheckpoint.TempDir();
        Seed(home.Path);
        var (code, output, err) = Run("runs", "--home", home.Path);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        var lines = output.TrimEnd().Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^ID\s+STATUS\s+MODEL\s+BEST VAL LOSS\s+DURATION\s+STARTED$", lines[0]);
        Assert.Matches(@"^4f2b00000002\s+failed\s+HuggingFaceTB/SmolLM2-135M\s+-\s+42s\s+\d{4}-\d\d-\d\d \d\d:\d\d$", lines[1]);
        Assert.Matches(@"^4f2a00000001\s+stopped\s+SmolLM2-135M\s+0\.8765\s+1h 01m\s+\d{4}-\d\d-\d\d \d\d:\d\d$", lines[2]);
    }

    [Fact]
    public void ListsRunsAsJson()
    {
        using var home = new TinyCheckpoint.TempDir();
        Seed(home.Path);
        var (code, output, _) = Run("runs", "--json", "--home", home.Path);
        Assert.Equal(0, code);
        var runs = JsonDocument.Parse(output).RootElement;
        Assert.Equal(2, runs.GetArrayLength());
        var first = runs[1];
        Assert.Equal("4f2a00000001", first.GetProperty("id").GetString());
        Assert.Equal("stopped", first.GetProperty("status").GetString());
        Assert.Equal(0.87654, first.GetProperty("best_val_loss").GetDouble());
        Assert.Equal(300, first.GetProperty("best_step").GetInt32());
        Assert.Equal(3690, first.GetProperty("duration_s").GetDouble());
        Assert.Equal(JsonValueKind.Null, runs[0].GetProperty("best_val_loss").ValueKind);
    }

    [Fact]
    public void ShowPrintsOneRunByPrefix()
    {
        using var home = new TinyCheckpoint.TempDir();
        Seed(home.Path);
        var (code, output, _) = Run("runs", "show", "4f2a", "--home", home.Path);
        Assert.Equal(0, code);
        Assert.Contains("id:            4f2a00000001", output);
        Assert.Contains("status:        stopped", output);
        Assert.Contains("best val loss: 0.8765 (step 300)", output);
        Assert.Contains("steps:         450", output);
        Assert.Contains("run folder:    " + Path.Combine(home.Path, "runs", "first"), output);

        var (jsonCode, json, _) = Run("runs", "show", "4f2b", "--json", "--home", home.Path);
        Assert.Equal(0, jsonCode);
        Assert.Equal("failed", JsonDocument.Parse(json).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public void UnknownOrAmbiguousIdsAreExitCodeOne()
    {
        using var home = new TinyCheckpoint.TempDir();
        var (code, _, err) = Run("runs", "show", "beef", "--home", home.Path);
        Assert.Equal(1, code);
        Assert.Contains("no run with id 'beef'", err);

        Seed(home.Path);
        (code, _, err) = Run("runs", "show", "beef", "--home", home.Path);
        Assert.Equal(1, code);
        Assert.Contains("no run with id 'beef'", err);

        (code, _, err) = Run("runs", "show", "4f2", "--home", home.Path);
        Assert.Equal(1, code);
        Assert.Contains("'4f2' is ambiguous", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void ACorruptRegistryIsExitCodeOneNamingTheFile()
    {
        using var home = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(home.Path, "runs.db"), new string('x', 4096));
        var (code, _, err) = Run("runs", "--home", home.Path);
        Assert.Equal(1, code);
        Assert.Contains(Path.Combine(home.Path, "runs.db"), err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void WrongUseIsExitCodeTwo()
    {
        Assert.Equal(2, Run("runs", "show").Code);
        Assert.Equal(2, Run("runs", "--bogus").Code);
        Assert.Equal(2, Run("runs", "--home").Code);
        Assert.Equal(2, Run("runs", "show", "a", "b").Code);
        Assert.Equal(2, Run("runs", "list").Code);
    }

    [Fact]
    public void ScalpelHomeIsTheDefault()
    {
        using var home = new TinyCheckpoint.TempDir();
        Seed(home.Path);
        string? old = Environment.GetEnvironmentVariable("SCALPEL_HOME");
        try
        {
            Environment.SetEnvironmentVariable("SCALPEL_HOME", home.Path);
            var (code, output, _) = Run("runs");
            Assert.Equal(0, code);
            Assert.Contains("4f2a00000001", output);
        }
        finally { Environment.SetEnvironmentVariable("SCALPEL_HOME", old); }
    }
}
