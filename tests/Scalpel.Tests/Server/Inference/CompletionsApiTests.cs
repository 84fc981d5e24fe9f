using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Generation;
using Xunit;

namespace Scalpel.Tests.Server.Inference;

/// <summary>
/// The legacy /v1/completions (the .NET client has no legacy completions; the npm client's is used in
/// <see cref="JsClientTests"/>): the prompt continued as plain text, as <see cref="Generator"/> continues it.
/// </summary>
public sealed class CompletionsApiTests(InferenceServerFixture fx) : IClassFixture<InferenceServerFixture>
{
    private const string Prompt = "the quick brown fox";

    private async Task<(HttpStatusCode Status, string Body)> Post(JsonObject body)
    {
        using var http = fx.Http();
        using var response = await http.PostAsync("/v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private GenerationResult Reference(int maxTokens, int topLogprobs = 0)
    {
        var model = fx.Reference();
        lock (model)
            return model.Generator.Generate(new GenerationRequest
            {
                PromptIds = model.Tokenizer.Encode(Prompt, addSpecialTokens: true),
                MaxNewTokens = maxTokens,
                Logprobs = topLogprobs > 0,
                TopLogprobs = topLogprobs,
            });
    }

    [Fact]
    public async Task AGreedyCompletionIsTheGeneratorsContinuationWithLegacyLogprobs()
    {
        var expected = Reference(20, topLogprobs: 2);
        Assert.True(expected.Tokens.Length >= 4, $"the reference is too short to compare: '{expected.Text}'");
        var (status, text) = await Post(new JsonObject
        {
            ["model"] = "tiny-base", ["prompt"] = Prompt, ["max_tokens"] = 20, ["temperature"] = 0, ["logprobs"] = 2,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var body = JsonNode.Parse(text)!;
        Assert.Equal("text_completion", (string?)body["object"]);
        var choice = body["choices"]![0]!;
        Assert.Equal(expected.Text, (string?)choice["text"]);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? "length" : "stop", (string?)choice["finish_reason"]);
        var logprobs = choice["logprobs"]!;
        Assert.Equal(expected.Tokens.Length, logprobs["tokens"]!.AsArray().Count);
        // Token strings are each token's bytes as text: they add up to the answer unless a character spans two tokens.
        if (expected.Text.All(char.IsAscii))
            Assert.Equal(expected.Text, string.Concat(logprobs["tokens"]!.AsArray().Select(t => (string?)t)));
        for (int i = 0; i < expected.Tokens.Length; i++)
        {
            Assert.Equal(expected.Logprobs![i].Logprob, (float)logprobs["token_logprobs"]![i]!, 5);
            Assert.Equal(2, logprobs["top_logprobs"]![i]!.AsObject().Count);
        }
        Assert.Equal(0, (int)logprobs["text_offset"]![0]!);
        Assert.Equal(expected.PromptTokens, (int)body["usage"]!["prompt_tokens"]!);
        Assert.Equal(expected.Tokens.Length, (int)body["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task StreamedPiecesAddUpToTheCompletion()
    {
        var expected = Reference(20);
        var (status, text) = await Post(new JsonObject
        {
            ["model"] = "tiny-base", ["prompt"] = Prompt, ["max_tokens"] = 20, ["temperature"] = 0, ["stream"] = true,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        Assert.True(chunks.Count > 2);
        Assert.Equal(expected.Text, string.Concat(chunks.Select(c => (string?)c["choices"]![0]!["text"])));
        Assert.NotNull(chunks[^1]["choices"]![0]!["finish_reason"]);
    }

    [Fact]
    public async Task SeveralPromptsAndNGiveOneChoicePerSample()
    {
        var (status, text) = await Post(new JsonObject
        {
            ["model"] = "tiny-base", ["prompt"] = new JsonArray("hello there", "apple"), ["n"] = 2, ["max_tokens"] = 6, ["temperature"] = 0,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = JsonNode.Parse(text)!["choices"]!.AsArray();
        Assert.Equal([0, 1, 2, 3], choices.Select(c => (int)c!["index"]!));
        Assert.Equal((string?)choices[0]!["text"], (string?)choices[1]!["text"]);          // greedy: the same sample twice
        Assert.Equal((string?)choices[2]!["text"], (string?)choices[3]!["text"]);
    }

    [Theory]
    [InlineData("echo", """{"echo": true}""")]
    [InlineData("suffix", """{"suffix": "end"}""")]
    [InlineData("best_of", """{"best_of": 3}""")]
    [InlineData("logprobs", """{"logprobs": 9}""")]
    [InlineData("prompt", """{"prompt": {"text": "x"}}""")]
    [InlineData("prompt", """{"prompt": [1, 2, 99999]}""")]
    public async Task UnsupportedOrBadFieldsAre400(string param, string fields)
    {
        var body = new JsonObject { ["model"] = "tiny-base", ["prompt"] = Prompt, ["max_tokens"] = 2 };
        foreach (var (k, v) in JsonNode.Parse(fields)!.AsObject()) body[k] = v?.DeepClone();
        var (status, text) = await Post(body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(param, (string?)JsonNode.Parse(text)!["error"]!["param"]);
    }
}
