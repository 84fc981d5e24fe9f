using System.Diagnostics;
using System.Text.RegularExpressions;
using Scalpel.Tests.Models;
using Scalpel.Training.Reports;
using Xunit;

namespace Scalpel.Tests.Training.Reports;

/// <summary>
/// report.html opened in headless Chromium (Debian's <c>chromium</c>, installed by run-tests): the page loads with
/// no console message at all, the error hook never fired, and every chart drew its data. The page's script sets
/// <c>&lt;body data-ready="N series, M points"&gt;</c> once all charts have drawn; --dump-dom shows it.
/// Fails (does not skip) when Chromium is missing.
/// </summary>
public class RunReportChromiumTests
{
    private const string Chromium = "/usr/bin/chromium";

    private sealed record Page(string Dom, IReadOnlyList<string> ConsoleLines)
    {
        /// <summary>The data-ready attribute of the body element (the first &lt;body tag of the dump).</summary>
        public string? Ready => Regex.Match(Regex.Match(Dom, "<body[^>]*>").Value, "\\sdata-ready=\"([^\"]*)\"") is { Success: true } m ? m.Groups[1].Value : null;
        public bool ErrorHookFired => Regex.Match(Dom, "<html[^>]*>").Value.Contains(" data-errors=", StringComparison.Ordinal);
    }

    private static Page Open(string htmlFile)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: the report test needs Debian's chromium (apt-get install -y chromium)");
        using var profile = new TinyCheckpoint.TempDir();
        var start = new ProcessStartInfo(Chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.Path}",
                     "--enable-logging=stderr", "--v=0",
                     // Let timers and animation frames run (virtual time) before the DOM is dumped.
                     "--virtual-time-budget=10000",
                     "--dump-dom", new Uri(htmlFile).AbsoluteUri,
                 })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish within 90 s");
        }
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"chromium exited with {process.ExitCode}:\n{stderr.Result}");
        // Chromium logs every console message of the page (log, warn, error, uncaught exceptions) as INFO:CONSOLE.
        var console = stderr.Result.Split('\n').Where(l => l.Contains(":CONSOLE", StringComparison.Ordinal)).ToList();
        return new Page(stdout.Result, console);
    }

    [Fact]
    public void AFullRunDrawsEveryChartWithoutConsoleErrors()
    {
        using var dir = new TinyCheckpoint.TempDir();
        SyntheticRun.WriteFull(dir.Path);
        var page = Open(RunReport.Write(dir.Path));

        Assert.Empty(page.ConsoleLines);
        Assert.False(page.ErrorHookFired, "the page's error hook fired");
        // train loss + validation loss, validation accuracy, learning rate, gradient norm, throughput;
        // 200 points for each training series and 8 evaluations for each validation series.
        Assert.Equal($"6 series, {4 * 200 + 2 * 8} points", page.Ready);
        Assert.Equal(5, Regex.Matches(page.Dom, "<canvas").Count);   // loss (train and validation together), accuracy, lr, norm, throughput
        Assert.Contains("early stopping: validation loss did not improve for 2 evaluations", page.Dom);
        Assert.Contains("step 150, validation loss 0.5", page.Dom);
        // Hostile text is shown as text (the DOM serializer re-escapes it), never run: the title is intact.
        Assert.Contains("<title>Scalpel run ", page.Dom);
        Assert.DoesNotContain("pwned", Regex.Match(page.Dom, "<title>[^<]*</title>").Value);
        Assert.Contains("&lt;/script&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;", page.Dom);
        Assert.Contains("<th>train.tokens</th><td>123456</td>", page.Dom);
    }

    [Fact]
    public void AFewPointsAndNoValidationStillRender()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllLines(Path.Combine(dir.Path, "metrics.jsonl"),
        [
            "{\"type\":\"train\",\"step\":1,\"epoch\":0.5,\"loss\":2.3,\"lr\":0.0001,\"grad_norm\":3.1,\"tokens_per_s\":812.5,\"elapsed_s\":0.4}",
            "{\"type\":\"train\",\"step\":2,\"epoch\":1.0,\"loss\":2.1,\"lr\":0.0002,\"grad_norm\":2.2,\"tokens_per_s\":820.0,\"elapsed_s\":0.8}",
        ]);
        var page = Open(RunReport.Write(dir.Path));
        Assert.Empty(page.ConsoleLines);
        Assert.False(page.ErrorHookFired);
        Assert.Equal("4 series, 8 points", page.Ready);   // loss, lr, grad norm, throughput; no validation chart
        Assert.Matches("<section id=\"section-accuracy\" hidden", page.Dom);
    }

    [Fact]
    public void ASinglePointRenders()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "metrics.jsonl"), "{\"step\":1,\"loss\":2.3}\n{\"step\":1,\"val_loss\":2.4}\n");
        var page = Open(RunReport.Write(dir.Path));
        Assert.Empty(page.ConsoleLines);
        Assert.False(page.ErrorHookFired);
        Assert.Equal("2 series, 2 points", page.Ready);
        Assert.Contains("No data recorded for this chart.", page.Dom);
    }

    [Fact]
    public void AnEmptyRunRendersWithoutCharts()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var page = Open(RunReport.Write(dir.Path));
        Assert.Empty(page.ConsoleLines);
        Assert.False(page.ErrorHookFired);
        Assert.Equal("0 series, 0 points", page.Ready);
    }

    [Fact]
    public void AScriptErrorWouldBeSeen()
    {
        // The checks above would notice a broken page: break one on purpose.
        using var dir = new TinyCheckpoint.TempDir();
        SyntheticRun.WriteFull(dir.Path, steps: 5);
        string file = RunReport.Write(dir.Path);
        File.WriteAllText(file, File.ReadAllText(file).Replace("new uPlot(", "new NoSuchChart("));
        var page = Open(file);
        Assert.NotEmpty(page.ConsoleLines);
        Assert.True(page.ErrorHookFired);
        Assert.Null(page.Ready);
        Assert.Contains("The charts could not be drawn", page.Dom);
    }
}
