using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Server.Dashboard;

/// <summary>
/// Runs a scenario of <c>dashboard.mjs</c> (playwright-core driving Debian's headless chromium) against a server and
/// returns what the page showed. A missing node, playwright-core or chromium is a test failure, not a skip.
/// </summary>
public static class DashboardDriver
{
    public const string Chromium = "/usr/bin/chromium";

    private static string Script => Path.Combine(RepoPaths.Root, "tests", "Scalpel.Tests", "Server", "Dashboard", "dashboard.mjs");
    private static string Oracles => Path.Combine(RepoPaths.Root, "tests", "oracles", "js");

    /// <summary>What one scenario saw; <see cref="Steps"/> says how long each step took.</summary>
    public sealed record Run(JsonObject Result, TimeSpan Elapsed)
    {
        public string Steps
        {
            get
            {
                // Each entry is a step and the time it ended, from the script's start.
                var parts = new List<string>();
                double previous = 0;
                foreach (var s in Result["steps"]!.AsArray())
                {
                    double end = (double)s!["ms"]!;
                    parts.Add($"{(string?)s["step"]}: {end - previous:0} ms");
                    previous = end;
                }
                return string.Join("; ", parts);
            }
        }

        /// <summary>Console lines of the page, less those with any of <paramref name="expected"/>: what the scenario caused on
        /// purpose (the browser logs each answer with an error status, and each script a sandbox blocked).</summary>
        public IReadOnlyList<string> ConsoleProblems(params string[] expected) =>
            [.. Result["console"]!.AsArray().Select(l => (string)l!).Where(l => !expected.Any(e => l.Contains(e, StringComparison.Ordinal)))];
    }

    public static Run Drive(string scenario, JsonObject input, TimeSpan timeout)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: the dashboard tests need Debian's chromium (./run-tests installs it)");
        Assert.True(Directory.Exists(Path.Combine(Oracles, "node_modules", "playwright-core")),
            $"playwright-core is not installed in {Oracles}/node_modules: run ./run-tests (it runs npm install there)");
        input["oracles"] = Oracles;
        input["chromium"] = Chromium;
        if (Environment.GetEnvironmentVariable("SCALPEL_DASHBOARD_SCREENSHOTS") is { Length: > 0 } shots)
        {
            Directory.CreateDirectory(shots);
            input["screenshots"] = Path.GetFullPath(shots);
        }
        string inputFile = Path.Combine(Path.GetTempPath(), $"scalpel-dashboard-{Guid.NewGuid():N}.json");
        File.WriteAllText(inputFile, input.ToJsonString(), new UTF8Encoding(false));
        var watch = Stopwatch.StartNew();
        try
        {
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Oracles };
            psi.ArgumentList.Add(Script);
            psi.ArgumentList.Add(scenario);
            psi.ArgumentList.Add(inputFile);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"dashboard.mjs {scenario} ran over {timeout.TotalSeconds:0} s:\n{stdout.Result}\n{stderr.Result}");
            }
            process.WaitForExit();
            string last = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
            JsonObject? result = null;
            try { result = JsonNode.Parse(last) as JsonObject; }
            catch (System.Text.Json.JsonException) { }
            Assert.True(result is not null, $"dashboard.mjs {scenario} exited with {process.ExitCode} and no result:\n{stdout.Result}\n{stderr.Result}");
            Assert.True(process.ExitCode == 0, $"dashboard.mjs {scenario} failed at step '{(string?)result!["failedStep"]}': {(string?)result["error"]}\n" +
                                               $"page errors: {result["pageErrors"]}\nconsole: {result["console"]}\nthe page showed:\n{(string?)result["pageText"]}\n{stderr.Result}");
            return new Run(result!, watch.Elapsed);
        }
        finally
        {
            File.Delete(inputFile);
        }
    }
}
