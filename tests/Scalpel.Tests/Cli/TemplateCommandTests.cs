using System.Text.Json.Nodes;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class TemplateCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    /// <summary>A model folder with Qwen2.5's real chat template and a conversation file.</summary>
    private sealed class Setup : IDisposable
    {
        private readonly TinyCheckpoint.TempDir _dir = new();
        public string Model => Path.Combine(_dir.Path, "model");
        public string Conversation => Path.Combine(_dir.Path, "conversation.json");

        public Setup(JsonObject? conversation = null, string? template = null)
        {
            Directory.CreateDirectory(Model);
            template ??= File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "chat-templates", "llama.cpp", "Qwen-Qwen2.5-7B-Instruct.jinja"));
            File.WriteAllText(Path.Combine(Model, "tokenizer_config.json"), new JsonObject { ["chat_template"] = template, ["eos_token"] = "<|im_end|>" }.ToJsonString());
            conversation ??= new JsonObject
            {
                ["messages"] = new JsonArray(
                    new JsonObject { ["role"] = "user", ["content"] = "Hi 😀" },
                    new JsonObject { ["role"] = "assistant", ["content"] = "Héllo 👍🏽!" }),
            };
            File.WriteAllText(Conversation, conversation.ToJsonString());
        }

        public void Dispose() => _dir.Dispose();
    }

    private const string Expected = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
                                    "<|im_start|>user\nHi 😀<|im_end|>\n<|im_start|>assistant\nHéllo 👍🏽!<|im_end|>\n";

    [Fact]
    public void PrintsTheTextExactly()
    {
        using var s = new Setup();
        var (code, output, err) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Equal(Expected, output);
        (code, output, _) = Run("template", "render", s.Conversation, "--add-generation-prompt", "--model", s.Model);
        Assert.Equal(0, code);
        Assert.Equal(Expected + "<|im_start|>assistant\n", output);
    }

    [Fact]
    public void JsonGivesSpansInCodePoints()
    {
        using var s = new Setup();
        var (code, output, _) = Run("template", "render", "--model", s.Model, s.Conversation, "--json");
        Assert.Equal(0, code);
        var result = JsonNode.Parse(output)!.AsObject();
        string text = (string)result["text"]!;
        Assert.Equal(Expected, text);
        var spans = result["assistant_spans"]!.AsArray();
        Assert.Single(spans);
        int start = (int)spans[0]![0]!, end = (int)spans[0]![1]!;
        var codePoints = text.EnumerateRunes().ToList();
        Assert.Equal("Héllo 👍🏽!", string.Concat(codePoints.Skip(start).Take(end - start)));
        Assert.Equal(text.IndexOf("Héllo", StringComparison.Ordinal) - 1, start);   // one surrogate pair (😀) before it
    }

    [Fact]
    public void ToolsComeFromTheFile()
    {
        var conversation = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Weather?" }),
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather", ["parameters"] = new JsonObject() } }),
        };
        using var s = new Setup(conversation);
        var (code, output, _) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(0, code);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {}}}\n</tools>", output);
    }

    [Fact]
    public void BadInputIsOneLineAndExitCodeOne()
    {
        using var s = new Setup();
        string missing = Path.Combine(s.Model, "nope.json");
        var (code, _, err) = Run("template", "render", "--model", s.Model, missing);
        Assert.Equal((1, $"scalpel: {missing}: no such file\n"), (code, err));

        (code, _, err) = Run("template", "render", "--model", s.Model + "x", s.Conversation);
        Assert.Equal((1, $"scalpel: {s.Model}x: no such folder\n"), (code, err));

        File.WriteAllText(s.Conversation, "{\"messages\": [");
        (code, _, err) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(1, code);
        Assert.StartsWith($"scalpel: {s.Conversation}: invalid JSON", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));

        File.WriteAllText(s.Conversation, "[1, 2]");
        (code, _, err) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(1, code);
        Assert.Contains("expected a JSON object {\"messages\"", err);
    }

    [Fact]
    public void TemplateErrorsAreExitCodeOne()
    {
        using var s = new Setup(template: "{{ raise_exception('Only user messages, please') }}");
        var (code, _, err) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(1, code);
        Assert.Contains("Only user messages, please", err);
        Assert.DoesNotContain("   at ", err);

        File.WriteAllText(Path.Combine(s.Model, "tokenizer_config.json"), "{}");
        (code, _, err) = Run("template", "render", "--model", s.Model, s.Conversation);
        Assert.Equal(1, code);
        Assert.Contains("no chat template", err);
    }

    [Theory]
    [InlineData("template")]
    [InlineData("template", "draw")]
    [InlineData("template", "render", "conv.json")]
    [InlineData("template", "render", "--model")]
    [InlineData("template", "render", "--model", "m", "conv.json", "--frobnicate")]
    [InlineData("template", "render", "--model", "m", "a.json", "b.json")]
    public void WrongUseIsExitCodeTwo(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains("usage: scalpel template render", err);
    }
}
