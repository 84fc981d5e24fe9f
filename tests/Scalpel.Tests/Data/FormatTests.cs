using System.Text.Json.Nodes;
using Scalpel.Data;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>Every format and container reads into the canonical model, detected or named.</summary>
public class FormatTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    private const string ToolChat =
        """{"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}, {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "21C"}, {"role": "tool", "tool_call_id": "call_2", "content": "noon"}, {"role": "assistant", "content": [{"type": "text", "text": "21C "}, {"type": "text", "text": "at noon."}], "weight": 1}, {"role": "user", "name": "bob", "content": "thanks"}, {"role": "assistant", "content": "You're welcome.", "weight": 0}], "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}], "parallel_tool_calls": true}""";

    [Fact]
    public void OpenAiChatWithToolsWeightsAndContentParts()
    {
        var records = DataFiles.ReadAll(_files.WriteLines("chat.jsonl", ToolChat));
        var r = Assert.Single(records);
        Assert.Empty(r.Errors);
        var chat = Assert.IsType<ChatExample>(r.Example);
        Assert.Equal(DataFormat.OpenAiChat, chat.Format);
        Assert.Equal(1, chat.Source.Line);
        Assert.Equal(8, chat.Messages.Count);
        Assert.Equal(["developer", "user", "assistant", "tool", "tool", "assistant", "user", "assistant"], chat.Messages.Select(m => m.Role));
        var call = chat.Messages[2].ToolCalls![0];
        Assert.Equal(("call_1", "get_weather", "{\"city\": \"Paris\"}"), (call.Id, call.Name, call.Arguments));
        Assert.Null(chat.Messages[2].Content);
        Assert.Equal("call_2", chat.Messages[4].ToolCallId);
        Assert.Equal("21C at noon.", chat.Messages[5].Content);
        Assert.Equal(2, chat.Messages[5].ContentParts!.Count);
        Assert.Equal("bob", chat.Messages[6].Name);
        Assert.Equal(0, chat.Messages[7].Weight);
        Assert.Equal([2, 5], chat.TrainableMessageIndices());
        Assert.Equal(["get_weather", "get_time"], chat.ToolNames);
        Assert.True(chat.ParallelToolCalls);

        // The template-facing JSON: OpenAI messages and tools as JsonArray.
        var json = chat.ToJson();
        Assert.Equal("get_weather", json["tools"]![0]!["function"]!["name"]!.GetValue<string>());
        Assert.Equal("{\"city\": \"Paris\"}", json["messages"]![2]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>());
        var forTemplate = chat.MessagesToJson(ChatJsonOptions.Template, count: 6);
        Assert.Equal(6, forTemplate.Count);
        Assert.Equal("Paris", forTemplate[2]!["tool_calls"]![0]!["function"]!["arguments"]!["city"]!.GetValue<string>());
        Assert.Equal("21C at noon.", forTemplate[5]!["content"]!.GetValue<string>());
        Assert.Null(forTemplate[5]!["weight"]);
        Assert.NotSame(chat.ToolsToJson(), chat.ToolsToJson());
    }

    [Fact]
    public void OpenAiPreference()
    {
        string line = """{"input": {"messages": [{"role": "user", "content": "Capital of France?"}], "tools": [], "parallel_tool_calls": false}, "preferred_output": [{"role": "assistant", "content": "Paris."}], "non_preferred_output": [{"role": "assistant", "content": "Lyon."}]}""";
        var pair = Assert.IsType<PreferenceExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("pref.jsonl", line))));
        Assert.Equal(DataFormat.OpenAiPreference, pair.Format);
        Assert.Equal("Capital of France?", Assert.Single(pair.Prompt).Content);
        Assert.Equal("Paris.", Assert.Single(pair.Chosen).Content);
        Assert.Equal("Lyon.", Assert.Single(pair.Rejected).Content);
        Assert.False(pair.ParallelToolCalls);
        Assert.Equal(["user", "assistant"], pair.ChosenConversation().Messages.Select(m => m.Role));
        Assert.Equal("Lyon.", pair.RejectedConversation().Messages[1].Content);
        Assert.Equal("Paris.", pair.ToJson()["preferred_output"]![0]!["content"]!.GetValue<string>());
    }

    [Fact]
    public void AlpacaWithSystemHistoryAndInput()
    {
        string line = """{"system": "You translate.", "history": [["Hello", "Bonjour"]], "instruction": "Translate:", "input": "Good night", "output": "Bonne nuit"}""";
        var chat = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("alpaca.jsonl", line))));
        Assert.Equal(DataFormat.Alpaca, chat.Format);
        Assert.Equal(["system", "user", "assistant", "user", "assistant"], chat.Messages.Select(m => m.Role));
        Assert.Equal("Translate:\nGood night", chat.Messages[3].Content);
        Assert.Equal("Bonne nuit", chat.Messages[4].Content);

        var plain = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("alpaca2.jsonl", """{"instruction": "Say hi", "input": "", "output": "hi"}"""))));
        Assert.Equal("Say hi", plain.Messages[0].Content);
    }

    [Fact]
    public void ShareGptRolesToolsAndFunctionCalls()
    {
        string line = """{"system": "sys", "tools": "[{\"name\": \"lookup\", \"description\": \"d\", \"parameters\": {\"type\": \"object\"}}]", "conversations": [{"from": "human", "value": "find x"}, {"from": "function_call", "value": "{\"name\": \"lookup\", \"arguments\": {\"q\": \"x\"}}"}, {"from": "observation", "value": "x=1"}, {"from": "gpt", "value": "x is 1"}]}""";
        var chat = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("sharegpt.jsonl", line))));
        Assert.Equal(DataFormat.ShareGpt, chat.Format);
        Assert.Equal(["system", "user", "assistant", "tool", "assistant"], chat.Messages.Select(m => m.Role));
        var call = Assert.Single(chat.Messages[2].ToolCalls!);
        Assert.Equal("lookup", call.Name);
        Assert.Equal("""{"q": "x"}""", call.Arguments);
        Assert.Equal(call.Id, chat.Messages[3].ToolCallId);
        // Flat ShareGPT tools are wrapped into OpenAI's form.
        Assert.Equal("function", chat.Tools![0]!["type"]!.GetValue<string>());
        Assert.Equal("lookup", chat.Tools[0]!["function"]!["name"]!.GetValue<string>());

        var other = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("sharegpt2.jsonl",
            """{"conversations": [{"from": "user", "value": "a"}, {"from": "chatgpt", "value": "b"}]}"""))));
        Assert.Equal(["user", "assistant"], other.Messages.Select(m => m.Role));
    }

    [Fact]
    public void PromptCompletionStringsAndConversational()
    {
        var a = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("pc.jsonl", """{"prompt": "2+2=", "completion": "4"}"""))));
        Assert.Equal(DataFormat.PromptCompletion, a.Format);
        Assert.Equal(("2+2=", "4"), (a.Messages[0].Content, a.Messages[1].Content));
        var b = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("pc2.jsonl",
            """{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}"""))));
        Assert.Equal(["system", "user", "assistant"], b.Messages.Select(m => m.Role));
    }

    [Fact]
    public void PlainText()
    {
        var t = Assert.IsType<TextExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("t.jsonl", """{"text": "Once upon a time.", "meta": 1}"""))));
        Assert.Equal("Once upon a time.", t.Text);
        Assert.Equal(DataFormat.Text, t.Format);
    }

    [Fact]
    public void TrlPreferenceExplicitImplicitAndStrings()
    {
        var s = Assert.IsType<PreferenceExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("trl1.jsonl",
            """{"prompt": "Sky colour?", "chosen": "Blue.", "rejected": "Green."}"""))));
        Assert.Equal(DataFormat.TrlPreference, s.Format);
        Assert.Equal(("user", "Sky colour?"), (s.Prompt[0].Role, s.Prompt[0].Content));
        Assert.Equal(("assistant", "Blue."), (s.Chosen[0].Role, s.Chosen[0].Content));

        var explicitPrompt = Assert.IsType<PreferenceExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("trl2.jsonl",
            """{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "good"}], "rejected": [{"role": "assistant", "content": "bad"}]}"""))));
        Assert.Equal("good", explicitPrompt.Chosen[0].Content);

        var implicitPrompt = Assert.IsType<PreferenceExample>(Assert.Single(DataFiles.Examples(_files.WriteLines("trl3.jsonl",
            """{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]}"""))));
        Assert.Equal("q", Assert.Single(implicitPrompt.Prompt).Content);
        Assert.Equal("good", Assert.Single(implicitPrompt.Chosen).Content);
        Assert.Equal("bad", Assert.Single(implicitPrompt.Rejected).Content);
    }

    [Fact]
    public void JsonArrayContainerPrettyPrintedKeepsLines()
    {
        string text = "[\n  {\"text\": \"first\"},\n  {\n    \"text\": \"second\"\n  },\n  {\"text\": \"third, with ] and } inside\"}\n]\n";
        var records = DataFiles.ReadAll(_files.Write("a.json", text));
        Assert.Equal([2, 3, 6], records.Select(r => r.Line));
        Assert.Equal(["first", "second", "third, with ] and } inside"], records.Select(r => ((TextExample)r.Example!).Text));
    }

    [Fact]
    public void JsonArrayBrokenElementIsReportedAndTheRestRead()
    {
        string text = "[{\"text\": \"a\"}, {\"text\": tru}, {\"text\": \"c\"}]";
        var records = DataFiles.ReadAll(_files.Write("b.json", text));
        Assert.Equal(3, records.Count);
        Assert.Equal(IssueCodes.InvalidJson, Assert.Single(records[1].Errors).Code);
        Assert.Equal("c", ((TextExample)records[2].Example!).Text);
    }

    [Fact]
    public void CsvWithQuotesNewlinesAndJsonColumns()
    {
        string csv = "instruction,input,output\r\n" +
                     "\"Say \"\"hi\"\", politely\",,\"Hi,\nthere\"\r\n" +
                     "Add,\"1, 2\",3\r\n";
        var path = _files.Write("alpaca.csv", csv, bom: true);
        var records = DataFiles.ReadAll(path);
        Assert.All(records, r => Assert.Empty(r.Errors));
        Assert.Equal([2, 4], records.Select(r => r.Line));
        var first = (ChatExample)records[0].Example!;
        Assert.Equal("Say \"hi\", politely", first.Messages[0].Content);
        Assert.Equal("Hi,\nthere", first.Messages[1].Content);
        Assert.Equal("Add\n1, 2", ((ChatExample)records[1].Example!).Messages[0].Content);

        string chatCsv = "messages,tools\n\"[{\"\"role\"\": \"\"user\"\", \"\"content\"\": \"\"q\"\"}, {\"\"role\"\": \"\"assistant\"\", \"\"content\"\": \"\"a\"\"}]\",\n";
        var chat = Assert.IsType<ChatExample>(Assert.Single(DataFiles.Examples(_files.Write("chat.csv", chatCsv))));
        Assert.Equal("a", chat.Messages[1].Content);
    }

    [Fact]
    public void TsvAndForcedContainer()
    {
        var tsv = _files.Write("pc.tsv", "prompt\tcompletion\nq1\ta1\nq2\ta2\n");
        Assert.Equal(2, DataFiles.Examples(tsv).Count);
        var csvNamedTxt = _files.Write("pc.txt", "prompt,completion\nq,a\n");
        Assert.Single(DataFiles.Examples(csvNamedTxt, new DatasetReadOptions { Container = DataContainer.Csv }));
    }

    [Fact]
    public void GzipIsDetectedByMagicBytesNotName()
    {
        string lines = DataFiles.Chat("q1", "a1") + "\n" + DataFiles.Chat("q2", "a2") + "\n";
        var named = _files.WriteGzip("d.jsonl.gz", lines);
        var unnamed = _files.WriteGzip("d.jsonl", lines);
        foreach (var path in new[] { named, unnamed })
        {
            var report = DataChecker.Check(path);
            Assert.True(report.Compressed);
            Assert.Equal(2, report.Stats.ValidExamples);
            Assert.Equal(0, report.Errors.Count);
        }
        var csvGz = _files.WriteGzip("x.csv.gz", "text\nhello\n");
        Assert.Equal(DataContainer.Csv, DataChecker.Check(csvGz).Container);
    }

    [Fact]
    public void BomIsSkippedAndCrlfAndBlankLinesAreFine()
    {
        var path = _files.Write("bom.jsonl", DataFiles.Chat("q", "a") + "\r\n\r\n   \r\n" + DataFiles.Chat("q2", "a2") + "\r\n", bom: true);
        var records = DataFiles.ReadAll(path);
        Assert.Equal([1, 4], records.Select(r => r.Line));
        Assert.All(records, r => Assert.Empty(r.Errors));
    }

    [Theory]
    [InlineData("""{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}""", DataFormat.OpenAiChat)]
    [InlineData("""{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}""", DataFormat.OpenAiPreference)]
    [InlineData("""{"instruction": "i", "output": "o"}""", DataFormat.Alpaca)]
    [InlineData("""{"conversations": []}""", DataFormat.ShareGpt)]
    [InlineData("""{"prompt": "p", "completion": "c"}""", DataFormat.PromptCompletion)]
    [InlineData("""{"text": "t"}""", DataFormat.Text)]
    [InlineData("""{"prompt": "p", "chosen": "c", "rejected": "r"}""", DataFormat.TrlPreference)]
    public void FormatIsDetectedFromTheFields(string line, DataFormat expected)
    {
        var report = _files.Check("d.jsonl", line + "\n");
        Assert.Equal(expected, report.Format);
    }

    [Fact]
    public void NamedFormatOverridesDetection()
    {
        // A chat file read as alpaca: every record misses alpaca's fields (no mixed_formats, no detection).
        var report = _files.Check("d.jsonl", DataFiles.Chat("q", "a") + "\n", new DataCheckOptions { Read = new DatasetReadOptions { Format = DataFormat.Alpaca } });
        Assert.Equal(DataFormat.Alpaca, report.Format);
        Assert.Equal(["instruction", "output"], report.Errors.Items.Select(e => e.Field));
        Assert.All(report.Errors.Items, e => Assert.Equal(IssueCodes.MissingField, e.Code));
    }

    [Fact]
    public void MixedFormatsNameTheFirstLineThatDiffers()
    {
        var report = _files.Check("m.jsonl", string.Join("\n", DataFiles.Chat("q", "a"), DataFiles.Chat("q2", "a2"), """{"text": "t"}""", """{"instruction": "i", "output": "o"}""") + "\n");
        Assert.Equal(DataFormat.OpenAiChat, report.Format);
        Assert.Equal([3, 4], report.Errors.Items.Select(e => e.Line));
        Assert.All(report.Errors.Items, e => Assert.Equal(IssueCodes.MixedFormats, e.Code));
        Assert.Contains("line 1", report.Errors.Items[0].Message);
    }

    [Fact]
    public void TenMegabyteSingleLineIsRead()
    {
        string big = new('x', 10 << 20);
        var path = _files.WriteLines("big.jsonl", DataFiles.Chat("summarise", big), DataFiles.Chat("q", "a"));
        var records = DataFiles.ReadAll(path);
        Assert.Equal(2, records.Count);
        Assert.Equal(big.Length, ((ChatExample)records[0].Example!).Messages[1].Content!.Length);
    }
}
