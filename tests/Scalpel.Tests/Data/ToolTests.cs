using System.Text.Json;
using Scalpel.Data;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>convert (round trip of every format), dedupe and split (ratios, seed, strata, no duplicates across splits).</summary>
public class ToolTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    public static TheoryData<string, string, DataFormat> EveryFormat => new()
    {
        { "chat.jsonl", """
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Oslo?"}]}, {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "-3C ❄"}, {"role": "assistant", "content": "It is -3C.", "weight": 1}, {"role": "user", "content": "ok"}, {"role": "assistant", "content": "Bye", "weight": 0}], "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}], "parallel_tool_calls": false}
            {"messages": [{"role": "developer", "content": "d"}, {"role": "user", "name": "ann", "content": "日本語のテキスト"}, {"role": "assistant", "content": "はい", "reasoning_content": "thinking"}]}
            """, DataFormat.OpenAiChat },
        { "alpaca.json", """[{"instruction": "Translate", "input": "chat", "output": "cat", "system": "You translate.", "history": [["hi", "salut"]]}, {"instruction": "Sum 1 and 2", "output": "3"}]""", DataFormat.Alpaca },
        { "sharegpt.jsonl", """
            {"system": "sys", "tools": [{"name": "lookup", "parameters": {"type": "object"}}], "conversations": [{"from": "human", "value": "find"}, {"from": "function_call", "value": "{\"name\": \"lookup\", \"arguments\": {\"q\": 1}}"}, {"from": "observation", "value": "found"}, {"from": "gpt", "value": "done"}]}
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}
            """, DataFormat.ShareGpt },
        { "pc.csv", "prompt,completion\n\"2+2=\",4\n\"Say \"\"x\"\"\",x\n", DataFormat.PromptCompletion },
        { "pc-chat.jsonl", """{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}""", DataFormat.PromptCompletion },
        { "text.jsonl", """{"text": "Doc one."}""" + "\n" + """{"text": "Doc two, with \"quotes\"."}""", DataFormat.Text },
        { "trl.jsonl", """
            {"prompt": "Sky?", "chosen": "Blue.", "rejected": "Red."}
            {"prompt": "Grass?", "chosen": "Green.", "rejected": "Purple."}
            """, DataFormat.TrlPreference },
        { "trl-implicit.jsonl", """{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]}""", DataFormat.TrlPreference },
        { "openai-pref.jsonl", """{"input": {"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "function", "function": {"name": "f"}}]}, "preferred_output": [{"role": "assistant", "content": "good"}], "non_preferred_output": [{"role": "assistant", "content": "bad"}]}""", DataFormat.OpenAiPreference },
    };

    [Theory]
    [MemberData(nameof(EveryFormat))]
    public void ConvertRoundTripsEveryFormatAndReChecksClean(string name, string content, DataFormat format)
    {
        var input = _files.Write(name, content.ReplaceLineEndings("\n") + "\n");
        var before = DataFiles.Examples(input);
        Assert.All(DataFiles.ReadAll(input), r => Assert.Empty(r.Errors));
        Assert.All(before, e => Assert.Equal(format, e.Format));

        string output = _files.PathOf(name + ".converted.jsonl");
        var result = DatasetTools.Convert(input, output);
        Assert.False(result.Refused);
        Assert.Equal(before.Count, result.Written);

        var report = DataChecker.Check(output);
        Assert.Equal(0, report.Errors.Count);
        Assert.Equal(format switch
        {
            DataFormat.TrlPreference or DataFormat.OpenAiPreference => DataFormat.OpenAiPreference,
            DataFormat.Text => DataFormat.Text,
            _ => DataFormat.OpenAiChat,
        }, report.Format);

        var after = DataFiles.Examples(output);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++) Assert.Equal(Canonical(before[i]), Canonical(after[i]));

        // Converting the converted file again changes nothing.
        string again = _files.PathOf(name + ".again.jsonl");
        DatasetTools.Convert(output, again);
        Assert.Equal(File.ReadAllText(output), File.ReadAllText(again));
    }

    /// <summary>What an example means, independent of the format it came in.</summary>
    private static string Canonical(Example e) => e switch
    {
        ChatExample c => c.ToJson(ChatJsonOptions.OpenAi).ToJsonString(),
        PreferenceExample p => p.ToJson(ChatJsonOptions.OpenAi).ToJsonString(),
        TextExample t => t.Text,
        _ => throw new InvalidOperationException(),
    };

    [Fact]
    public void DedupeDropsExactAndNearDuplicatesKeepingTheFirst()
    {
        var rng = new Random(21);
        var lines = new List<string>();
        var keep = new List<int>();
        for (int i = 0; i < 30; i++)
        {
            var words = QualityTests.Words(rng, 150);
            lines.Add(Chat(words)); keep.Add(lines.Count);
            if (i % 3 == 0) lines.Add(Chat(words).Replace("\"content\": \"", "\"content\":   \"").ToUpperInvariant().Replace("MESSAGES", "messages").Replace("ROLE", "role").Replace("USER", "user").Replace("ASSISTANT", "assistant").Replace("CONTENT", "content"));
            if (i % 5 == 0) lines.Add(Chat(QualityTests.ReplaceTail(rng, words, 4)));                    // J ≈ 0.95: dropped
            if (i % 7 == 0) { lines.Add(Chat(QualityTests.ReplaceTail(rng, words, 60))); keep.Add(lines.Count); }   // J ≈ 0.42: kept
        }
        var input = _files.WriteLines("d.jsonl", [.. lines]);
        var result = DatasetTools.Dedupe(input, _files.PathOf("out.jsonl"));
        Assert.Equal(10, result.ExactDuplicates);
        Assert.Equal(6, result.NearDuplicates);
        Assert.Equal(keep.Count, result.Written);
        var inputLines = File.ReadAllLines(input);
        Assert.Equal(keep.Select(l => inputLines[l - 1]), File.ReadAllLines(_files.PathOf("out.jsonl")));
    }

    private static string Chat(string[] words) => DataFiles.Chat("Please summarise: " + string.Join(' ', words[..100]), string.Join(' ', words[100..]));

    private static List<string> Read(string dir, string name) => File.ReadAllLines(Path.Combine(dir, name + ".jsonl")).ToList();

    [Fact]
    public void SplitRespectsRatiosIsSeededAndLeavesNoDuplicateAcrossSplits()
    {
        var rng = new Random(8);
        var lines = Enumerable.Range(0, 1000).Select(i => DataFiles.Chat($"Question {i}: " + string.Join(' ', QualityTests.Words(rng, 12)), string.Join(' ', QualityTests.Words(rng, 30)))).ToList();
        for (int i = 0; i < 25; i++) lines.Add(lines[i * 7]);   // exact duplicates: dropped
        var input = _files.WriteLines("s.jsonl", [.. lines]);

        var a = DatasetTools.Split(input, _files.PathOf("a"), [0.8, 0.1, 0.1], seed: 42);
        Assert.Equal(25, a.ExactDuplicates);
        Assert.Null(a.LabelCounts);
        var (train, val, test) = (Read(_files.PathOf("a"), "train"), Read(_files.PathOf("a"), "validation"), Read(_files.PathOf("a"), "test"));
        Assert.Equal((800, 100, 100), (train.Count, val.Count, test.Count));
        var all = train.Concat(val).Concat(test).ToList();
        Assert.Equal(1000, all.Distinct().Count());
        Assert.Equal(lines.Take(1000).ToHashSet(), all.ToHashSet());
        // File order is kept inside each split.
        Assert.Equal(train.OrderBy(l => lines.IndexOf(l)), train);

        DatasetTools.Split(input, _files.PathOf("b"), [0.8, 0.1, 0.1], seed: 42);
        foreach (var n in new[] { "train", "validation", "test" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(_files.PathOf("a"), n + ".jsonl")), File.ReadAllBytes(Path.Combine(_files.PathOf("b"), n + ".jsonl")));
        DatasetTools.Split(input, _files.PathOf("c"), [0.8, 0.1, 0.1], seed: 43);
        Assert.NotEqual(val, Read(_files.PathOf("c"), "validation"));

        var two = DatasetTools.Split(input, _files.PathOf("d"), [0.9, 0.1], seed: 1);
        Assert.Equal(["train.jsonl", "validation.jsonl"], two.Outputs.Select(o => Path.GetFileName(o.Path)));
        Assert.Equal((900L, 100L), (two.Outputs[0].Count, two.Outputs[1].Count));
        Assert.Empty(Directory.GetFiles(_files.PathOf("d"), ".*tmp*"));
    }

    [Fact]
    public void SplitKeepsNearDuplicatesTogether()
    {
        var rng = new Random(12);
        var lines = new List<string>();
        var pairs = new List<(string, string)>();
        for (int i = 0; i < 200; i++)
        {
            var words = QualityTests.Words(rng, 150);
            lines.Add(Chat(words));
            if (i % 4 == 0)
            {
                lines.Add(Chat(QualityTests.ReplaceTail(rng, words, 3)));
                pairs.Add((lines[^2], lines[^1]));
            }
        }
        var input = _files.WriteLines("n.jsonl", [.. lines]);
        var result = DatasetTools.Split(input, _files.PathOf("out"), [0.5, 0.25, 0.25], seed: 3);
        Assert.Equal(50, result.NearDuplicates);
        var where = new Dictionary<string, string>();
        foreach (var n in new[] { "train", "validation", "test" })
            foreach (var l in Read(_files.PathOf("out"), n)) where[l] = n;
        Assert.Equal(lines.Count, where.Count);
        Assert.All(pairs, p => Assert.Equal(where[p.Item1], where[p.Item2]));
        // The split check sees no leakage between the parts.
        var check = DataChecker.Check(Path.Combine(_files.PathOf("out"), "train.jsonl"),
            new DataCheckOptions { ValidationFile = Path.Combine(_files.PathOf("out"), "validation.jsonl") });
        Assert.Equal(0, check.Stats.LeakedExamples + check.Stats.NearLeakedExamples);
    }

    [Fact]
    public void SplitIsStratifiedByLabel()
    {
        var rng = new Random(2);
        var labels = Enumerable.Range(0, 1000).Select(i => i % 10 < 6 ? "spam" : i % 10 < 9 ? "ham" : "unsure").ToList();
        var lines = labels.Select((l, i) => DataFiles.Chat($"Message {i}: " + string.Join(' ', QualityTests.Words(rng, 15)), l)).ToList();
        var input = _files.WriteLines("labels.jsonl", [.. lines]);
        var result = DatasetTools.Split(input, _files.PathOf("out"), [0.8, 0.1, 0.1], seed: 9);
        Assert.NotNull(result.LabelCounts);
        Assert.Equal([480L, 60, 60], result.LabelCounts!["spam"]);
        Assert.Equal([240L, 30, 30], result.LabelCounts["ham"]);
        Assert.Equal([80L, 10, 10], result.LabelCounts["unsure"]);
        var val = Read(_files.PathOf("out"), "validation");
        Assert.Equal(60, val.Count(l => l.Contains("\"spam\"")));
    }

    [Fact]
    public void SplitOfCsvWritesJsonObjects()
    {
        var csv = "instruction,output\n" + string.Join("\n", Enumerable.Range(0, 20).Select(i => $"\"Task {i}, please\",Answer number {i} here")) + "\n";
        var input = _files.Write("t.csv", csv);
        DatasetTools.Split(input, _files.PathOf("out"), [0.5, 0.5], seed: 0);
        var train = Read(_files.PathOf("out"), "train");
        Assert.Equal(10, train.Count);
        using var doc = JsonDocument.Parse(train[0]);
        Assert.StartsWith("Task ", doc.RootElement.GetProperty("instruction").GetString());
        Assert.Equal(0, DataChecker.Check(Path.Combine(_files.PathOf("out"), "train.jsonl")).Errors.Count);
    }

    [Fact]
    public void SplitOfAPrettyJsonArrayWritesOneRecordPerLine()
    {
        var json = "[\n" + string.Join(",\n", Enumerable.Range(0, 10).Select(i => $"  {{\n    \"text\": \"document {i} with some words in it\"\n  }}")) + "\n]\n";
        var input = _files.Write("docs.json", json);
        var result = DatasetTools.Split(input, _files.PathOf("out"), [0.7, 0.3], seed: 5);
        Assert.Equal(10, result.Written);
        var lines = Read(_files.PathOf("out"), "train").Concat(Read(_files.PathOf("out"), "validation")).ToList();
        Assert.All(lines, l => Assert.StartsWith("{\"text\":", l));
    }

    [Fact]
    public void ToolsRefuseInvalidInputUnlessAskedToSkip()
    {
        var input = _files.WriteLines("bad.jsonl", DataFiles.Chat("q", "a"), "{nope", DataFiles.Chat("q2", "a2"));
        var refused = DatasetTools.Split(input, _files.PathOf("out"), [0.5, 0.5], seed: 0);
        Assert.True(refused.Refused);
        Assert.False(Directory.Exists(_files.PathOf("out")) && Directory.GetFiles(_files.PathOf("out")).Length > 0);
        var skipped = DatasetTools.Split(input, _files.PathOf("out"), [0.5, 0.5], seed: 0, new DatasetToolOptions { SkipInvalid = true });
        Assert.Equal(2, skipped.Written);
        Assert.Equal(1, skipped.Invalid);
        var dedupe = DatasetTools.Dedupe(input, _files.PathOf("d.jsonl"));
        Assert.True(dedupe.Refused);
        Assert.False(File.Exists(_files.PathOf("d.jsonl")));
    }
}
