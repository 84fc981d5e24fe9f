using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using Scalpel.Server.Inference;
using Scalpel.Tests.Generation.Constraints;
using Xunit;

#pragma warning disable OPENAI001 // Seed is marked experimental in the client

namespace Scalpel.Tests.Server.Inference;

/// <summary>
/// Tools through the official client. A random tiny model never decides to call a tool by itself, so what is proven
/// here is: a forced tool_choice (a named function, or required) always yields a well-formed call whose arguments are
/// valid under the function's parameters schema; under tool_choice auto, output that is a call (made so here with a
/// response_format schema of the call's shape) comes back as tool_calls, whole or streamed; and the parser's
/// Hermes-style &lt;tool_call&gt; path, on fixed text. Whether a real model's template and training lead it to call
/// tools is not something a random model can show.
/// </summary>
public sealed class ToolCallTests(InferenceServerFixture fx) : IClassFixture<InferenceServerFixture>
{
    private static readonly JsonNode WeatherParameters = JsonNode.Parse("""
        {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo", "Lima"]}, "days": {"type": "integer"}}, "required": ["city", "days"]}
        """)!;
    private static readonly JsonNode TimeParameters = JsonNode.Parse("""
        {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}
        """)!;

    private static ChatCompletionOptions WithTools(ChatToolChoice choice, int seed)
    {
        var options = new ChatCompletionOptions { Temperature = 1f, Seed = seed, MaxOutputTokenCount = 120, ToolChoice = choice };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Weather forecast", BinaryData.FromString(WeatherParameters.ToJsonString())));
        options.Tools.Add(ChatTool.CreateFunctionTool("get_time", "Current time", BinaryData.FromString(TimeParameters.ToJsonString())));
        return options;
    }

    private ChatClient Chat() => fx.Client().GetChatClient("tiny-base");

    [Fact]
    public async Task ANamedToolChoiceAlwaysGivesAValidCallToThatTool()
    {
        var arguments = new List<string>();
        for (int seed = 0; seed < 4; seed++)
        {
            ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("weather in Oslo?")],
                WithTools(ChatToolChoice.CreateFunctionChoice("get_weather"), seed));
            Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
            var call = Assert.Single(c.ToolCalls);
            Assert.Equal("get_weather", call.FunctionName);
            Assert.StartsWith("call_", call.Id);
            arguments.Add(call.FunctionArguments.ToString());
        }
        ConstraintHarness.AssertValid(WeatherParameters, arguments);
    }

    [Fact]
    public async Task RequiredGivesAValidCallToOneOfTheTools()
    {
        var byName = new Dictionary<string, List<string>> { ["get_weather"] = [], ["get_time"] = [] };
        for (int seed = 0; seed < 6; seed++)
        {
            ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("what now?")], WithTools(ChatToolChoice.CreateRequiredChoice(), seed));
            Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
            var call = Assert.Single(c.ToolCalls);
            byName[call.FunctionName].Add(call.FunctionArguments.ToString());
        }
        if (byName["get_weather"].Count > 0) ConstraintHarness.AssertValid(WeatherParameters, byName["get_weather"]);
        if (byName["get_time"].Count > 0) ConstraintHarness.AssertValid(TimeParameters, byName["get_time"]);
    }

    [Fact]
    public async Task AStreamedForcedCallArrivesAsAToolCallUpdate()
    {
        var name = new StringBuilder();
        var args = new StringBuilder();
        var content = new StringBuilder();
        string? id = null;
        ChatFinishReason? finish = null;
        await foreach (var u in Chat().CompleteChatStreamingAsync([new UserChatMessage("weather?")], WithTools(ChatToolChoice.CreateFunctionChoice("get_weather"), 7)))
        {
            foreach (var part in u.ContentUpdate) content.Append(part.Text);
            foreach (var t in u.ToolCallUpdates)
            {
                Assert.Equal(0, t.Index);
                id ??= t.ToolCallId;
                name.Append(t.FunctionName);
                args.Append(t.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= u.FinishReason;
        }
        Assert.Equal("", content.ToString());                       // the call's JSON is not leaked as content
        Assert.Equal("get_weather", name.ToString());
        Assert.StartsWith("call_", id);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        ConstraintHarness.AssertValid(WeatherParameters, [args.ToString()]);
    }

    [Fact]
    public async Task UnderAutoOutputThatIsACallComesBackAsToolCalls()
    {
        // Free text would be content; output constrained to the call shape {"name", "arguments"} is parsed as a call.
        var callShape = JsonNode.Parse($$"""
            {"type": "object", "properties": {"name": {"const": "get_time"}, "arguments": {{TimeParameters.ToJsonString()}}}, "required": ["name", "arguments"]}
            """)!;
        var options = WithTools(ChatToolChoice.CreateAutoChoice(), 1);
        options.ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("call", BinaryData.FromString(callShape.ToJsonString()));
        ChatCompletion c = await Chat().CompleteChatAsync([new UserChatMessage("time?")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
        Assert.Equal("get_time", Assert.Single(c.ToolCalls).FunctionName);
        Assert.Empty(c.Content);

        // Without tools the same output is plain content.
        var plain = new ChatCompletionOptions { Temperature = 1f, Seed = 1, MaxOutputTokenCount = 120, ResponseFormat = options.ResponseFormat };
        ChatCompletion text = await Chat().CompleteChatAsync([new UserChatMessage("time?")], plain);
        Assert.Equal(ChatFinishReason.Stop, text.FinishReason);
        Assert.Empty(text.ToolCalls);
        Assert.Contains("\"get_time\"", text.Content[0].Text);
    }

    [Fact]
    public void HermesToolCallTagsAreSplitFromTheContent()
    {
        const string Text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"days\": 2}}\n</tool_call>";
        var (content, calls) = ToolCalls.Split(Text);
        Assert.Equal("Let me check.", content);
        var call = Assert.Single(calls!)!;
        Assert.StartsWith("call_", (string?)call["id"]);
        Assert.Equal("function", (string?)call["type"]);
        Assert.Equal("get_weather", (string?)call["function"]!["name"]);
        Assert.Equal("""{"city":"Oslo","days":2}""", (string?)call["function"]!["arguments"]);
        Assert.Equal(("a < b, no call", (System.Text.Json.Nodes.JsonArray?)null), ToolCalls.Split("a < b, no call"));
    }

    [Fact]
    public void TheStreamFilterHoldsBackWhatMayBeACallAndReleasesWhatIsNot()
    {
        // Pieces split inside the marker: nothing of it is streamed as content.
        var filter = new ToolCalls.StreamFilter();
        var sent = new StringBuilder();
        foreach (var piece in new[] { "Let me ", "check.\n<to", "ol_c", "all>\n{\"name\": \"f\", ", "\"arguments\": {}}\n</tool_call>" })
            sent.Append(filter.Push(piece));
        var (rest, calls) = filter.Finish();
        Assert.Equal("Let me check.\n", sent.ToString());
        Assert.Equal("", rest);
        Assert.Equal("f", (string?)Assert.Single(calls!)!["function"]!["name"]);

        // Text that only looked like a call start is released at the end as content.
        var plain = new ToolCalls.StreamFilter();
        string streamed = plain.Push("x <to") + plain.Push("p> y");
        var (tail, none) = plain.Finish();
        Assert.Null(none);
        Assert.Equal("x <top> y", streamed + tail);
        var json = new ToolCalls.StreamFilter();
        Assert.Equal("", json.Push("{\"not\": \"a call\"}"));
        Assert.Equal(("{\"not\": \"a call\"}", (System.Text.Json.Nodes.JsonArray?)null), json.Finish());
    }
}
