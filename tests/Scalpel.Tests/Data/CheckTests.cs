using Scalpel.Data;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>Every check: one record that breaks it gives its code at the right field path, with a fix in the message.</summary>
public class CheckTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    private const string U = """{"role": "user", "content": "q"}""";
    private const string A = """{"role": "assistant", "content": "a"}""";
    private const string Weather = """[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]""";

    private static string Call(string name, string args, string id = "c1") =>
        $$$$"""{"role": "assistant", "tool_calls": [{"id": "{{{{id}}}}", "type": "function", "function": {"name": "{{{{name}}}}", "arguments": {{{{args}}}}}}]}""";

    public static TheoryData<string, string, string> Broken => new()
    {
        // line, expected code, expected field
        { """{"messages": [{"role": "user", "content": "q"}""", IssueCodes.InvalidJson, "" },
        { """{"messages": "hello"}""", IssueCodes.WrongType, "messages" },
        { $$$$"""{"messages": [{"role": "user", "content": 5}, {{{{A}}}}]}""", IssueCodes.WrongType, "messages[0].content" },
        { $$$$"""{"messages": [{{{{U}}}}, "assistant: a"]}""", IssueCodes.WrongType, "messages[1]" },
        { $$$$"""{"messages": [{"content": "q"}, {{{{A}}}}]}""", IssueCodes.MissingField, "messages[0].role" },
        { $$$$"""{"messages": [{"role": 1, "content": "q"}, {{{{A}}}}]}""", IssueCodes.WrongType, "messages[0].role" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "bot", "content": "a"}]}""", IssueCodes.UnknownRole, "messages[1].role" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{A}}}}, {"role": "system", "content": "late"}, {{{{U}}}}, {{{{A}}}}]}""", IssueCodes.MisplacedRole, "messages[2].role" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "tool", "content": "42"}, {{{{A}}}}]}""", IssueCodes.MisplacedRole, "messages[1].role" },
        { $$$$"""{"messages": [{"role": "user", "content": "q", "weight": 1}, {{{{A}}}}]}""", IssueCodes.MisplacedField, "messages[0].weight" },
        { $$$$"""{"messages": [{"role": "user", "content": "q", "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{}"}}]}, {{{{A}}}}]}""", IssueCodes.MisplacedField, "messages[0].tool_calls" },
        { $$$$"""{"messages": [{"role": "user", "content": "   "}, {{{{A}}}}]}""", IssueCodes.EmptyContent, "messages[0].content" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "content": ""}]}""", IssueCodes.EmptyContent, "messages[1].content" },
        { """{"messages": []}""", IssueCodes.EmptyMessages, "messages" },
        { $$$$"""{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, {{{{A}}}}]}""", IssueCodes.UnsupportedContent, "messages[0].content[0].type" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "content": "a", "weight": 0.5}]}""", IssueCodes.InvalidWeight, "messages[1].weight" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "content": "a", "weight": "1"}]}""", IssueCodes.InvalidWeight, "messages[1].weight" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "content": "a", "weight": 0}]}""", IssueCodes.NoTrainableAssistant, "messages" },
        { $$$$"""{"messages": [{{{{U}}}}]}""", IssueCodes.NoTrainableAssistant, "messages" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{A}}}}], "tools": [{"name": "x"}]}""", IssueCodes.InvalidToolDefinition, "tools[0]" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{A}}}}], "tools": [{"type": "function", "function": {"name": "get weather"}}]}""", IssueCodes.InvalidToolDefinition, "tools[0].function.name" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{A}}}}], "tools": [{"type": "function", "function": {"name": "f", "parameters": "none"}}]}""", IssueCodes.InvalidToolDefinition, "tools[0].function.parameters" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{A}}}}], "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]}""", IssueCodes.InvalidToolDefinition, "tools[1].function.name" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"{city: Paris}\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallInvalidJson, "messages[1].tool_calls[0].function.arguments" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"[1, 2]\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallInvalidJson, "messages[1].tool_calls[0].function.arguments" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallInvalidJson, "messages[1].tool_calls[0].function.arguments" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "7")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallInvalidJson, "messages[1].tool_calls[0].function.arguments" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_wether", "\"{}\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallUnknownTool, "messages[1].tool_calls[0].function.name" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"{}\"")}}}}, {"role": "tool", "tool_call_id": "c9", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ToolCallIdMismatch, "messages[2].tool_call_id" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"{}\"")}}}}, {"role": "tool", "content": "x"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.MissingField, "messages[2].tool_call_id" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "tool_calls": [{"type": "code", "function": {"name": "get_weather", "arguments": "{}"}}]}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.InvalidValue, "messages[1].tool_calls[0].type" },
        { $$$$"""{"messages": [{{{{U}}}}, {"role": "assistant", "tool_calls": [{"type": "function"}]}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.MissingField, "messages[1].tool_calls[0].function" },
        { $$$$"""{"parallel_tool_calls": false, "messages": [{{{{U}}}}, {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "get_weather", "arguments": "{}"}}, {"id": "b", "function": {"name": "get_weather", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "a", "content": "1"}, {"role": "tool", "tool_call_id": "b", "content": "2"}, {{{{A}}}}], "tools": {{{{Weather}}}}}""", IssueCodes.ParallelToolCallsDisabled, "messages[1].tool_calls" },
        { $$$$"""{"messages": [{"role": "user", "content": "broken \ud83d emoji"}, {{{{A}}}}]}""", IssueCodes.LoneSurrogate, "messages[0].content" },
        { """{"foo": 1, "bar": 2}""", IssueCodes.UnknownFormat, "" },
        { "5", IssueCodes.WrongType, "" },
        { "\"just a string\"", IssueCodes.WrongType, "" },
        { """{"a": 1, "a": 2}""", IssueCodes.InvalidJson, "" },
        // Alpaca
        { """{"instruction": "i", "output": ""}""", IssueCodes.EmptyContent, "output" },
        { """{"instruction": "", "input": "", "output": "o"}""", IssueCodes.EmptyContent, "instruction" },
        { """{"instruction": "i", "output": 3}""", IssueCodes.WrongType, "output" },
        { """{"instruction": "i", "output": "o", "history": [["only one"]]}""", IssueCodes.WrongType, "history[0]" },
        { """{"instruction": "i", "output": "o", "history": [["q", ""]]}""", IssueCodes.EmptyContent, "history[0][1]" },
        { """{"instruction": "i"}""", IssueCodes.MissingField, "output" },
        // ShareGPT
        { """{"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]}""", IssueCodes.UnknownRole, "conversations[1].from" },
        { """{"conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": "{oops"}, {"from": "gpt", "value": "a"}]}""", IssueCodes.ToolCallInvalidJson, "conversations[1].value" },
        { """{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": 5}]}""", IssueCodes.WrongType, "conversations[1].value" },
        { """{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": " "}]}""", IssueCodes.EmptyContent, "conversations[1].value" },
        { """{"conversations": [{"from": "human", "value": "q"}]}""", IssueCodes.NoTrainableAssistant, "conversations" },
        { """{"tools": "[{\"name\": \"lookup\"}]", "conversations": [{"from": "human", "value": "q"}, {"from": "function_call", "value": "{\"name\": \"search\", \"arguments\": {}}"}, {"from": "observation", "value": "r"}, {"from": "gpt", "value": "a"}]}""", IssueCodes.ToolCallUnknownTool, "conversations[1].value" },
        // prompt/completion
        { """{"prompt": "p", "completion": ""}""", IssueCodes.EmptyContent, "completion" },
        { """{"prompt": "p", "completion": ["c"]}""", IssueCodes.WrongType, "" },
        { """{"prompt": "p"}""", IssueCodes.MissingField, "completion" },
        // plain text
        { """{"text": "  "}""", IssueCodes.EmptyContent, "text" },
        { """{"text": ["a"]}""", IssueCodes.WrongType, "text" },
        // preferences
        { """{"prompt": "p", "chosen": "c"}""", IssueCodes.MissingField, "rejected" },
        { """{"prompt": [{"role": "user", "content": "q"}], "chosen": "c", "rejected": [{"role": "assistant", "content": "r"}]}""", IssueCodes.WrongType, "chosen" },
        { """{"chosen": "c", "rejected": "r"}""", IssueCodes.MissingField, "prompt" },
        { """{"prompt": "p", "chosen": "", "rejected": "r"}""", IssueCodes.EmptyContent, "chosen" },
        { """{"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "user", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}""", IssueCodes.MisplacedRole, "preferred_output[0].role" },
        { """{"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": ""}]}""", IssueCodes.EmptyContent, "non_preferred_output[0].content" },
        { """{"input": "q", "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}""", IssueCodes.WrongType, "input" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void EachProblemHasItsCodeAndField(string line, string code, string field)
    {
        var report = _files.Check("d.jsonl", line + "\n");
        Assert.True(report.Errors.Count > 0, $"no error for {line}");
        var match = report.Errors.Items.FirstOrDefault(e => e.Code == code && (field.Length == 0 || e.Field == field));
        Assert.True(match is not null, $"expected {code} at '{field}', got: {string.Join("; ", report.Errors.Items)}");
        Assert.Equal(1, match.Line);
        Assert.Contains(":", match.Message);   // the fix follows the colon
        Assert.Equal(1, report.Stats.ExamplesWithErrors);
        Assert.Equal(0, report.Stats.ValidExamples);
    }

    public static TheoryData<string, string, string> Warned => new()
    {
        { $$$$"""{"messages": [{"role": "user", "content": "q", "mood": "happy"}, {{{{A}}}}]}""", IssueCodes.UnknownField, "messages[0].mood" },
        { $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"{}\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "x"}, {{{{A}}}}]}""", IssueCodes.ToolsMissing, "messages[1].tool_calls[0].function.name" },
        { """{"prompt": "p", "chosen": "same", "rejected": "same"}""", IssueCodes.IdenticalPreference, "rejected" },
    };

    [Theory]
    [MemberData(nameof(Warned))]
    public void WarningsDoNotMakeErrors(string line, string code, string field)
    {
        var report = _files.Check("d.jsonl", line + "\n");
        Assert.Equal(0, report.Errors.Count);
        Assert.Contains(report.Warnings.Items, w => w.Code == code && w.Field == field);
        Assert.Equal(1, report.Stats.ValidExamples);
    }

    [Fact]
    public void AllProblemsOfARecordAreReported()
    {
        string line = """{"messages": [{"role": "bot", "content": "a"}, {"role": "user", "content": 3}, {"role": "assistant", "content": "x", "weight": 7}]}""";
        var report = _files.Check("d.jsonl", line + "\n");
        Assert.Equal(["messages[0].role", "messages[1].content", "messages[2].weight"], report.Errors.Items.Select(e => e.Field));
    }

    [Fact]
    public void EveryErrorUpToTheCapWithTheTrueTotal()
    {
        var lines = Enumerable.Range(0, 1500).Select(i => i % 3 == 0 ? DataFiles.Chat($"q{i}", $"a{i}") : "{broken").ToArray();
        var report = DataChecker.Check(_files.WriteLines("many.jsonl", lines), new DataCheckOptions { MaxErrors = 600 });
        Assert.Equal(1000, report.Errors.Count);
        Assert.Equal(600, report.Errors.Items.Count);
        Assert.Equal(1500, report.Examples);
        Assert.Equal(500, report.Stats.ValidExamples);
        Assert.Equal(2, report.Errors.Items[0].Line);
    }

    [Fact]
    public void ValidToolConversationIsClean()
    {
        string line = $$$$"""{"messages": [{{{{U}}}}, {{{{Call("get_weather", "\"{\\\"city\\\": \\\"Oslo\\\"}\"")}}}}, {"role": "tool", "tool_call_id": "c1", "content": "-3C"}, {{{{A}}}}], "tools": {{{{Weather}}}}, "parallel_tool_calls": false}""";
        var report = _files.Check("d.jsonl", line + "\n");
        Assert.Equal(0, report.Errors.Count);
        Assert.Equal(0, report.Warnings.Count);
        Assert.Equal(1, report.Stats.ToolCalls);
        Assert.Equal(1, report.Stats.ExamplesWithTools);
    }

    [Fact]
    public void StatsCountRolesAndLengths()
    {
        var lines = new[]
        {
            """{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "one two three"}, {"role": "assistant", "content": "four five", "weight": 0}, {"role": "user", "content": "six"}, {"role": "assistant", "content": "seven eight nine ten"}]}""",
            DataFiles.Chat("hello there", "general kenobi"),
        };
        var report = _files.Check("d.jsonl", string.Join("\n", lines) + "\n");
        var s = report.Stats;
        Assert.Equal(7, s.Messages);
        Assert.Equal(3, s.Roles["assistant"]);
        Assert.Equal(1, s.Roles["system"]);
        Assert.Equal(2, s.TrainedAssistantMessages);
        Assert.Equal(1, s.UntrainedAssistantMessages);
        Assert.Equal(1, s.ExamplesWithSystemPrompt);
        Assert.Equal(2, s.AnswerWords.Count);
        Assert.Equal(2, s.AnswerWords.Min);
        Assert.Equal(4, s.AnswerWords.Max);
        Assert.Equal(1 + 13 + 9 + 3 + 20, s.ExampleChars.Max);
        Assert.Equal(5, s.MessagesPerExample.Max);
    }

    [Fact]
    public void HistogramPercentilesAreWithinABucket()
    {
        var h = new LengthHistogram();
        for (int i = 1; i <= 10_000; i++) h.Add(i);
        Assert.Equal(1, h.Min);
        Assert.Equal(10_000, h.Max);
        Assert.InRange(h.Percentile(0.5), 5000 * 0.9, 5000 * 1.1);
        Assert.InRange(h.Percentile(0.9), 9000 * 0.9, 9000 * 1.1);
        Assert.Equal(10_000, h.Buckets().Sum(b => b.Count));
        var small = new LengthHistogram();
        foreach (var v in new[] { 0, 1, 2, 3, 3, 5 }) small.Add(v);
        Assert.Equal(2, small.Percentile(0.5));
        Assert.Equal([(0L, 0L, 1L), (1, 1, 1), (2, 3, 3), (4, 7, 1)], small.Buckets());
    }
}
