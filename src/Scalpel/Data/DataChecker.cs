using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Scalpel.Data;

/// <summary>What <see cref="DataChecker.Check"/> reads and how much it reports.</summary>
public sealed record DataCheckOptions
{
    public DatasetReadOptions Read { get; init; } = new();
    /// <summary>A validation file to look for leakage in (it is checked too).</summary>
    public string? ValidationFile { get; init; }
    public QualityOptions Quality { get; init; } = new();
    /// <summary>Errors kept in the report (the count is always the true total).</summary>
    public int MaxErrors { get; init; } = 1000;
    public int MaxWarnings { get; init; } = 1000;
    /// <summary>Warnings of one code kept in the report, so one kind does not crowd out the rest.</summary>
    public int MaxWarningsPerCode { get; init; } = 200;
    /// <summary>With a tokenizer: token counts of the rendered examples, and examples over a maximum length.</summary>
    public TokenCheckOptions? Tokens { get; init; }
}

/// <summary>The result of checking a dataset file.</summary>
public sealed class DataReport
{
    public required string File { get; init; }
    public DataFormat? Format { get; init; }
    public DataContainer? Container { get; init; }
    public bool Compressed { get; init; }
    /// <summary>Records read (valid or not).</summary>
    public long Examples { get; init; }
    public required IssueLog Errors { get; init; }
    public required IssueLog Warnings { get; init; }
    public required DatasetStats Stats { get; init; }
    public TimeSpan Elapsed { get; init; }

    public bool HasErrors => Errors.Count > 0;

