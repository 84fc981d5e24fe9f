using System.Text.Json.Nodes;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Cli;

/// <summary><c>scalpel generate</c> and <c>scalpel chat</c> on a tiny model folder.</summary>
[Collection("console")]
public sealed class GenerateCommandTests : IDisposable
{
    private readonly TinyCheckpoint.TempDir _dir = new();
    private readonly string _model;

    public GenerateCommandTests()
    {
        _model = Path.Combine(_dir.Path, "model");
        PipelineCheck.WriteTinyModel(_model, seed: 5);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void JsonOutputEqualsTheStreamedText()
    {
        var (code, json, err) = CliRunner.Run("generate", "--model", _model, "--prompt", "Which class: apple", "--max-tokens", "12", "--json");
        Assert.True(code == 0, err);
        var result = JsonNode.Parse(json)!;
        Assert.Equal("length", (string)result["finish_reason"]!);
        Assert.Equal(12, (int)result["completion_tokens"]!);

        var (code2, streamed, err2) = CliRunner.Run("generate", "--model", _model, "--prompt", "Which class: apple", "--max-tokens", "12");
        Assert.True(code2 == 0, err2);
        Assert.Equal((string)result["text"]! + Environment.NewLine, streamed);
    }

    [Fact]
    public void AConversationFileRendersLikeThePromptFlag()
    {
        string file = Path.Combine(_dir.Path, "conversation.json");
        File.WriteAllText(file, """{"messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "fig"}]}""");
        var fromFile = CliRunner.Run("generate", "--model", _model, "--messages", file, "--max-tokens", "6", "--json");
        var fromFlags = CliRunner.Run("generate", "--model", _model, "--system", "be terse", "--prompt", "fig", "--max-tokens", "6", "--json");
        Assert.Equal(0, fromFile.Code);
        Assert.Equal(fromFlags.Out, fromFile.Out);
        Assert.Equal((int)JsonNode.Parse(fromFile.Out)!["prompt_tokens"]!, (int)JsonNode.Parse(fromFlags.Out)!["prompt_tokens"]!);
    }

    [Fact]
    public void ChatKeepsTheConversationUntilReset()
    {
        var (code, output, err) = CliRunner.RunWithInput("hello\nWhich class: fig\n/reset\nhello\n/exit\n",
            "chat", "--model", _model, "--max-tokens", "5");
        Assert.True(code == 0, err);
        var answers = output.Split(Environment.NewLine, StringSplitOptions.None);
        // Greedy and a fresh conversation after /reset: the first and third answers are the same.
        Assert.Equal(answers[0], answers[2]);
        Assert.Contains("conversation cleared", err);
    }

    [Fact]
    public void MistakesGetClearMessages()
    {
        var usage = CliRunner.Run("generate", "--model", _model);
        Assert.Equal(2, usage.Code);
        Assert.Contains("--prompt or --messages", usage.Err);
        var badFlag = CliRunner.Run("generate", "--model", _model, "--prompt", "x", "--top-p", "2");
        Assert.Equal(2, badFlag.Code);
        Assert.Contains("--top-p", badFlag.Err);
        var missing = CliRunner.Run("generate", "--model", Path.Combine(_dir.Path, "nope"), "--prompt", "x");
        Assert.Equal(1, missing.Code);
        Assert.Contains("nope", missing.Err);
        Assert.DoesNotContain("   at ", missing.Err);
    }

    [Fact]
    public void ConstrainedAnswersAreValidByConstruction()
    {
        string schema = Path.Combine(_dir.Path, "schema.json");
        File.WriteAllText(schema, """{"type": "object", "properties": {"label": {"enum": ["alpha", "bravo"]}, "n": {"type": "integer"}}, "required": ["label", "n"]}""");
        for (int seed = 0; seed < 5; seed++)
        {
            var (code, json, err) = CliRunner.Run("generate", "--model", _model, "--prompt", "x", "--json-schema", schema, "--temperature", "1.5",
                "--seed", seed.ToString(), "--max-tokens", "60", "--json");
            Assert.True(code == 0, err);
            var result = JsonNode.Parse(json)!;
            Assert.Equal("stop", (string)result["finish_reason"]!);
            var answer = JsonNode.Parse((string)result["text"]!)!;
            Assert.Contains((string)answer["label"]!, new[] { "alpha", "bravo" });
            Assert.Equal(System.Text.Json.JsonValueKind.Number, answer["n"]!.GetValueKind());
        }
        var choice = CliRunner.Run("generate", "--model", _model, "--prompt", "x", "--choice", "delta", "--choice", "echo", "--json");
        Assert.Contains((string)JsonNode.Parse(choice.Out)!["text"]!, new[] { "delta", "echo" });
        var both = CliRunner.Run("generate", "--model", _model, "--prompt", "x", "--choice", "a", "--json-object");
        Assert.Equal(2, both.Code);
    }
}
