using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using Scalpel.Generation;
using Scalpel.Tests.Generation.Constraints;
using Xunit;

#pragma warning disable OPENAI001 // Seed is marked experimental in the client

namespace Scalpel.Tests.Server.Inference;

/// <summary>
/// /v1/chat/completions through the official .NET OpenAI client, unchanged, against a tiny model served in process:
/// answers are compared with <see cref="Generator"/> run directly on the same folder.
/// </summary>
public sealed class ChatApiTests(InferenceServerFixture fx) : IClassFixture<InferenceServerFixture>
{
    private const string Prompt = "talk";

    private ChatClient Chat(string model = "tiny-base") => fx.Client().GetChatClient(model);

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0f, MaxOutputTokenCount = maxTokens };

    private static async Task<JsonObject> PostJson(HttpClient http, string path, JsonObject body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await http.PostAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    [Fact]
    public async Task GreedyAnswerIsTheGeneratorsAnswer()
    {
        var expected = fx.Generate(Prompt, 24);
        Assert.True(expected.Tokens.Length >= 4, $"the reference answer is too short to compare: '{expected.Text}'");
        ChatCompletion answer = await Chat().CompleteChatAsync([new UserChatMessage(Prompt)], Greedy(24));
        Assert.Equal(expected.Text, answer.Content[0].Text);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, answer.FinishReason);
        Assert.Equal(expected.PromptTokens, answer.Usage.InputTokenCount);
        Assert.Equal(expected.Tokens.Length, answer.Usage.OutputTokenCount);
        Assert.Equal(expected.PromptTokens + expected.Tokens.Length, answer.Usage.TotalTokenCount);
        Assert.Equal("tiny-base", answer.Model);
    }

    [Fact]
    public async Task StreamedChunksAddUpToTheAnswerAndEndWithUsage()
    {
        var options = Greedy(30);
        ChatCompletion whole = await Chat().CompleteChatAsync([new UserChatMessage(Prompt)], options);
        var text = new StringBuilder();
        int contentChunks = 0;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage(Prompt)], Greedy(30)))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
                if (part.Text.Length > 0) contentChunks++;
            }
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.True(contentChunks > 1, "the answer came in one piece: it was not streamed");
        Assert.Equal(whole.FinishReason, finish);
        // The client asks for stream_options.include_usage: the last chunk carries the counts.
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.InputTokenCount, usage!.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
    }

    [Fact]
    public async Task RawStreamHasRoleFirstThenContentThenFinishThenUsageThenDone()
    {
        using var http = fx.Http();
        var body = new JsonObject
        {
            ["model"] = "tiny-base", ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = Prompt }),
            ["temperature"] = 0, ["max_tokens"] = 12, ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string?)c["object"]));
        Assert.Single(chunks.Select(c => (string?)c["id"]).Distinct());
        Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
        // The last choice chunk has the finish reason and an empty delta; the usage chunk after it has no choices.
        var expected = fx.Generate(Prompt, 12);
        var last = chunks[^2]["choices"]![0]!;
        Assert.Equal(expected.FinishReason == FinishReason.Length ? "length" : "stop", (string?)last["finish_reason"]);
        Assert.Empty(last["delta"]!.AsObject());
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(expected.Tokens.Length, (int)usageChunk["usage"]!["completion_tokens"]!);
        Assert.Equal(expected.PromptTokens, (int)usageChunk["usage"]!["prompt_tokens"]!);
        Assert.All(chunks[..^1], c => Assert.Null(c["usage"]));
        Assert.Equal(expected.Text, string.Concat(chunks[1..^1].Select(c => (string?)c["choices"]![0]!["delta"]!["content"])));
    }

    [Fact]
    public async Task NChoicesAreBatchedWithSeedsSeedPlusI()
    {
        using var http = fx.Http();
        JsonObject Body(int n, int seed) => new()
        {
            ["model"] = "tiny-base", ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = "hello there" }),
            ["temperature"] = 1.0, ["max_tokens"] = 10, ["n"] = n, ["seed"] = seed,
        };
        // Through the official client's protocol method (its options have no public n).
        ClientResult raw = await Chat().CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(Body(3, 5).ToJsonString())));
        var three = JsonNode.Parse(raw.GetRawResponse().Content.ToString())!;
        var choices = three["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => (int)c!["index"]!));
        string[] texts = choices.Select(c => (string)c!["message"]!["content"]!).ToArray();
        int referenceTokens = 0;
        for (int i = 0; i < 3; i++)
        {
            var single = await PostJson(http, "/v1/chat/completions", Body(1, 5 + i));
            Assert.Equal((string)single["choices"]![0]!["message"]!["content"]!, texts[i]);
            var reference = fx.Generate("hello there", 10, new SamplingOptions { Temperature = 1f, Seed = (ulong)(5 + i) });
            Assert.Equal(reference.Text, texts[i]);
            referenceTokens += reference.Tokens.Length;
        }
        Assert.True(texts.Distinct().Count() > 1, "three samples at temperature 1 were all the same");
        // Usage: the prompt once, the tokens of all three choices.
        var usage = three["usage"]!;
        Assert.Equal(referenceTokens, (int)usage["completion_tokens"]!);
        Assert.Equal((int)usage["prompt_tokens"]! + referenceTokens, (int)usage["total_tokens"]!);
    }

    [Fact]
    public async Task StopStringsCutTheAnswerBeforeThem()
    {
        var full = fx.Generate(Prompt, 24);
        Assert.True(full.Text.Length >= 8, $"the reference answer is too short to cut: '{full.Text}'");
        string stop = full.Text.Substring(4, 2);
        int at = full.Text.IndexOf(stop, StringComparison.Ordinal);
        var options = Greedy(24);
        options.StopSequences.Add(stop);
        options.StopSequences.Add("zzzz-never");
        ChatCompletion answer = await Chat().CompleteChatAsync([new UserChatMessage(Prompt)], options);
        Assert.Equal(full.Text[..at], answer.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, answer.FinishReason);
    }

    [Fact]
    public async Task TheSameSeedGivesTheSameSampleAndOtherSeedsOthers()
    {
        async Task<string> Sample(long seed)
        {
            var options = new ChatCompletionOptions { Temperature = 1f, MaxOutputTokenCount = 12, Seed = seed };
            ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("hello there")], options);
            return c.Content[0].Text;
        }
        string first = await Sample(42), again = await Sample(42);
        Assert.Equal(first, again);
        Assert.Equal(fx.Generate("hello there", 12, new SamplingOptions { Temperature = 1f, Seed = 42 }).Text, first);
        var others = new[] { await Sample(43), await Sample(44), await Sample(45) };
        Assert.Contains(others, o => o != first);
    }

    [Fact]
    public async Task JsonSchemaAnswersParseAndValidateEveryTime()
    {
        var schema = JsonNode.Parse("""
            {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "days": {"type": "integer"},
             "sunny": {"type": "boolean"}, "note": {"type": ["null", "boolean"]}}, "required": ["city", "days", "sunny"]}
            """)!;
        var outputs = new List<string>();
        for (int seed = 0; seed < 6; seed++)
        {
            var options = new ChatCompletionOptions
            {
                Temperature = 1f, Seed = seed, MaxOutputTokenCount = 200,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather", BinaryData.FromString(schema.ToJsonString()), jsonSchemaIsStrict: true),
            };
            ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("weather in a city as JSON")], options);
            Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
            outputs.Add(c.Content[0].Text);
        }
        ConstraintHarness.AssertValid(schema, outputs);
        Assert.True(outputs.Distinct().Count() > 1, "six samples were identical: the test would not see a grammar that allows one answer only");
        // The compiled grammar is kept: six requests, one schema, one compilation.
        Assert.Equal(1, fx.Service.Grammars.Count);
    }

    [Fact]
    public async Task LogprobsAreTheModelsLogprobsWithTopAlternatives()
    {
        var expected = fx.Generate(Prompt, 10, logprobs: true, topLogprobs: 3);
        var options = Greedy(10);
        options.IncludeLogProbabilities = true;
        options.TopLogProbabilityCount = 3;
        ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage(Prompt)], options);
        var logprobs = c.ContentTokenLogProbabilities;
        Assert.Equal(expected.Tokens.Length, logprobs.Count);
        var bytes = new List<byte>();
        for (int i = 0; i < logprobs.Count; i++)
        {
            Assert.Equal(expected.Logprobs![i].Logprob, logprobs[i].LogProbability, 5);
            Assert.Equal(3, logprobs[i].TopLogProbabilities.Count);
            // Greedy: the chosen token is the most likely one, and the alternatives come in order.
            Assert.Equal(logprobs[i].Token, logprobs[i].TopLogProbabilities[0].Token);
            Assert.Equal(logprobs[i].LogProbability, logprobs[i].TopLogProbabilities[0].LogProbability, 5);
            Assert.True(logprobs[i].TopLogProbabilities[1].LogProbability <= logprobs[i].TopLogProbabilities[0].LogProbability);
            for (int k = 0; k < 3; k++)
                Assert.Equal(expected.Logprobs[i].Top[k].Logprob, logprobs[i].TopLogProbabilities[k].LogProbability, 5);
            bytes.AddRange(logprobs[i].Utf8Bytes!.Value.ToArray());
        }
        Assert.Equal(c.Content[0].Text, Encoding.UTF8.GetString(bytes.ToArray()));
    }

    [Fact]
    public async Task AnAdaptersAnswerIsTheAnswerOfTheBaseWithThatAdapterApplied()
    {
        var options = Greedy(16);
        // All three at once: they share decoding batches, each sequence with its own adapter.
        var asked = new[] { "tiny-base", "adapter-a", "adapter-b" }
            .Select(id => Chat(id).CompleteChatAsync([new UserChatMessage("hello there")], options)).ToArray();
        var answers = (await Task.WhenAll(asked)).Select(r => r.Value.Content[0].Text).ToArray();
        Assert.Equal(fx.Generate("hello there", 16).Text, answers[0]);
        Assert.Equal(fx.Generate("hello there", 16, adapterDirectory: fx.AdapterA).Text, answers[1]);
        Assert.Equal(fx.Generate("hello there", 16, adapterDirectory: fx.AdapterB).Text, answers[2]);
        Assert.True(answers.Distinct().Count() == 3, "the adapters did not change the answer, so the test proves nothing");
    }

    [Fact]
    public async Task AnUnknownModelIs404()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat("no-such-model").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        var error = JsonNode.Parse(e.GetRawResponse()!.Content.ToString())!["error"]!;
        Assert.Equal("model_not_found", (string?)error["code"]);
        Assert.Equal("model", (string?)error["param"]);
        Assert.Contains("no-such-model", (string?)error["message"]);
    }

    [Theory]
    [InlineData("presence_penalty", """{"presence_penalty": 0.5}""")]
    [InlineData("frequency_penalty", """{"frequency_penalty": -1}""")]
    [InlineData("logit_bias", """{"logit_bias": {"5": 10}}""")]
    [InlineData("top_logprobs", """{"top_logprobs": 3}""")]
    [InlineData("temperature", """{"temperature": 3}""")]
    [InlineData("n", """{"n": 0}""")]
    [InlineData("stop", """{"stop": [""]}""")]
    [InlineData("messages[0].content", """{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""")]
    [InlineData("messages[0].role", """{"messages": [{"role": "robot", "content": "hi"}]}""")]
    [InlineData("response_format.type", """{"response_format": {"type": "yaml"}}""")]
    [InlineData("response_format.json_schema.schema", """{"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "a+"}}}}""")]
    [InlineData("tool_choice", """{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}""")]
    [InlineData("stream_options", """{"stream_options": {"include_usage": true}}""")]
    [InlineData("messages", """{"messages": "hi", "max_tokens": 5}""")]
    public async Task BadParametersAre400NamingTheParameter(string param, string fields)
    {
        var body = new JsonObject
        {
            ["model"] = "tiny-base", ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = "hi" }),
            ["max_tokens"] = 4,
        };
        foreach (var (k, v) in JsonNode.Parse(fields)!.AsObject()) body[k] = v?.DeepClone();
        using var http = fx.Http();
        var error = (await PostJson(http, "/v1/chat/completions", body, HttpStatusCode.BadRequest))["error"]!;
        Assert.Equal(param, (string?)error["param"]);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
    }

    [Fact]
    public async Task APromptLongerThanTheContextIs400ContextLengthExceeded()
    {
        using var http = fx.Http();
        var body = new JsonObject
        {
            ["model"] = "tiny-base",
            ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = string.Join(' ', Enumerable.Repeat("apple", 5000)) }),
        };
        var error = (await PostJson(http, "/v1/chat/completions", body, HttpStatusCode.BadRequest))["error"]!;
        Assert.Equal("context_length_exceeded", (string?)error["code"]);
    }

    [Fact]
    public async Task AClientThatLeavesMidStreamHasItsSequenceCancelled()
    {
        long before = fx.Service.CancelledSequences;
        // No draining: by default HttpClient reads the rest of an abandoned response to reuse the connection.
        using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = fx.Server.Address };
        // An answer that must be a list of at least 1000 booleans: the stop token stays masked for thousands of tokens
        // (seconds of decoding), so the sequence can only end early by being cancelled.
        var body = new JsonObject
        {
            ["model"] = "tiny-base", ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = "talk" }),
            ["max_tokens"] = 3500, ["temperature"] = 1, ["seed"] = 3, ["stream"] = true,
            ["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject { ["name"] = "s", ["schema"] = JsonNode.Parse("""{"type": "array", "items": {"type": "boolean"}, "minItems": 1000}""") },
            },
        };
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") })
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            int contentChunks = 0;
            while (contentChunks < 3 && await reader.ReadLineAsync() is { } line)
                if (line.Contains("\"content\":\"") && !line.Contains("\"role\"")) contentChunks++;
            Assert.Equal(3, contentChunks);
        }   // the connection closes here, mid-answer
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (fx.Service.CancelledSequences == before && waited.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(20);
        Assert.Equal(before + 1, fx.Service.CancelledSequences);
    }
}
