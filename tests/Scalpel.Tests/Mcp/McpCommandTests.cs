using Scalpel.Tests.Cli;
using Xunit;

namespace Scalpel.Tests.Mcp;

/// <summary>scalpel mcp refuses to start without roots, or with a root that is not a folder (exit 2, one line).</summary>
[Collection("console")]
public sealed class McpCommandTests
{
    [Fact]
    public void WithoutARootItDoesNotStart()
    {
        var (code, output, error) = CliRunner.Run("mcp");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("scalpel: which folders may the agent touch? pass at least one --root", error);
    }

    [Fact]
    public void AMissingRootIsNamed()
    {
        string missing = Path.Combine(Path.GetTempPath(), "scalpel-no-such-" + Guid.NewGuid().ToString("N")[..8]);
        var (code, _, error) = CliRunner.Run("mcp", "--root", missing);
        Assert.Equal(2, code);
        Assert.Equal($"scalpel: --root {missing}: no such folder\n", error);
    }

    [Fact]
    public void ServeNamesAMissingMcpRoot()
    {
        string missing = Path.Combine(Path.GetTempPath(), "scalpel-no-such-" + Guid.NewGuid().ToString("N")[..8]);
        var (code, output, error) = CliRunner.Run("serve", "--model", Path.GetTempPath(), "--mcp-root", missing);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal($"scalpel: --mcp-root {missing}: no such folder\n", error);
    }
}
