using Xunit;

namespace Scalpel.Tests.IO.Hub;

/// <summary><c>scalpel pull</c> in-process against the fake hub, configured through the real environment variables.</summary>
[Collection("console")]
public class PullCommandTests
{
    private static readonly string[] HubVariables =
    [
        "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
    ];

    /// <summary>Points every HF_* variable at the test bed (hub, cache, an empty HF_HOME) and restores them afterwards.</summary>
    private sealed class HubEnvironmentScope : IDisposable
    {
        private readonly Dictionary<string, string?> _saved = HubVariables.ToDictionary(v => v, Environment.GetEnvironmentVariable);

        public HubEnvironmentScope(HubTestBed bed, params (string Name, string? Value)[] vars)
        {
            foreach (var v in HubVariables) Environment.SetEnvironmentVariable(v, null);
            Environment.SetEnvironmentVariable("HF_ENDPOINT", bed.Hub.Endpoint);
            Environment.SetEnvironmentVariable("HF_HOME", Path.Combine(bed.Dir.Path, "hf-home"));
            Environment.SetEnvironmentVariable("HF_HUB_CACHE", bed.Cache);
            Set(vars);
        }

        public void Set(params (string Name, string? Value)[] vars)
        {
            foreach (var (name, value) in vars) Environment.SetEnvironmentVariable(name, value);
        }

        public void Dispose()
        {
            foreach (var (name, value) in _saved) Environment.SetEnvironmentVariable(name, value);
        }
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public void PullPrintsTheSnapshotFolderAsTheLastLine()
    {
        using var bed = new HubTestBed();
        bed.Hub.RequiredToken = "hf_cli_secret_123";
        using var env = new HubEnvironmentScope(bed, ("HF_TOKEN", "hf_cli_secret_123"));
        var (code, output, err) = Run("pull", HubTestBed.RepoId);
        Assert.True(code == 0, err);
        Assert.Equal(bed.Snapshot(bed.Main), Lines(output).Last());
        Assert.Equal(bed.Weights, File.ReadAllBytes(Path.Combine(Lines(output).Last(), "model.safetensors")));
        Assert.Contains("model.safetensors", err);
        Assert.Contains("downloading", err);
        Assert.DoesNotContain("hf_cli_secret_123", output + err);

        // Again: nothing to download, same answer.
        var (again, output2, err2) = Run("pull", HubTestBed.RepoId);
        Assert.Equal(0, again);
        Assert.Equal(bed.Snapshot(bed.Main), Lines(output2).Last());
        Assert.Contains("in the cache already", err2);
    }

    [Fact]
    public void RevisionIncludeJobsCacheDirAndEndpointOptions()
    {
        using var bed = new HubTestBed();
        using var env = new HubEnvironmentScope(bed, ("HF_ENDPOINT", "http://127.0.0.1:9"), ("HF_HUB_CACHE", null));
        string cache = Path.Combine(bed.Dir.Path, "elsewhere");
        var (code, output, err) = Run("pull", HubTestBed.RepoId, "--revision", "v1", "--include", "config.json,tokenizer*", "--jobs", "2",
                                      "--cache-dir", cache, "--endpoint", bed.Hub.Endpoint);
        Assert.True(code == 0, err);
        string snapshot = Path.Combine(cache, "models--acme--tiny-llama", "snapshots", bed.V1);
        Assert.Equal(snapshot, Lines(output).Last());
        Assert.Equal(["config.json", "tokenizer.json"], Directory.GetFiles(snapshot).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void OfflineReuseWithTheHubStoppedOrHfHubOffline()
    {
        using var bed = new HubTestBed();
        using var env = new HubEnvironmentScope(bed);
        Assert.Equal(0, Run("pull", HubTestBed.RepoId).Code);
        bed.Hub.Dispose();

        var (down, output, err) = Run("pull", HubTestBed.RepoId);
        Assert.True(down == 0, err);
        Assert.Equal(bed.Snapshot(bed.Main), Lines(output).Last());
        Assert.Contains("cached snapshot", err);

        Assert.Equal(bed.Snapshot(bed.Main), Lines(Run("pull", HubTestBed.RepoId, "--offline").Out).Last());
        env.Set(("HF_HUB_OFFLINE", "1"));
        Assert.Equal(bed.Snapshot(bed.Main), Lines(Run("pull", HubTestBed.RepoId).Out).Last());

        var (missing, _, missingErr) = Run("pull", HubTestBed.RepoId, "--revision", "v1");
        Assert.Equal(1, missing);
        Assert.Single(Lines(missingErr));
        Assert.Contains("offline", missingErr);
    }

    [Fact]
    public void HubErrorsAreOneLineAndExitCodeOne()
    {
        using var bed = new HubTestBed();
        using var env = new HubEnvironmentScope(bed);

        var (code, _, err) = Run("pull", "acme/no-such-model");
        Assert.Equal(1, code);
        Assert.Equal("scalpel: acme/no-such-model@main: no such repository (HTTP 404)", Assert.Single(Lines(err)));

        bed.Hub.RequiredToken = "hf_right";
        env.Set(("HF_TOKEN", "hf_wrong_value_456"));
        (code, var output, err) = Run("pull", HubTestBed.RepoId);
        Assert.Equal(1, code);
        Assert.Contains("HF_TOKEN", Assert.Single(Lines(err)));
        Assert.DoesNotContain("hf_wrong_value_456", output + err);

        bed.Hub.RequiredToken = null;
        bed.Hub.Corrupt["model.safetensors"] = true;
        (code, _, err) = Run("pull", HubTestBed.RepoId);
        Assert.Equal(1, code);
        Assert.Contains("model.safetensors: SHA-256 mismatch", Lines(err).Last());
        Assert.DoesNotContain("   at ", err);
    }

    [Theory]
    [InlineData("pull")]
    [InlineData("pull", "not--a/repo")]
    [InlineData("pull", "a/b/c")]
    [InlineData("pull", "acme/x", "--bogus")]
    [InlineData("pull", "acme/x", "extra")]
    [InlineData("pull", "acme/x", "--jobs", "0")]
    [InlineData("pull", "acme/x", "--revision")]
    [InlineData("pull", "acme/x", "--revision", "../../etc")]
    [InlineData("pull", "acme/x", "--include", ",")]
    public void WrongUsageIsExitCodeTwo(params string[] args)
    {
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.StartsWith("scalpel: ", err);
    }

    [Fact]
    public void HelpListsPull() => Assert.Contains("scalpel pull ORG/NAME", Run("--help").Out);
}
