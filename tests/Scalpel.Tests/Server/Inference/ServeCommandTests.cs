using Scalpel.Tests.Cli;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Server.Inference;

/// <summary><c>scalpel serve</c> with a model folder that does not load: one clear line and exit 1, never "listening on".</summary>
[Collection("console")]
public sealed class ServeCommandTests
{
    [Fact]
    public void AModelThatDoesNotLoadIsOneLineBeforeListening()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var (code, stdout, stderr) = CliRunner.Run("serve", "--model", dir.Path, "--port", "0", "--data", Path.Combine(dir.Path, "data"));
        Assert.Equal(1, code);
        Assert.DoesNotContain("listening on", stdout);
        Assert.StartsWith($"scalpel: --model {dir.Path}: cannot load the model: ", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
