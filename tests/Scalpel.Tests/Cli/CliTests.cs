using Scalpel.Models;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    [Fact]
    public void InspectListsTheCheckpoint()
    {
        using var dir = new TinyCheckpoint.TempDir();
        RandomCheckpoint.Write(TinyCheckpoint.Llama(), dir.Path, seed: 1, shards: 2);
        var (code, output, _) = Run("inspect", dir.Path);
        Assert.Equal(0, code);
        Assert.Contains("LlamaForCausalLM", output);
        Assert.Contains("model.layers.1.mlp.down_proj.weight", output);
    }

    [Fact]
    public void UnsupportedArchitectureIsOneClearLineAndExitCodeOne()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), """{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}""");
        var (code, _, err) = Run("inspect", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("GPT2LMHeadModel", err);
        Assert.DoesNotContain("   at ", err);   // no stack trace
    }

    [Fact]
    public void CorruptWeightsNameTheFile()
    {
        using var dir = new TinyCheckpoint.TempDir();
        RandomCheckpoint.Write(TinyCheckpoint.Llama(), dir.Path, seed: 1);
        string file = Path.Combine(dir.Path, "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        var (code, _, err) = Run("inspect", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("model.safetensors", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void UnknownCommandFails()
    {
        var (code, _, err) = Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("unknown command", err);
    }
}
