using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Training.Reports;

/// <summary>
/// <c>report.html</c> of a run folder: one self-contained page that opens offline. Loss (train and validation),
/// validation accuracy, learning rate, gradient norm and throughput are drawn by uPlot (inlined, MIT; see
/// Resources/uPlot/README.md) with the best / early-stopping step marked; then the data summary and the config.
/// </summary>
/// <remarks>
/// Reads <c>metrics.jsonl</c> (see <see cref="RunMetrics"/>), <c>config.yaml</c> and <c>data.json</c> from the run
/// folder; any of them may be missing or short (a run that just started still gets a page). All text from the run
/// is HTML-escaped, and the chart data travels as JSON with &lt; &gt; &amp; escaped, so no value can close a tag.
/// </remarks>
public static class RunReport
{
    public const string FileName = "report.html";

    /// <summary>Writes <c>report.html</c> into <paramref name="runDirectory"/> atomically (temp file, then rename) and returns its path.</summary>
    public static string Write(string runDirectory)
    {
        if (!Directory.Exists(runDirectory)) throw new DirectoryNotFoundException($"{runDirectory}: no such run folder");
        var metrics = RunMetrics.Read(Path.Combine(runDirectory, "metrics.jsonl"));
        string? config = ReadIfExists(Path.Combine(runDirectory, "config.yaml"));
        string? dataJson = ReadIfExists(Path.Combine(runDirectory, "data.json"));
        string html = Render(Path.GetFullPath(runDirectory), metrics, config, dataJson, DateTime.UtcNow);

        string target = Path.Combine(runDirectory, FileName);
        string temp = Path.Combine(runDirectory, $".{FileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temp, html, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return target;
    }

    /// <summary>The page for a run: <paramref name="dataJson"/> is data.json's text (any JSON, shown as a table).</summary>
    public static string Render(string runDirectory, RunMetrics metrics, string? configYaml, string? dataJson, DateTime generatedUtc)
    {
        string name = Path.GetFileName(runDirectory.TrimEnd('/', '\\'));
        var best = metrics.Best();
        var h = new StringBuilder(96 * 1024);
        h.Append("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Append("<title>Scalpel run ").Append(Html(name)).Append("</title>\n")
         .Append("<style>\n").Append(Resource("uPlot.css")).Append("\n</style>\n")
         .Append("<style>\n").Append(Resource("RunReport.css")).Append("</style>\n")
         // Before anything else: a script error shows on the page (and in data-errors) instead of leaving empty charts.
         .Append("<script>\nwindow.addEventListener('error', function (e) {\n")
         .Append("  var n = +(document.documentElement.getAttribute('data-errors') || 0) + 1;\n")
         .Append("  document.documentElement.setAttribute('data-errors', n);\n")
         .Append("  var el = document.getElementById('errors');\n")
         .Append("  if (el) { el.hidden = false; el.textContent = 'The charts could not be drawn: ' + e.message; }\n")
         .Append("});\n</script>\n</head>\n<body>\n");

        h.Append("<h1>Run ").Append(Html(name)).Append("</h1>\n<p class=\"path\">").Append(Html(runDirectory)).Append("</p>\n");
        h.Append("<div id=\"errors\" class=\"errors\" hidden></div>\n");
        AppendSummary(h, metrics, best);

        h.Append("<h2>Loss</h2>\n<div id=\"chart-loss\" class=\"chart\"></div>\n");
        h.Append("<section id=\"section-accuracy\"><h2>Validation accuracy</h2>\n<div id=\"chart-accuracy\" class=\"chart\"></div></section>\n");
        h.Append("<div class=\"grid\">\n")
         .Append("<section><h2>Learning rate</h2>\n<div id=\"chart-lr\" class=\"chart\"></div></section>\n")
         .Append("<section><h2>Gradient norm</h2>\n<div id=\"chart-grad-norm\" class=\"chart\"></div></section>\n")
         .Append("<section><h2>Throughput</h2>\n<div id=\"chart-throughput\" class=\"chart\"></div></section>\n")
         .Append("</div>\n");

        h.Append("<h2>Data</h2>\n");
        AppendDataTable(h, dataJson);
        h.Append("<h2>Config</h2>\n");
        h.Append(configYaml is null
            ? "<p class=\"note\">No config.yaml in the run folder.</p>\n"
            : "<pre class=\"config\">" + Html(configYaml) + "</pre>\n");

        h.Append("<footer>Written by Scalpel at ").Append(generatedUtc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture))
         .Append(" UTC. Charts drawn with uPlot 1.6.32 (MIT License).</footer>\n");

        h.Append("<script type=\"application/json\" id=\"run-data\">").Append(ChartData(metrics, best)).Append("</script>\n");
        h.Append("<script>\n/*! uPlot 1.6.32, https://github.com/leeoniya/uPlot\n").Append(Resource("uPlot.LICENSE").Replace("*/", "* /"))
         .Append("*/\n").Append(Resource("uPlot.js")).Append("\n</script>\n");
        h.Append("<script>\n").Append(Resource("RunReport.js")).Append("</script>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void AppendSummary(StringBuilder h, RunMetrics m, (int Step, double? ValLoss)? best)
    {
        var rows = new List<(string, string)>();
        var last = m.Train.LastOrDefault();
        if (m.Summary?.StoppedReason is { } reason) rows.Add(("Stopped", reason));
        else rows.Add(("Stopped", m.Summary is null ? "not yet (no summary line: the run is going on, or ended abruptly)" : "-"));
        if (best is { } b)
            rows.Add((m.Summary?.BestStep is null ? "Best so far" : "Best step",
                $"step {b.Step}" + (b.ValLoss is { } l ? $", validation loss {Num(l)}" : "")));
        rows.Add(("Steps", last is null ? "0" : last.Step.ToString(CultureInfo.InvariantCulture)
                  + (last.Epoch is { } e ? $" (epoch {e.ToString("0.##", CultureInfo.InvariantCulture)})" : "")));
        if (last?.Loss is { } loss) rows.Add(("Last train loss", Num(loss)));
        if (m.Validation.LastOrDefault(v => v.ValLoss is not null) is { } lastVal)
            rows.Add(("Last validation", $"step {lastVal.Step}: loss {Num(lastVal.ValLoss!.Value)}"
                      + (lastVal.ValAccuracy is { } acc ? $", token accuracy {acc.ToString("P2", CultureInfo.InvariantCulture)}" : "")));
        if (last?.ElapsedSeconds is { } s) rows.Add(("Training time", TimeSpan.FromSeconds(Math.Round(s)).ToString("c", CultureInfo.InvariantCulture)));
        if (m.Train.Count == 0 && m.Validation.Count == 0) rows.Add(("Metrics", "none recorded yet"));
        if (m.SkippedLines.Count > 0)
            rows.Add(("Unreadable lines", $"metrics.jsonl line{(m.SkippedLines.Count > 1 ? "s" : "")} {string.Join(", ", m.SkippedLines.Take(10))}"
                      + (m.SkippedLines.Count > 10 ? ", …" : "") + " skipped"));
        AppendTable(h, rows, "summary");
    }

    private static void AppendDataTable(StringBuilder h, string? dataJson)
    {
        if (dataJson is null)
        {
            h.Append("<p class=\"note\">No data.json in the run folder.</p>\n");
            return;
        }
        JsonNode? root;
        try { root = JsonNode.Parse(dataJson); }
        catch (JsonException e)
        {
            h.Append("<p class=\"note\">data.json is not valid JSON: ").Append(Html(e.Message)).Append("</p>\n");
            return;
        }
        var rows = new List<(string, string)>();
        Flatten(root, "", rows);
        if (rows.Count == 0) h.Append("<p class=\"note\">data.json is empty.</p>\n");
        else AppendTable(h, rows, "data");
    }

    /// <summary>Nested objects become dotted keys, arrays of objects indexed keys; arrays of plain values one comma-separated cell.</summary>
    internal static void Flatten(JsonNode? node, string prefix, List<(string Key, string Value)> rows)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o) Flatten(value, prefix.Length == 0 ? key : $"{prefix}.{key}", rows);
                break;
            case JsonArray a when a.All(x => x is null or JsonValue):
                rows.Add((prefix, string.Join(", ", a.Select(Scalar))));
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) Flatten(a[i], $"{prefix}[{i}]", rows);
                break;
            default:
                rows.Add((prefix, Scalar(node)));
                break;
        }

        static string Scalar(JsonNode? v) => v switch
        {
            null => "null",
            JsonValue j when j.TryGetValue(out string? s) => s,
            _ => v.ToJsonString(),
        };
    }

    private static void AppendTable(StringBuilder h, List<(string Key, string Value)> rows, string id)
    {
        h.Append("<table class=\"kv\" id=\"").Append(id).Append("\">\n");
        foreach (var (key, value) in rows)
            h.Append("<tr><th>").Append(Html(key)).Append("</th><td>").Append(Html(value)).Append("</td></tr>\n");
        h.Append("</table>\n");
    }

    /// <summary>The chart data as JSON that is safe inside a script element: &lt;, &gt;, &amp; and quotes are \u-escaped.</summary>
    internal static string ChartData(RunMetrics m, (int Step, double? ValLoss)? best)
    {
        using var buffer = new MemoryStream();
        // The default encoder escapes <, >, &, ', " and non-ASCII as \uXXXX: "</script>" cannot appear.
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("train");
            Column(w, "step", m.Train.Select(p => (double?)p.Step));
            Column(w, "epoch", m.Train.Select(p => p.Epoch));
            Column(w, "loss", m.Train.Select(p => p.Loss));
            Column(w, "lr", m.Train.Select(p => p.LearningRate));
            Column(w, "grad_norm", m.Train.Select(p => p.GradNorm));
            Column(w, "tokens_per_s", m.Train.Select(p => p.TokensPerSecond));
            w.WriteEndObject();
            w.WriteStartObject("val");
            Column(w, "step", m.Validation.Select(p => (double?)p.Step));
            Column(w, "val_loss", m.Validation.Select(p => p.ValLoss));
            Column(w, "val_accuracy", m.Validation.Select(p => p.ValAccuracy));
            w.WriteEndObject();
            if (best is { } b)
            {
                w.WriteStartObject("best");
                w.WriteNumber("step", b.Step);
                w.WriteString("label", (m.Summary?.BestStep is null ? "best so far" : m.Summary.StoppedReason is { Length: > 0 } ? "best (kept)" : "best")
                                       + $": step {b.Step}");
                w.WriteEndObject();
            }
            else w.WriteNull("best");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Column(Utf8JsonWriter w, string name, IEnumerable<double?> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
            if (v is { } d) w.WriteNumberValue(d); else w.WriteNullValue();
        w.WriteEndArray();
    }

    /// <summary>Text for HTML element content or a quoted attribute.</summary>
    internal static string Html(string text)
    {
        var b = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': b.Append("&amp;"); break;
                case '<': b.Append("&lt;"); break;
                case '>': b.Append("&gt;"); break;
                case '"': b.Append("&quot;"); break;
                case '\'': b.Append("&#39;"); break;
                case '\0': b.Append('\uFFFD'); break;
                default: b.Append(c); break;
            }
        }
        return b.ToString();
    }

    private static string Num(double v) => v.ToString(v == 0 || Math.Abs(v) >= 1e-3 ? "0.####" : "G4", CultureInfo.InvariantCulture);

    private static string? ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : null;

    private static string Resource(string name)
    {
        using var stream = typeof(RunReport).Assembly.GetManifestResourceStream("Scalpel.Resources." + name)
                           ?? throw new InvalidOperationException($"embedded resource Scalpel.Resources.{name} is missing from the build");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
