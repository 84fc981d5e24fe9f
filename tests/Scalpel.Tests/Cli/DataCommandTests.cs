using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Scalpel.Tests.Data;
using Xunit;

namespace Scalpel.Tests.Cli;

/// <summary>
/// <c>scalpel data</c> in process: exit codes (0 clean, 1 data errors, 2 wrong use), the --json report, and a corpus of
/// broken files that must each give their error code and never an unhandled exception.
/// </summary>
[Collection("console")]
public class DataCommandTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    private static (int Code, string Out, string Err) Run(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    private static void NoStackTrace(string err)
    {
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Exception", err);
    }

    /// <summary>Runs check --json and returns the exit code, the codes of the errors, and the report.</summary>
    private static (int Code, string[] Errors, JsonElement Report) CheckJson(string path, params string[] extra)
    {
        var (code, output, err) = Run(["data", "check", path, "--json", .. extra]);
        NoStackTrace(err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement.Clone();
        var errors = root.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("code").GetString()!).ToArray();
        // The terminal report of the same file must not fail either.
        var (textCode, _, textErr) = Run(["data", "check", path, .. extra]);
        NoStackTrace(textErr);
        Assert.Equal(code, textCode);
        return (code, errors, root);
    }

    [Fact]
    public void CleanFileExitsZeroWithTheReportShape()
    {
        var path = _files.WriteLines("ok.jsonl", DataFiles.Chat("What is 2+2?", "4, since two and two make four."), DataFiles.Chat("Capital of Peru?", "Lima is the capital of Peru."));
        var (code, errors, report) = CheckJson(path);
        Assert.Equal(0, code);
        Assert.Empty(errors);
        Assert.Equal("openai-chat", report.GetProperty("format").GetString());
        Assert.Equal(2, report.GetProperty("examples").GetInt64());
        Assert.Equal(0, report.GetProperty("error_count").GetInt64());
        Assert.Equal(JsonValueKind.Array, report.GetProperty("warnings").ValueKind);
        var stats = report.GetProperty("stats");
        Assert.Equal(2, stats.GetProperty("roles").GetProperty("user").GetInt64());
        Assert.Equal(JsonValueKind.Array, stats.GetProperty("example_chars").GetProperty("histogram").ValueKind);
    }

    [Fact]
    public void ErrorsExitOneWithLineFieldCodeMessage()
    {
        var path = _files.WriteLines("bad.jsonl", DataFiles.Chat("q", "a"), """{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 3}]}""");
        var (code, errors, report) = CheckJson(path);
        Assert.Equal(1, code);
        Assert.Equal(["wrong_type"], errors);
        var e = report.GetProperty("errors")[0];
        Assert.Equal(2, e.GetProperty("line").GetInt64());
        Assert.Equal("messages[1].content", e.GetProperty("field").GetString());
        Assert.Contains("got a number", e.GetProperty("message").GetString());
        Assert.Equal(1, report.GetProperty("error_count").GetInt64());
    }

    [Fact]
    public void WarningsAloneExitZero()
    {
        var line = DataFiles.Chat("same question here", "same answer here");
        var (code, errors, report) = CheckJson(_files.WriteLines("dup.jsonl", line, line));
        Assert.Equal(0, code);
        Assert.Empty(errors);
        Assert.Equal("duplicate", report.GetProperty("warnings")[0].GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("data", "check", "{missing}")]
    [InlineData("data", "check")]
    [InlineData("data", "check", "{file}", "--frobnicate")]
    [InlineData("data", "check", "{file}", "--format", "parquet")]
    [InlineData("data", "check", "{file}", "--format")]
    [InlineData("data", "check", "{file}", "--model", "{missing}")]
    [InlineData("data", "check", "{file}", "--max-length", "2048")]
    [InlineData("data", "check", "{file}", "--model", "{dir}", "--max-length", "0")]
    [InlineData("data", "check", "{file}", "--near-dup-threshold", "1.5")]
    [InlineData("data", "check", "{file}", "--validation", "{missing}")]
    [InlineData("data", "check", "{file}", "{file}")]
    [InlineData("data", "stats", "{missing}")]
    [InlineData("data")]
    [InlineData("data", "frobnicate", "{file}")]
    [InlineData("data", "split", "{file}")]
    [InlineData("data", "split", "{file}", "--out", "{dir}", "--ratios", "0.5,0.2")]
    [InlineData("data", "split", "{file}", "--out", "{dir}", "--ratios", "0.5,0.2,0.2,0.1")]
    [InlineData("data", "split", "{file}", "--out", "{dir}", "--seed", "-3")]
    [InlineData("data", "convert", "{file}")]
    [InlineData("data", "convert", "{file}", "--out", "{file}")]
    [InlineData("data", "dedupe", "{file}", "--out", "{dir}")]
    public void WrongUseExitsTwo(params string[] args)
    {
        string file = _files.WriteLines("ok.jsonl", DataFiles.Chat("q", "a"));
        var resolved = args.Select(a => a.Replace("{file}", file).Replace("{missing}", _files.PathOf("missing.jsonl")).Replace("{dir}", _files.Dir)).ToArray();
        var (code, _, err) = Run(resolved);
        Assert.Equal(2, code);
        Assert.StartsWith("scalpel: ", err);
        NoStackTrace(err);
    }

    [Fact]
    public void ModelCountsTokensAndMaxLengthWarnsWithTheLine()
    {
        string model = TokenCheckTests.ModelDir("qwen2.5");
        var path = _files.WriteLines("ok.jsonl", DataFiles.Chat("What is 2+2?", "4."),
            DataFiles.Chat(string.Join(' ', Enumerable.Repeat("long question", 40)), "A short answer."));
        var (code, errors, report) = CheckJson(path, "--model", model, "--max-length", "60");
        Assert.Equal(0, code);
        Assert.Empty(errors);
        var tokens = report.GetProperty("stats").GetProperty("tokens");
        Assert.Equal(2, tokens.GetProperty("rendered_examples").GetInt64());
        Assert.True(tokens.GetProperty("trainable_tokens").GetInt64() > 0);
        Assert.Equal(1, tokens.GetProperty("over_max_length").GetInt64());
        var warning = report.GetProperty("warnings").EnumerateArray().Single(w => w.GetProperty("code").GetString() == "over_max_length");
        Assert.Equal(2, warning.GetProperty("line").GetInt64());
        Assert.Contains("truncate_prompt_left removes", warning.GetProperty("message").GetString());

        var (_, text, _) = Run("data", "check", path, "--model", model, "--max-length", "60");
        Assert.Contains("content tokens by role", text);
        Assert.Contains("example length (tokens)", text);
    }

    [Fact]
    public void ATemplateErrorExitsOneWithTheLine()
    {
        string model = Path.Combine(_files.Dir, "model");
        Directory.CreateDirectory(model);
        string source = TokenCheckTests.ModelDir("qwen2.5");
        File.Copy(Path.Combine(source, "tokenizer.json"), Path.Combine(model, "tokenizer.json"));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!.AsObject();
        config["chat_template"] = "{% for m in messages %}{% if m.content == 'boom' %}{{ raise_exception('boom is not allowed') }}{% endif %}" +
                                  "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), config.ToJsonString());
        var path = _files.WriteLines("t.jsonl", DataFiles.Chat("q", "a"), DataFiles.Chat("boom", "a"));
        var (code, errors, report) = CheckJson(path, "--model", model);
        Assert.Equal(1, code);
        Assert.Equal(["template_error"], errors);
        Assert.Equal(2, report.GetProperty("errors")[0].GetProperty("line").GetInt64());
        Assert.Contains("boom is not allowed", report.GetProperty("errors")[0].GetProperty("message").GetString());
    }

    [Fact]
    public void StatsPrintsCountsAndHistogramsAndExitsZero()
    {
        var lines = Enumerable.Range(0, 30).Select(i => DataFiles.Chat($"question number {i} about {i * 7}", string.Join(' ', Enumerable.Repeat("word", i + 1)))).ToArray();
        var (code, output, _) = Run("data", "stats", _files.WriteLines("s.jsonl", lines));
        Assert.Equal(0, code);
        Assert.Contains("30 examples", output);
        Assert.Contains("user 30", output);
        Assert.Contains("answer length (words)", output);
        Assert.Contains("█", output);
    }

    [Fact]
    public void ValidationLeakageIsAWarning()
    {
        var shared = DataFiles.Chat("a question that leaks", "its answer");
        var train = _files.WriteLines("train.jsonl", shared, DataFiles.Chat("only in train", "yes"));
        var val = _files.WriteLines("val.jsonl", DataFiles.Chat("only in validation", "no"), shared);
        var (code, _, report) = CheckJson(train, "--validation", val);
        Assert.Equal(0, code);
        var leak = report.GetProperty("warnings").EnumerateArray().Single(w => w.GetProperty("code").GetString() == "leakage");
        Assert.Equal(1, leak.GetProperty("line").GetInt64());
        Assert.Contains("val.jsonl:2", leak.GetProperty("message").GetString());
        Assert.Equal(1, report.GetProperty("stats").GetProperty("leaked_examples").GetInt64());
    }

    [Fact]
    public void ConvertSplitAndDedupeFromTheCommandLine()
    {
        var lines = Enumerable.Range(0, 40).Select(i => $$"""{"instruction": "Item {{i}} of the list, please describe it", "output": "It is item number {{i}}, a fine item."}""").ToList();
        lines.Add(lines[0]);
        var input = _files.WriteLines("alpaca.jsonl", [.. lines]);

        var (code, output, err) = Run("data", "convert", input, "--out", _files.PathOf("chat.jsonl"));
        Assert.Equal(0, code);
        Assert.Contains("41 examples as OpenAI chat JSONL", output);
        NoStackTrace(err);
        Assert.Equal(0, Run("data", "check", _files.PathOf("chat.jsonl"), "--json").Code);

        (code, output, _) = Run("data", "dedupe", input, "--out", _files.PathOf("dedup.jsonl"));
        Assert.Equal(0, code);
        Assert.Contains("kept 40 of 41", output);

        (code, output, _) = Run("data", "split", input, "--out", _files.PathOf("split"), "--ratios", "0.5,0.25,0.25", "--seed", "7");
        Assert.Equal(0, code);
        Assert.Contains("train.jsonl", output);
        Assert.Equal(40, new[] { "train", "validation", "test" }.Sum(n => File.ReadAllLines(_files.PathOf($"split/{n}.jsonl")).Length));
    }

    [Fact]
    public void ToolsRefuseBrokenInputAndWriteNothing()
    {
        var input = _files.WriteLines("broken.jsonl", DataFiles.Chat("q", "a"), "{oops");
        string output = _files.PathOf("out.jsonl");
        var (code, _, err) = Run("data", "convert", input, "--out", output);
        Assert.Equal(1, code);
        Assert.Contains("broken.jsonl:2", err);
        Assert.Contains("--skip-invalid", err);
        NoStackTrace(err);
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(_files.Dir, ".out.jsonl.tmp-*"));

        (code, _, _) = Run("data", "convert", input, "--out", output, "--skip-invalid");
        Assert.Equal(0, code);
        Assert.Single(File.ReadAllLines(output));
    }

    // ------------------------------------------------------------ the broken-file corpus

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    public static TheoryData<string, string, string[]> Corpus()
    {
        string ok = DataFiles.Chat("q", "a");
        var random = new Random(4);
        byte[] garbage = new byte[200_000];
        random.NextBytes(garbage);
        var highBytes = new byte[50_000];
        for (int i = 0; i < highBytes.Length; i++) highBytes[i] = i % 97 == 96 ? (byte)'\n' : (byte)random.Next(0x80, 0x100);
        var manyLines = string.Concat(Enumerable.Range(0, 3000).Select(i => DataFiles.Chat($"question {i} is here", $"answer {i} is this") + "\n"));
        var gz = Gzip(Utf8(manyLines));
        var corrupt = (byte[])gz.Clone();
        for (int i = 40; i < 60; i++) corrupt[i] ^= 0x5A;
        string deep = new string('[', 10_000) + new string(']', 10_000);
        var data = new TheoryData<string, string, string[]>
        {
            // name, content as base64 (so bytes survive), expected error codes
            { "truncated.jsonl", B64(Utf8(ok + "\n" + ok[..(ok.Length / 2)])), ["invalid_json"] },
            { "truncated-array.json", B64(Utf8("[" + ok + ",\n" + ok[..20])), ["invalid_json"] },
            { "array-trailing.json", B64(Utf8("[" + ok + "] extra")), ["invalid_json"] },
            { "latin1.jsonl", B64([.. Utf8(ok + "\n{\"text\": \"caf"), 0xE9, .. Utf8("\"}\n")]), ["invalid_utf8"] },
            { "overlong.jsonl", B64([.. Utf8("{\"text\": \""), 0xC0, 0xAF, .. Utf8("\"}\n")]), ["invalid_utf8"] },
            { "cut-sequence.jsonl", B64([.. Utf8("{\"text\": \"euro "), 0xE2, 0x82, .. Utf8("\"}\n")]), ["invalid_utf8"] },
            { "lone-continuation.jsonl", B64([.. Utf8("{\"text\": \""), 0x80, .. Utf8("\"}\n")]), ["invalid_utf8"] },
            { "surrogate-bytes.jsonl", B64([.. Utf8("{\"text\": \""), 0xED, 0xA0, 0x80, .. Utf8("\"}\n")]), ["invalid_utf8"] },
            { "lone-surrogate-escape.jsonl", B64(Utf8("{\"text\": \"a \\udc00 b\"}\n{\"text\": \"\\ud83d\"}\n")), ["lone_surrogate", "lone_surrogate"] },
            { "utf16.jsonl", B64([0xFF, 0xFE, .. Encoding.Unicode.GetBytes(ok)]), ["invalid_utf8"] },
            { "deep.jsonl", B64(Utf8(ok + "\n{\"messages\": " + deep + "}\n")), ["too_deep"] },
            { "deep-array.json", B64(Utf8("[" + ok + ", {\"text\": " + deep + "}]")), ["too_deep"] },
            { "deep-arguments.jsonl", B64(Utf8("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": \"" + new string('[', 10_000) + "\"}}]}]}\n")), ["tool_call_invalid_json"] },
            { "wrong-types.jsonl", B64(Utf8(string.Join("\n",
                "{\"messages\": {\"role\": \"user\"}}",
                "{\"messages\": [{\"role\": \"user\", \"content\": true}, {\"role\": \"assistant\", \"content\": {\"text\": \"a\"}}], \"tools\": \"none\", \"parallel_tool_calls\": \"yes\"}",
                "{\"messages\": [{\"role\": 5, \"content\": \"q\", \"name\": 3}, {\"role\": \"assistant\", \"content\": \"a\", \"tool_calls\": \"f()\", \"tool_call_id\": []}]}",
                "{\"messages\": [\"user: hi\", 7, null]}",
                "[\"not\", \"an\", \"object\"]",
                "null") + "\n")),
                [.. Enumerable.Repeat("wrong_type", 14)] },
            { "wrong-types-alpaca.jsonl", B64(Utf8("{\"instruction\": [\"i\"], \"output\": null, \"system\": 5, \"history\": \"none\", \"input\": {}}\n")),
                [.. Enumerable.Repeat("wrong_type", 5)] },
            { "wrong-types-sharegpt.jsonl", B64(Utf8("{\"conversations\": [{\"from\": 1, \"value\": \"q\"}, {\"from\": \"gpt\", \"value\": [\"a\"]}, \"turn\"], \"system\": []}\n")),
                [.. Enumerable.Repeat("wrong_type", 4)] },
            { "empty.jsonl", B64([]), ["empty_file"] },
            { "whitespace.jsonl", B64(Utf8("  \n\t\n\r\n   ")), ["empty_file"] },
            { "blank-lines-only.jsonl", B64(Utf8(new string('\n', 70_000))), ["empty_file"] },
            { "garbage.bin", B64(garbage), ["binary_file"] },
            { "high-bytes.jsonl", B64(highBytes), ["invalid_utf8"] },
            { "truncated.jsonl.gz", B64(gz[..(gz.Length / 2)]), ["invalid_json", "invalid_gzip"] },
            { "corrupt.jsonl.gz", B64(corrupt), ["invalid_gzip"] },
            { "unterminated.csv", B64(Utf8("prompt,completion\nq,a\n\"q2,a2\n")), ["invalid_csv"] },
            { "columns.csv", B64(Utf8("prompt,completion\nq,a,extra\nq2,a2\n")), ["invalid_csv"] },
            { "csv-bad-json.csv", B64(Utf8("messages\n\"[{\"\"role\"\": \"\"user\"\"\"\n")), ["invalid_json"] },
            { "pretty.jsonl", B64(Utf8("{\n  \"text\": \"a\"\n}\n")), ["invalid_json", "invalid_json", "invalid_json"] },
        };
        return data;
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes);

    [Theory]
    [MemberData(nameof(Corpus))]
    public void BrokenFilesGiveTheirErrorNeverACrash(string name, string base64, string[] expected)
    {
        var path = _files.WriteBytes(name, Convert.FromBase64String(base64));
        var (code, errors, _) = CheckJson(path);
        Assert.Equal(1, code);
        foreach (var group in expected.GroupBy(e => e))
            Assert.True(errors.Count(e => e == group.Key) >= group.Count(), $"{name}: expected {group.Count()}× {group.Key}, got [{string.Join(", ", errors)}]");
        Assert.All(errors, e => Assert.Contains(e, expected));
    }

    [Fact]
    public void TenMegabyteLinesValidAndBroken()
    {
        string big = new('y', 10 << 20);
        var okPath = _files.WriteLines("big-ok.jsonl", DataFiles.Chat("q", big));
        Assert.Equal(0, CheckJson(okPath).Code);
        var badPath = _files.WriteLines("big-bad.jsonl", "{\"text\": \"" + big, DataFiles.Chat("q", "a"));
        var (code, errors, report) = CheckJson(badPath);
        Assert.Equal(1, code);
        Assert.Equal(["invalid_json"], errors);
        Assert.Equal(1, report.GetProperty("stats").GetProperty("valid_examples").GetInt64());
    }

    [Fact]
    public void BrokenFilesThroughEveryTool()
    {
        var path = _files.WriteBytes("latin1.jsonl", [.. Utf8("{\"text\": \"caf"), 0xE9, .. Utf8("\"}\n")]);
        foreach (var tool in new[] { "convert", "dedupe" })
        {
            var (code, _, err) = Run("data", tool, path, "--out", _files.PathOf(tool + ".jsonl"));
            Assert.Equal(1, code);
            NoStackTrace(err);
        }
        var (splitCode, _, splitErr) = Run("data", "split", path, "--out", _files.PathOf("split"));
        Assert.Equal(1, splitCode);
        NoStackTrace(splitErr);
        var (statsCode, _, statsErr) = Run("data", "stats", path);
        Assert.Equal(0, statsCode);
        NoStackTrace(statsErr);
    }
}
