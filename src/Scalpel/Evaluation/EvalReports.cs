using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;

namespace Scalpel.Evaluation;

/// <summary>JSON shapes others rely on, and writing files atomically (temp file, then rename).</summary>
public static class EvalJson
{
    public static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = true };
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>{"NAME": {"value": x, "ci95": [lo, hi]}, ...}: every value of every metric (headline and secondary).</summary>
    public static JsonObject Metrics(IEnumerable<MetricResult> metrics)
    {
        var o = new JsonObject();
        foreach (var m in metrics)
            foreach (var (name, v) in m.Values)
                o[name] = new JsonObject { ["value"] = Number(v.Value), ["ci95"] = new JsonArray(Number(v.Ci95Low), Number(v.Ci95High)) };
        return o;
    }

    /// <summary>NaN and infinities are not JSON: they become null.</summary>
    public static JsonNode? Number(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 6)) : null;

    /// <summary>{"tasks": [{"name": ..., "metrics": {...}}]}</summary>
    public static JsonObject Tasks(IEnumerable<SetupResult> results) => new()
    {
        ["tasks"] = new JsonArray([.. results.Select(r => (JsonNode)new JsonObject { ["name"] = r.Task, ["metrics"] = Metrics(r.Metrics) })]),
    };

    public static JsonObject Example(SetupResult owner, int row)
    {
        var e = owner.Examples[row];
        var o = new JsonObject
        {
            ["index"] = e.Index, ["source"] = e.Source, ["input"] = e.Input, ["reference"] = e.Reference, ["prediction"] = e.Prediction,
            ["finish_reason"] = e.FinishReason,
        };
        if (e.PredictedToolCalls is not null) o["predicted_tool_calls"] = e.PredictedToolCalls.DeepClone();
        if (e.ReferenceToolCalls is not null) o["reference_tool_calls"] = e.ReferenceToolCalls.DeepClone();
        if (e.LossTokens is > 0) { o["reference_loss"] = Number(e.LossSum!.Value); o["reference_tokens"] = e.LossTokens; }
        var scores = new JsonObject();
        foreach (var m in owner.Metrics) scores[m.Metric] = Number(m.PerExample[row]);
        o["scores"] = scores;
        return o;
    }

    public static void WriteJson(string path, JsonNode node) => WriteText(path, node.ToJsonString(Options) + "\n");

    public static void WriteJsonLines(string path, IEnumerable<JsonNode> lines) =>
        WriteText(path, string.Concat(lines.Select(l => l.ToJsonString(Compact) + "\n")));

    public static void WriteText(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    public static string F(double v) => double.IsFinite(v) ? v.ToString("0.###", CultureInfo.InvariantCulture) : "n/a";
}

/// <summary>compare.json, compare.md and compare.html of a comparison.</summary>
public static class CompareReport
{
    public static JsonObject ToJson(ComparisonResult r)
    {
        var setups = new JsonObject();
        foreach (var s in r.Setups)
        {
            var results = r.Tasks.Select(t => t.Result(s.Name)).OfType<SetupResult>().ToList();
            var entry = EvalJson.Tasks(results);
            entry["kind"] = s.Kind.ToString().ToLowerInvariant();
            entry["description"] = s.Description;
            // The first task's metrics also sit at the top of each setup, for single-task suites.
            entry["metrics"] = results.Count > 0 ? EvalJson.Metrics(results[0].Metrics) : new JsonObject();
            if (r.Regression?.Result(s.Name) is { } reg) entry["regression"] = EvalJson.Metrics(reg.Metrics);
            var skipped = r.Tasks.Where(t => t.Skipped.ContainsKey(s.Name)).ToList();
            if (skipped.Count > 0) entry["skipped"] = new JsonObject(skipped.Select(t => KeyValuePair.Create(t.Task.Name, (JsonNode?)t.Skipped[s.Name])));
            setups[s.Name] = entry;
        }
        var v = r.Verdict;
        var verdict = new JsonObject
        {
            ["winner"] = v.Winner, ["summary"] = v.Summary, ["task"] = v.Task, ["metric"] = v.Metric,
            ["best_prompting"] = v.BestPrompting, ["best_adapter"] = v.BestAdapter, ["fine_tuning_worth_it"] = v.FineTuningWorthIt,
            ["regression_worse"] = v.RegressionWorse,
        };
        if (v.AdapterVersusPrompting is { } p)
            verdict["adapter_minus_prompting"] = new JsonObject
            {
                ["value"] = EvalJson.Number(p.Difference.Value),
                ["ci95"] = new JsonArray(EvalJson.Number(p.Difference.Ci95Low), EvalJson.Number(p.Difference.Ci95High)),
                ["beyond_noise"] = p.BeyondNoise,
            };
        return new JsonObject { ["suite"] = r.Suite, ["setups"] = setups, ["verdict"] = verdict };
    }

