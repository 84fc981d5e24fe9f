using Scalpel.Data;

namespace Scalpel.Cli.Commands;

/// <summary>The terminal form of a <see cref="DataReport"/>: counts, length histograms, then every error and warning kept.</summary>
internal static class DataReportPrinter
{
    public static string Location(DataIssue e) =>
        $"{e.File}{(e.Line > 0 ? ":" + e.Line : "")}{(e.Field.Length > 0 ? " " + e.Field : "")}";

    public static void Print(TextWriter o, DataReport r, bool listIssues)
    {
        var s = r.Stats;
        string container = r.Container is { } c ? c.Name() + (r.Compressed ? ", gzip" : "") : "unreadable";
        o.WriteLine($"{r.File}: {r.Format?.Name() ?? "unknown format"} ({container}), {Mb(s.Bytes)}, {r.Examples:N0} examples: " +
                    $"{s.ValidExamples:N0} valid, {s.ExamplesWithErrors:N0} with errors ({r.Elapsed.TotalSeconds:F1} s)");
        if (s.Messages > 0)
        {
            o.WriteLine($"  messages  {s.Messages:N0}: " + string.Join(" · ", s.Roles.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:N0}")));
            o.WriteLine($"  assistant {s.TrainedAssistantMessages:N0} trained, {s.UntrainedAssistantMessages:N0} with weight 0; " +
                        $"{s.ToolCalls:N0} tool calls; {s.ExamplesWithTools:N0} examples declare tools; {s.ExamplesWithSystemPrompt:N0} start with a system prompt");
        }
        if (s.PreferenceExamples > 0) o.WriteLine($"  {s.PreferenceExamples:N0} preference pairs");
        if (s.TextExamples > 0) o.WriteLine($"  {s.TextExamples:N0} plain-text documents");
        if (s.ValidExamples > 0)
        {
            Summary(o, "messages/example", s.MessagesPerExample);
            Summary(o, "example chars", s.ExampleChars);
            Summary(o, "example words", s.ExampleWords);
            Summary(o, "answer chars", s.AnswerChars);
            Summary(o, "answer words", s.AnswerWords);
            Histogram(o, "example length (chars)", s.ExampleChars);
            Histogram(o, "answer length (words)", s.AnswerWords);
        }
        if (s.Labels is { } labels)
        {
            o.WriteLine($"  labels ({labels.Count}): " + string.Join(" · ", labels.OrderByDescending(kv => kv.Value).Take(12)
                .Select(kv => $"'{DataCommand.Truncate(kv.Key, 24)}' {kv.Value:N0} ({100.0 * kv.Value / Math.Max(1, s.ValidExamples):F1}%)")));
        }
        if (s.Tokens is { } tokens) Tokens(o, tokens);
        o.WriteLine($"  duplicates {s.Duplicates:N0}, near-duplicates {s.NearDuplicates:N0}" +
                    (s.NearDuplicateSearch is var (t, b, rows) ? $" (MinHash {b}×{rows}, threshold {t:F2})" : " (near-duplicate search off)") +
                    (s.LeakedExamples + s.NearLeakedExamples > 0 ? $"; leaked into validation {s.LeakedExamples:N0} exact, {s.NearLeakedExamples:N0} near" : ""));

        if (listIssues)
        {
            Issues(o, "errors", r.Errors);
            Issues(o, "warnings", r.Warnings);
        }
        else
        {
            if (r.Errors.Count > 0) o.WriteLine($"  errors by code: {ByCode(r.Errors)} (scalpel data check lists them)");
            if (r.Warnings.Count > 0) o.WriteLine($"  warnings by code: {ByCode(r.Warnings)}");
        }
        o.WriteLine($"{Count(r.Errors.Count, "error")}, {Count(r.Warnings.Count, "warning")}" + (r.Errors.Count == 0 ? " — ready to train" : ""));
    }

    private static void Tokens(TextWriter o, TokenStats t)
    {
        o.WriteLine($"  tokens    {t.TotalTokens:N0} in {t.RenderedExamples:N0} rendered examples, {t.TrainableTokens:N0} trainable " +
                    $"({(t.TotalTokens == 0 ? 0 : 100.0 * t.TrainableTokens / t.TotalTokens):F1}%)" +
                    (t.NotRendered > 0 ? $"; {t.NotRendered:N0} not rendered ({t.RenderErrors:N0} template errors)" : ""));
        if (t.ContentTokensByRole.Count > 0)
            o.WriteLine("  content tokens by role (each message's content tokenized alone): " +
                        string.Join(" · ", t.ContentTokensByRole.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:N0}")));
        Summary(o, "tokens/example", t.ExampleTokens);
        Summary(o, "trainable/example", t.TrainableTokensPerExample);
        Histogram(o, "example length (tokens)", t.ExampleTokens);
        if (t.MaxLength is int max)
        {
            o.WriteLine(t.OverMaxLength == 0
                ? $"  max length {max:N0}: every example fits"
                : $"  max length {max:N0}: {t.OverMaxLength:N0} examples over it; drop loses {t.TrainableLostByDrop:N0} trainable tokens, " +
                  $"truncate_prompt_left cuts {t.PromptLeftPolicy.PromptTruncated:N0} prompts and loses {t.TrainableLostByPromptLeft:N0}, " +
                  $"truncate_answer loses {t.TrainableLostByAnswer:N0}");
        }
    }

    private static string Count(long n, string noun) => $"{n:N0} {noun}{(n == 1 ? "" : "s")}";

    private static string ByCode(IssueLog log) =>
        string.Join(", ", log.CountByCode.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:N0}"));

    private static void Issues(TextWriter o, string title, IssueLog log)
    {
        if (log.Count == 0) return;
        o.WriteLine();
        o.WriteLine(log.Items.Count < log.Count
            ? $"{title}: {log.Count:N0} ({ByCode(log)}); the first {log.Items.Count:N0} kept:"
            : $"{title}: {log.Count:N0} ({ByCode(log)})");
        foreach (var e in log.Items) o.WriteLine($"  {Location(e)}  {e.Code}  {e.Message}");
    }

    private static void Summary(TextWriter o, string name, LengthHistogram h)
    {
        if (h.Count == 0) return;
        o.WriteLine($"  {name,-17} min {h.Min:N0}  p50 {h.Percentile(0.5):N0}  p90 {h.Percentile(0.9):N0}  p99 {h.Percentile(0.99):N0}  max {h.Max:N0}  mean {h.Mean:N1}");
    }

    private static void Histogram(TextWriter o, string title, LengthHistogram h)
    {
        var buckets = h.Buckets();
        if (buckets.Count == 0) return;
        long top = buckets.Max(b => b.Count);
        o.WriteLine($"  {title}:");
        foreach (var (low, high, count) in buckets)
        {
            string range = low == high ? $"{low:N0}" : $"{low:N0}–{high:N0}";
            int bar = (int)Math.Ceiling(30.0 * count / top);
            o.WriteLine($"    {range,15} {new string('█', bar),-30} {count:N0}");
        }
    }

    private static string Mb(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:F1} MB" : bytes >= 1024 ? $"{bytes / 1024.0:F1} KB" : $"{bytes} B";
}
