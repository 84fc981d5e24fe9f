using System.Globalization;
using System.Net;
using System.Text;
using Scalpel.Evaluation.Metrics;

namespace Scalpel.Evaluation;

/// <summary>
/// compare.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched): the verdict, a bar chart per
/// metric with 95% intervals for every setup, confusion matrices, and the examples where setups disagree.
/// </summary>
public static class CompareHtml
{
    private static readonly string[] Colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];

    public static string Render(ComparisonResult r)
    {
        var h = new StringBuilder();
        h.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Comparison — ").Append(E(r.Suite)).Append("</title><style>")
         .Append("body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}")
         .Append(".verdict{font-size:1.15em;padding:.8em 1em;border-left:5px solid #4e79a7;background:#f3f6fa}")
         .Append("table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}")
         .Append("th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;gap:1.2em}")
         .Append("pre{white-space:pre-wrap;margin:0;max-width:28em;font-size:12px}.ok{background:#e5f4e3}.bad{background:#fbe3e3}")
         .Append("</style></head><body>");
        h.Append("<h1>Was fine-tuning worth it? — ").Append(E(r.Suite)).Append("</h1>");
        h.Append("<p class=\"verdict\"><b>Verdict:</b> ").Append(E(r.Verdict.Summary)).Append("<br><b>Winner:</b> ").Append(E(r.Verdict.Winner)).Append("</p>");
        h.Append("<h2>Setups</h2><table><tr><th>setup</th><th>kind</th><th>what it is</th></tr>");
        foreach (var s in r.Setups)
            h.Append("<tr><td>").Append(E(s.Name)).Append("</td><td>").Append(s.Kind.ToString().ToLowerInvariant()).Append("</td><td>").Append(E(s.Description)).Append("</td></tr>");
        h.Append("</table>");

        foreach (var t in r.Tasks.Append(r.Regression).OfType<TaskComparison>())
        {
            bool regression = ReferenceEquals(t, r.Regression);
            h.Append("<h2>").Append(regression ? "Regression set" : "Task " + E(t.Task.Name)).Append("</h2>");
            foreach (var (setup, why) in t.Skipped) h.Append("<p><i>").Append(E(setup)).Append(" not run: ").Append(E(why)).Append("</i></p>");
            if (t.Results.Count == 0) continue;
            h.Append("<div class=\"charts\">");
            foreach (var metric in t.Results[0].Metrics.Select(m => m.Metric))
                h.Append(BarChart(metric, t.Results.Select(x => (x.Setup, x.Metric(metric)?.Headline)).ToList()));
            h.Append("</div>");
            foreach (var res in t.Results)
            {
                foreach (var m in res.Metrics.Where(m => m.Confusion is not null))
                    h.Append(Confusion($"{m.Metric} — {res.Setup}", m.Confusion!));
            }
            if (!regression) h.Append(Disagreements(t));
        }
        h.Append("<p><small>Bars are means over the test examples; whiskers are percentile-bootstrap 95% intervals. ")
         .Append("The verdict's difference is a paired bootstrap over the same examples.</small></p></body></html>\n");
        return h.ToString();
    }

    private static string BarChart(string metric, IReadOnlyList<(string Setup, MetricValue? Value)> bars)
    {
        const int width = 460, barHeight = 22, left = 170, pad = 6;
        var present = bars.Where(b => b.Value is { } v && double.IsFinite(v.Value)).ToList();
        double max = present.Count == 0 ? 1 : present.Max(b => Math.Max(b.Value!.Value.Ci95High, b.Value.Value.Value));
        if (!(max > 0) || !double.IsFinite(max)) max = 1;
        if (max <= 1 && present.All(b => b.Value!.Value.Value >= 0)) max = 1;     // rates: a 0..1 axis
        int height = bars.Count * (barHeight + pad) + 30;
        double X(double v) => left + Math.Clamp(v / max, 0, 1) * (width - left - 60);
        var s = new StringBuilder();
        s.Append("<figure><figcaption><b>").Append(E(metric)).Append("</b></figcaption>")
         .Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{E(metric)}\">");
        for (int i = 0; i < bars.Count; i++)
        {
            int y = 5 + i * (barHeight + pad);
            s.Append($"<text x=\"{left - 6}\" y=\"{y + 15}\" text-anchor=\"end\" font-size=\"12\">{E(bars[i].Setup)}</text>");
            if (bars[i].Value is not { } v || !double.IsFinite(v.Value))
            {
                s.Append($"<text x=\"{left + 4}\" y=\"{y + 15}\" font-size=\"12\" fill=\"#888\">n/a</text>");
                continue;
            }
            s.Append($"<rect x=\"{left}\" y=\"{y}\" width=\"{N(X(v.Value) - left)}\" height=\"{barHeight}\" fill=\"{Colors[i % Colors.Length]}\"><title>{E(bars[i].Setup)}: {EvalJson.F(v.Value)} [{EvalJson.F(v.Ci95Low)}, {EvalJson.F(v.Ci95High)}]</title></rect>");
            double lo = X(v.Ci95Low), hi = X(v.Ci95High), mid = y + barHeight / 2.0;
            s.Append($"<path d=\"M{N(lo)} {N(mid)}H{N(hi)}M{N(lo)} {N(mid - 5)}V{N(mid + 5)}M{N(hi)} {N(mid - 5)}V{N(mid + 5)}\" stroke=\"#222\" stroke-width=\"1.5\" fill=\"none\"/>");
            s.Append($"<text x=\"{N(Math.Max(hi, X(v.Value)) + 4)}\" y=\"{y + 15}\" font-size=\"12\">{EvalJson.F(v.Value)}</text>");
        }
        s.Append("</svg></figure>");
        return s.ToString();
    }

    private static string Confusion(string title, ConfusionMatrix c)
    {
        var s = new StringBuilder();
        s.Append("<h3>Confusion matrix: ").Append(E(title)).Append("</h3><table><tr><th>reference ↓ / predicted →</th>");
        foreach (var col in c.Columns) s.Append("<th>").Append(E(col)).Append("</th>");
        s.Append("</tr>");
        for (int row = 0; row < c.Labels.Count; row++)
        {
            s.Append("<tr><th>").Append(E(c.Labels[row])).Append("</th>");
            for (int col = 0; col < c.Counts[row].Count; col++)
                s.Append(col == row ? "<td class=\"num ok\">" : c.Counts[row][col] > 0 ? "<td class=\"num bad\">" : "<td class=\"num\">")
                 .Append(c.Counts[row][col]).Append("</td>");
            s.Append("</tr>");
        }
        return s.Append("</table>").ToString();
    }

    /// <summary>Up to 30 examples whose primary-metric score differs between setups, the largest spread first.</summary>
    private static string Disagreements(TaskComparison t)
    {
        string metric = t.PrimaryMetric;
        var scored = t.Results.Where(x => x.Metric(metric) is not null).ToList();
        if (scored.Count < 2) return "";
        int n = scored[0].Examples.Count;
        var rows = Enumerable.Range(0, n)
            .Select(i => (Row: i, Spread: scored.Select(x => x.Metric(metric)!.PerExample[i]).Where(double.IsFinite).DefaultIfEmpty(0).Max()
                                          - scored.Select(x => x.Metric(metric)!.PerExample[i]).Where(double.IsFinite).DefaultIfEmpty(0).Min()))
            .Where(x => x.Spread > 0).OrderByDescending(x => x.Spread).ThenBy(x => x.Row).Take(30).ToList();
        var s = new StringBuilder();
        s.Append("<h3>Examples where setups disagree on ").Append(E(metric)).Append($" ({rows.Count} shown)</h3>");
        if (rows.Count == 0) return s.Append("<p>Every setup scored every example the same.</p>").ToString();
        s.Append("<table><tr><th>input</th><th>reference</th>");
        foreach (var x in scored) s.Append("<th>").Append(E(x.Setup)).Append("</th>");
        s.Append("</tr>");
        foreach (var (row, _) in rows)
        {
            var e = scored[0].Examples[row];
            s.Append("<tr><td><pre>").Append(E(Clip(e.Input))).Append("</pre></td><td><pre>").Append(E(Clip(e.Reference))).Append("</pre></td>");
            foreach (var x in scored)
            {
                double score = x.Metric(metric)!.PerExample[row];
                s.Append(score >= 1 ? "<td class=\"ok\">" : score <= 0 ? "<td class=\"bad\">" : "<td>")
                 .Append("<pre>").Append(E(Clip(x.Examples[row].Prediction))).Append("</pre><small>")
                 .Append(E(metric)).Append(" = ").Append(EvalJson.F(score)).Append("</small></td>");
            }
            s.Append("</tr>");
        }
        return s.Append("</table>").ToString();
    }

    private static string Clip(string s) => s.Length <= 400 ? s : s[..400] + "…";
    private static string E(string s) => WebUtility.HtmlEncode(s);
    private static string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
}