    public static string ToMarkdown(ComparisonResult r)
    {
        var md = new StringBuilder();
        md.Append($"# Was fine-tuning worth it? — {r.Suite}\n\n**Verdict:** {r.Verdict.Summary}\n\n**Winner:** {r.Verdict.Winner}\n\n");
        md.Append("## Setups\n\n| setup | kind | what it is |\n|---|---|---|\n");
        foreach (var s in r.Setups) md.Append($"| {s.Name} | {s.Kind.ToString().ToLowerInvariant()} | {Escape(s.Description)} |\n");
        foreach (var t in r.Tasks.Append(r.Regression).OfType<TaskComparison>())
        {
            md.Append($"\n## {(t == r.Regression ? "Regression set" : "Task " + t.Task.Name)} ({t.Results.FirstOrDefault()?.Examples.Count ?? 0} examples)\n\n");
            var headlines = t.Results.SelectMany(x => x.Metrics).Select(m => m.Metric).Distinct().ToList();
            Table(md, t.Results, headlines);
            var details = t.Results.SelectMany(x => x.Metrics).SelectMany(m => m.Values.Keys).Distinct().Except(headlines).ToList();
            if (details.Count > 0)
            {
                md.Append("\n<details><summary>every value</summary>\n\n");
                Table(md, t.Results, details);
                md.Append("\n</details>\n");
            }
            foreach (var (setup, why) in t.Skipped) md.Append($"\n_{setup} not run: {why}._\n");
        }
        md.Append("\nValues are means over the test examples with percentile-bootstrap 95% intervals; the verdict's difference is a paired bootstrap over the same examples.\n");
        return md.ToString();
    }

    private static string Escape(string s) => s.Replace("|", "\\|");

    private static void Table(StringBuilder md, IReadOnlyList<SetupResult> results, IReadOnlyList<string> names)
    {
        md.Append("| setup | " + string.Join(" | ", names) + " |\n|---|" + string.Concat(names.Select(_ => "---|")) + "\n");
        foreach (var res in results)
        {
            md.Append($"| {res.Setup} |");
            foreach (var n in names)
            {
                var v = res.Metrics.SelectMany(m => m.Values).Where(kv => kv.Key == n).Select(kv => (MetricValue?)kv.Value).FirstOrDefault();
                md.Append(v is { } x ? $" {EvalJson.F(x.Value)} [{EvalJson.F(x.Ci95Low)}, {EvalJson.F(x.Ci95High)}] |" : " — |");
            }
            md.Append('\n');
        }
    }

    public static void WriteAll(ComparisonResult r, string directory)
    {
        Directory.CreateDirectory(directory);
        EvalJson.WriteJson(Path.Combine(directory, "compare.json"), ToJson(r));
        EvalJson.WriteText(Path.Combine(directory, "compare.md"), ToMarkdown(r));
        EvalJson.WriteText(Path.Combine(directory, "compare.html"), CompareHtml.Render(r));
        foreach (var t in r.Tasks.Append(r.Regression).OfType<TaskComparison>())
            foreach (var res in t.Results)
                EvalJson.WriteJsonLines(Path.Combine(directory, "examples", Safe($"{t.Task.Name}.{res.Setup}") + ".jsonl"),
                    res.Examples.Select((_, i) => (JsonNode)EvalJson.Example(res, i)));
    }

    public static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
