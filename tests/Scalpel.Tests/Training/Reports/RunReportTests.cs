using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Scalpel.Tests.Models;
using Scalpel.Training.Reports;
using Xunit;

namespace Scalpel.Tests.Training.Reports;

public class RunReportTests
{
    [Fact]
    public void HtmlEscapesEverythingThatCouldOpenOrCloseMarkup()
    {
        Assert.Equal("&lt;/script&gt;&lt;b x=&quot;1&quot; y=&#39;2&#39;&gt;&amp;amp;", RunReport.Html("</script><b x=\"1\" y='2'>&amp;"));
        Assert.Equal("plain text: ü 😀", RunReport.Html("plain text: ü 😀"));
    }

    [Fact]
    public void TextFromTheRunCannotBreakOutOfThePage()
    {
        using var dir = new TinyCheckpoint.TempDir();
        SyntheticRun.WriteFull(dir.Path);
        string html = File.ReadAllText(RunReport.Write(dir.Path));
        // Exactly the scripts the report itself writes: the error hook, the chart data, uPlot, the chart code.
        Assert.Equal(4, Regex.Matches(html, "<script", RegexOptions.IgnoreCase).Count);
        Assert.Equal(4, Regex.Matches(html, "</script", RegexOptions.IgnoreCase).Count);
        Assert.DoesNotContain("<!--", html);
        // Shown as text: the config as it is, and the data table's cell.
        Assert.Contains("<pre class=\"config\">" + RunReport.Html(File.ReadAllText(Path.Combine(dir.Path, "config.yaml"))) + "</pre>", html);
        Assert.Contains("<th>note</th><td>" + RunReport.Html(SyntheticRun.Hostile) + "</td>", html);
    }

    [Fact]
    public void ThePageIsSelfContained()
    {
        using var dir = new TinyCheckpoint.TempDir();
        SyntheticRun.WriteFull(dir.Path);
        string html = File.ReadAllText(RunReport.Write(dir.Path));
        Assert.DoesNotMatch(@"\s(src|href)\s*=", html);     // nothing loaded from anywhere
        Assert.DoesNotContain("@import", html);
        Assert.Contains("var uPlot=function()", html);      // the library is inlined
        Assert.Contains("Copyright (c) 2022 Leon Sorokin", html);   // with its license
    }

    [Fact]
    public void ChartDataIsJsonWithAngleBracketsEscaped()
    {
        var metrics = RunMetrics.Parse(["{\"type\":\"train\",\"step\":1,\"loss\":2.5,\"lr\":0.001}", "{\"type\":\"val\",\"step\":1,\"val_loss\":2.7}"]);
        string json = RunReport.ChartData(metrics, metrics.Best());
        Assert.DoesNotContain("<", json);
        var root = JsonNode.Parse(json)!;
        Assert.Equal(2.5, (double)root["train"]!["loss"]![0]!);
        Assert.Null(root["train"]!["grad_norm"]![0]);
        Assert.Equal(1, (int)root["best"]!["step"]!);
        Assert.Equal("best so far: step 1", (string)root["best"]!["label"]!);
    }

    [Fact]
    public void MetricsLinesAreReadByTypeAndBadLinesAreCounted()
    {
        var m = RunMetrics.Parse(
        [
            "{\"type\":\"train\",\"step\":1,\"epoch\":0.1,\"loss\":2.0,\"lr\":1e-4,\"grad_norm\":1.5,\"tokens_per_s\":900,\"elapsed_s\":1.2}",
            "{\"step\":2,\"loss\":1.5}",                                  // no type, has loss: train
            "{\"step\":2,\"val_loss\":1.7,\"val_accuracy\":0.4}",         // no type, has val_loss: validation
            "",
            "{\"type\":\"train\",\"step\":3,\"loss\":\"NaN\"}",           // not a number: a gap
            "{\"type\":\"train\",\"st",                                   // cut short by a kill
            "[1, 2]",
            "{\"type\":\"train\"}",                                        // no step
            "{\"type\":\"summary\",\"best_step\":2,\"stopped_reason\":\"max_steps reached\",\"best_val_loss\":1.7}",
        ]);
        Assert.Equal([1, 2, 3], m.Train.Select(p => p.Step));
        Assert.Equal(new TrainPoint(1, 0.1, 2.0, 1e-4, 1.5, 900, 1.2), m.Train[0]);
        Assert.Null(m.Train[2].Loss);
        Assert.Equal(new ValidationPoint(2, 1.7, 0.4), m.Validation.Single());
        Assert.Equal(new RunSummary(2, "max_steps reached", 1.7), m.Summary);
        Assert.Equal([6, 7, 8], m.SkippedLines);
        Assert.Equal((2, 1.7), m.Best());
    }

    [Fact]
    public void WithoutASummaryTheBestIsTheLowestValidationLossSoFar()
    {
        var m = RunMetrics.Parse(["{\"step\":10,\"val_loss\":2}", "{\"step\":20,\"val_loss\":1.5}", "{\"step\":30,\"val_loss\":1.8}"]);
        Assert.Equal((20, 1.5), m.Best());
        Assert.Null(RunMetrics.Parse(["{\"step\":1,\"loss\":2}"]).Best());
    }

    [Fact]
    public void DataJsonBecomesATable()
    {
        var rows = new List<(string, string)>();
        RunReport.Flatten(JsonNode.Parse("""{"train": {"examples": 10, "sha": "ab"}, "formats": ["chat", "text"], "files": [{"p": "a"}, {"p": "b"}], "x": null, "ok": true}"""), "", rows);
        Assert.Equal(
        [
            ("train.examples", "10"), ("train.sha", "ab"), ("formats", "chat, text"), ("files[0].p", "a"), ("files[1].p", "b"),
            ("x", "null"), ("ok", "true"),
        ], rows);
    }

    [Fact]
    public void WriteReplacesTheReportAtomicallyAndLeavesNoTempFile()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "report.html"), "old");
        SyntheticRun.WriteFull(dir.Path, steps: 10);
        string path = RunReport.Write(dir.Path);
        Assert.Equal(Path.Combine(dir.Path, "report.html"), path);
        Assert.StartsWith("<!doctype html>", File.ReadAllText(path));
        Assert.Equal(["config.yaml", "data.json", "metrics.jsonl", "report.html"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void AnEmptyRunFolderStillGetsAPage()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string html = File.ReadAllText(RunReport.Write(dir.Path));
        Assert.Contains("none recorded yet", html);
        Assert.Contains("No config.yaml in the run folder.", html);
        Assert.Contains("No data.json in the run folder.", html);
    }

    [Fact]
    public void AMissingRunFolderIsAnError()
    {
        Assert.Throws<DirectoryNotFoundException>(() => RunReport.Write(Path.Combine(Path.GetTempPath(), "scalpel-no-such-run-" + Guid.NewGuid())));
    }

    [Fact]
    public void BadDataJsonIsANoteNotAFailure()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "data.json"), "{not json");
        Assert.Contains("data.json is not valid JSON", File.ReadAllText(RunReport.Write(dir.Path)));
    }
}