    /// <summary>The report as one JSON object: format, examples, errors, error_count, warnings, warning_count, stats, and more.</summary>
    public string ToJson(bool indented = false)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            WriteJson(w);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("file", File);
        w.WriteString("format", Format?.Name() ?? "unknown");
        if (Container is { } c) w.WriteString("container", c.Name());
        else w.WriteNull("container");
        w.WriteBoolean("compressed", Compressed);
        w.WriteNumber("examples", Examples);
        WriteIssues(w, "errors", Errors);
        w.WriteNumber("error_count", Errors.Count);
        WriteIssues(w, "warnings", Warnings);
        w.WriteNumber("warning_count", Warnings.Count);
        WriteCounts(w, "errors_by_code", Errors.CountByCode);
        WriteCounts(w, "warnings_by_code", Warnings.CountByCode);
        w.WritePropertyName("stats");
        Stats.WriteJson(w);
        w.WriteNumber("seconds", Math.Round(Elapsed.TotalSeconds, 3));
        w.WriteEndObject();
    }

    private static void WriteIssues(Utf8JsonWriter w, string name, IssueLog log)
    {
        w.WriteStartArray(name);
        foreach (var i in log.Items)
        {
            w.WriteStartObject();
            w.WriteString("file", i.File);
            w.WriteNumber("line", i.Line);
            w.WriteString("field", i.Field);
            w.WriteString("code", i.Code);
            w.WriteString("message", i.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteCounts(Utf8JsonWriter w, string name, Dictionary<string, long> counts)
    {
        w.WriteStartObject(name);
        foreach (var (code, n) in counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteNumber(code, n);
        w.WriteEndObject();
    }
}

/// <summary>
/// Checks a dataset file in one streaming pass: every record is parsed and validated (errors with line, field path,
/// code and fix), counted into <see cref="DatasetStats"/>, and fed to the quality checks (duplicates, near-duplicates,
/// leakage, labels, short and templated answers; warnings only).
/// </summary>
public static class DataChecker
{
    public static DataReport Check(string path, DataCheckOptions? options = null)
    {
        options ??= new DataCheckOptions();
        var watch = Stopwatch.StartNew();
        var errors = new IssueLog(options.MaxErrors);
        var warnings = new IssueLog(options.MaxWarnings, options.MaxWarningsPerCode);
        var stats = new DatasetStats();
        var quality = new QualityAnalyzer(options.Quality, warnings, stats);
        var features = new FeatureExtractor();
        TokenCounter? tokens = null;
        if (options.Tokens is { } tokenOptions)
        {
            stats.Tokens = new TokenStats();
            tokens = new TokenCounter(tokenOptions, stats.Tokens, errors, warnings);
        }

        if (options.ValidationFile is string validation)
        {
            using var reader = DatasetReader.Open(validation, options.Read);
            reader.WithFeatures = true;
            foreach (var record in reader.Read())
            {
                foreach (var e in record.Errors) errors.Add(e);
                foreach (var w in record.Warnings) warnings.Add(w);
                if (record.Example is { } example)
                {
                    var f = record.Features ?? features.Extract(example);
                    quality.AddValidation(validation, record.Line, f);
                }
            }
        }

        DataFormat? format;
        DataContainer? container;
        bool compressed;
        using (var reader = DatasetReader.Open(path, options.Read))
        {
            reader.WithFeatures = true;
            foreach (var record in reader.Read())
            {
                foreach (var e in record.Errors) errors.Add(e);
                foreach (var w in record.Warnings) warnings.Add(w);
                if (!record.IsRecord) continue;
                stats.Records++;
                if (record.Example is not { } example)
                {
                    stats.ExamplesWithErrors++;
                    continue;
                }
                stats.ValidExamples++;
                var f = record.Features ?? features.Extract(example);
                Count(stats, example, f);
                quality.Add(path, record.Line, f);
                tokens?.Add(path, record.Line, example);
            }
            format = reader.Format;
            container = reader.Container;
            compressed = reader.Compressed;
            stats.Bytes = reader.FileBytes;
            if (stats.Records == 0 && errors.Count == 0)
                errors.Add(new DataIssue(path, 0, "", IssueCodes.EmptyFile, "the file holds no records: it is empty or only blank lines"));
        }
        quality.Finish(path);
        return new DataReport
        {
            File = path, Format = format, Container = container, Compressed = compressed,
            Examples = stats.Records, Errors = errors, Warnings = warnings, Stats = stats, Elapsed = watch.Elapsed,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Count(DatasetStats stats, Example example, in ExampleFeatures f)
    {
        switch (example)
        {
            case ChatExample chat:
                stats.ChatExamples++;
                CountMessages(stats, chat.Messages);
                stats.MessagesPerExample.Add(chat.Messages.Count);
                if (chat.HasTools) stats.ExamplesWithTools++;
                if (chat.Messages.Count > 0 && ChatRoles.IsInstruction(chat.Messages[0].Role)) stats.ExamplesWithSystemPrompt++;
                break;
            case PreferenceExample pair:
                stats.PreferenceExamples++;
                CountMessages(stats, pair.Prompt);
                CountMessages(stats, pair.Chosen);
                CountMessages(stats, pair.Rejected);
                stats.MessagesPerExample.Add(pair.Prompt.Count + pair.Chosen.Count);
                if (pair.HasTools) stats.ExamplesWithTools++;
                if (pair.Prompt.Count > 0 && ChatRoles.IsInstruction(pair.Prompt[0].Role)) stats.ExamplesWithSystemPrompt++;
                break;
            case TextExample:
                stats.TextExamples++;
                break;
        }
        stats.ExampleChars.Add(f.Chars);
        stats.ExampleWords.Add(f.Words);
        if (f.Answer is not null)
        {
            stats.AnswerChars.Add(f.Answer.Length);
            stats.AnswerWords.Add(f.AnswerWords);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CountMessages(DatasetStats stats, IReadOnlyList<ChatMessage> messages)
    {
        foreach (var m in messages)
        {
            stats.Messages++;
            stats.Roles[m.Role] = stats.Roles.GetValueOrDefault(m.Role) + 1;
            if (m.Role == ChatRoles.Assistant)
            {
                if (m.IsTrainable) stats.TrainedAssistantMessages++;
                else stats.UntrainedAssistantMessages++;
            }
            if (m.ToolCalls is not null) stats.ToolCalls += m.ToolCalls.Count;
        }
    }
}
