using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Server;
using Scalpel.Tests.Server.Jobs;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Server.Dashboard;

/// <summary>
/// A server in this process on a free port over the tiny model (jobs checkpoint every 20 steps), with a compare report
/// under DATA/reports/demo/, a bad training file uploaded, and things outside the data folder that symbolic links
/// inside it point at.
/// </summary>
public sealed class DashboardServerFixture : IAsyncLifetime
{
    public const string ReportDirectory = "reports/demo";
    public const string ReportMarker = "the adapter beats every prompting baseline";

    public JobsTestKit Kit { get; } = new();
    public ScalpelServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public string Data => Path.Combine(Kit.Root, "data");
    public string BadFileId { get; private set; } = "";

    /// <summary>A job that succeeded on this server, once a test has one (ft model id, job id).</summary>
    public (string Model, string JobId)? FineTuned { get; set; }

    public async Task InitializeAsync()
    {
        Server = ScalpelServer.Create(new ServerOptions
        {
            ModelDirectory = Kit.ModelDirectory, Port = 0, DataDirectory = Data, JobCheckpointInterval = 20,
        }, ServerFeatures.All());
        await Server.StartAsync();
        Http = new HttpClient { BaseAddress = Server.Address };

        string report = Path.Combine(Data, ReportDirectory);
        Directory.CreateDirectory(report);
        // A compare.html as scalpel compare writes them (inline style, no script); this one also carries a script, which
        // the dashboard must not run.
        File.WriteAllText(Path.Combine(report, "compare.html"),
            $"<!doctype html><html><head><title>compare</title><style>h1 {{ color: #123456 }}</style></head><body><h1>Verdict</h1><p>{ReportMarker}</p>" +
            "<script>document.body.append('SCRIPT RAN')</script></body></html>");
        File.WriteAllText(Path.Combine(report, "compare.md"), $"# Verdict\n\n{ReportMarker}\n");
        File.WriteAllText(Path.Combine(report, "compare.json"), new JsonObject { ["verdict"] = new JsonObject { ["winner"] = "adapter", ["summary"] = ReportMarker } }.ToJsonString());

        // Outside the data folder, reachable only through links inside it.
        string outside = Path.Combine(Kit.Root, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "compare.html"), "<p>SECRET outside the data folder</p>");
        Directory.CreateSymbolicLink(Path.Combine(Data, "reports", "escape"), outside);
        Directory.CreateDirectory(Path.Combine(Data, "reports", "linked"));
        File.CreateSymbolicLink(Path.Combine(Data, "reports", "linked", "compare.html"), Path.Combine(outside, "compare.html"));

        // A training file whose third line has an assistant content that is a number.
        var lines = File.ReadAllLines(Kit.KeywordData("ok.jsonl", 12, seed: 4)).ToList();
        lines[2] = """{"messages": [{"role": "user", "content": "Which class: apple"}, {"role": "assistant", "content": 5}]}""";
        BadFileId = await Upload(Http, "broken.jsonl", Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
    }

    public static async Task<string> Upload(HttpClient http, string name, byte[] bytes)
    {
        using var form = new MultipartFormDataContent { { new StringContent("fine-tune"), "purpose" }, { new ByteArrayContent(bytes), "file", name } };
        using var response = await http.PostAsync("/v1/files", form);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return (string)JsonNode.Parse(body)!["id"]!;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Kit.Dispose();
    }
}

/// <summary>
/// The dashboard at / in headless Chromium (playwright-core, Debian's chromium): a job created from the page (upload,
/// hyperparameters, suffix) is watched to the end with its loss curve filling in, a second one cancelled from the page,
/// the data check reports of a good and a bad file read, a compare report shown; the playground streams the fine-tuned
/// model's answer; report paths cannot leave the data folder; with API keys the API needs one and the page asks for it.
/// </summary>
[Collection("jobs-server")]
public sealed class DashboardTests(DashboardServerFixture fx, ITestOutputHelper output) : IClassFixture<DashboardServerFixture>
{
    private static readonly TimeSpan ScenarioTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task AJobMadeOnThePageIsWatchedToTheEndWithItsLossCurveAndItsFilesChecks()
    {
        // 1200 steps (12 epochs of 100 batches): long enough to watch it run (a quiet 2-core machine trains 200 steps
        // between two polls of the page) and to cancel a second job queued behind it.
        string train = fx.Kit.KeywordData("train.jsonl", 200, seed: 1);
        string valid = fx.Kit.KeywordData("valid.jsonl", 16, seed: 2);
        var run = DashboardDriver.Drive("jobs", new JsonObject
        {
            ["url"] = fx.Server.Address!.ToString(), ["train"] = train, ["valid"] = valid, ["epochs"] = 12, ["batchSize"] = 2,
            ["lrMultiplier"] = 2, ["suffix"] = "dash", ["report"] = DashboardServerFixture.ReportDirectory, ["badFileId"] = fx.BadFileId,
            ["jobTimeoutMs"] = 60_000,
        }, ScenarioTimeout);
        var r = run.Result;
        output.WriteLine($"jobs scenario: {run.Elapsed.TotalSeconds:0.0} s ({run.Steps})");
        output.WriteLine($"timeline: {r["timeline"]!.ToJsonString()}");

        Assert.Empty(r["pageErrors"]!.AsArray());
        // The one console line: the report's script, blocked by the frame's sandbox.
        Assert.Empty(run.ConsoleProblems("Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed"));
        Assert.Null((string?)r["dataErrors"]);
        Assert.Empty(r["foreignRequests"]!.AsArray());
        Assert.Equal(JobsTestKit.BaseModel, (string?)r["baseModelField"]);

        // The job the form made: its files, hyperparameters and suffix as chosen on the page.
        string jobId = (string)r["jobId"]!;
        var job = JsonNode.Parse((await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{jobId}")))!;
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal("dash", (string?)job["user_provided_suffix"]);
        Assert.Equal(12, (int)job["hyperparameters"]!["n_epochs"]!);
        Assert.Equal(2, (int)job["hyperparameters"]!["batch_size"]!);
        Assert.NotNull((string?)job["validation_file"]);
        string model = (string)job["fine_tuned_model"]!;
        Assert.Equal($"ft:{JobsTestKit.BaseModel}:dash:{jobId}", model);
        fx.FineTuned = (model, jobId);
        Assert.Equal(model, (string?)r["fields"]!["Fine-tuned model"]);
        Assert.True((bool)r["chatButtonVisible"]!);

        // The cancelled one, from the page's button.
        var cancelled = JsonNode.Parse((await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{(string)r["cancelledJobId"]!}")))!;
        Assert.Equal("cancelled", (string?)cancelled["status"]);
        Assert.True((bool)r["cancelButtonHiddenAfter"]!);

        // The loss chart: every train_loss the job logged, its validation losses, drawn by uPlot; and it filled in
        // while the page watched (the status went through running, and points showed up before the end).
        var metrics = JsonNode.Parse((await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{jobId}/events?limit=1000")))!["data"]!.AsArray()
            .Where(e => (string?)e!["type"] == "metrics").Select(e => e!["data"]!).ToList();
        int trainSteps = metrics.Where(m => m["train_loss"] is not null).Select(m => (int)m["step"]!).Distinct().Count();
        int validSteps = metrics.Where(m => m["valid_loss"] is not null).Select(m => (int)m["step"]!).Distinct().Count();
        var chart = r["chart"]!;
        Assert.True(trainSteps > 1, $"the job logged {trainSteps} training losses");
        Assert.Equal(trainSteps, (int)chart["trainPoints"]!);
        Assert.True(validSteps >= 1 && (int)chart["validPoints"]! >= validSteps, $"{validSteps} validation losses logged, {chart["validPoints"]} drawn");
        Assert.True((int)chart["canvases"]! >= 1);
        Assert.Contains("train loss", (string?)chart["legend"]);
        Assert.Contains("valid loss", (string?)chart["legend"]);
        var timeline = r["timeline"]!.AsArray();
        // Drawn while running with some of the points, then redrawn with all of them.
        Assert.Contains(timeline, t => (string?)t!["status"] == "running" && (int)t["points"]! > 0 && (int)t["points"]! < (int)chart["points"]!);

        // Checkpoints and events, as the API has them.
        var checkpoints = JsonNode.Parse((await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{jobId}/checkpoints")))!["data"]!.AsArray();
        Assert.NotEmpty(checkpoints);
        Assert.Equal(checkpoints.Select(c => (int)c!["step_number"]!), r["checkpointSteps"]!.AsArray().Select(s => (int)s!));
        Assert.Contains(r["events"]!.AsArray(), e => ((string)e!).Contains("The job has successfully completed", StringComparison.Ordinal));
        Assert.Contains(r["events"]!.AsArray(), e => ((string)e!).Contains($"New fine-tuned model created: {model}", StringComparison.Ordinal));

        // The compare report: its text shown in a sandboxed frame whose script did not run; the Markdown as text; the
        // linked folders (out of the data folder) not listed.
        Assert.Contains(DashboardServerFixture.ReportMarker, (string?)r["reportHtmlText"]);
        Assert.DoesNotContain("SCRIPT RAN", (string?)r["reportHtmlText"]);
        Assert.Equal("", (string?)r["reportFrameSandbox"]);
        Assert.Contains("# Verdict", (string?)r["reportMdText"]);
        Assert.Equal(new[] { DashboardServerFixture.ReportDirectory }, r["reportDirectories"]!.AsArray().Select(d => (string?)d));

        // The bad file's check report: the error with its line, field and code; the good one clean, with its stats.
        var bad = r["badFile"]!;
        Assert.Contains("broken.jsonl", (string?)bad["title"]);
        var error = bad["errors"]!.AsArray().Single()!.AsArray().Select(c => (string?)c).ToList();
        Assert.Equal("line 3", error[0]);
        Assert.Equal("messages[1].content", error[1]);
        Assert.False(string.IsNullOrEmpty(error[2]));
        Assert.Contains("line 3", (string?)bad["firstError"]);
        Assert.Contains("1 error(s)", (string?)bad["summary"]);
        var good = r["trainFile"]!;
        Assert.Contains("200 examples", (string?)good["summary"]);
        Assert.Contains("0 error(s)", (string?)good["summary"]);
        Assert.Null((string?)good["firstError"]);
        Assert.Equal("200", (string?)good["stats"]!["valid examples"]);
        Assert.Contains("median", (string?)good["stats"]!["example chars"]);
    }

    [SkippableFact]
    public async Task ThePlaygroundStreamsTheFineTunedModelsAnswer()
    {
        // Skipped only while the route itself is missing (the server's 404 for unknown URLs), never for a failing answer.
        string probeBody = new JsonObject
        {
            ["model"] = JobsTestKit.BaseModel, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }), ["max_tokens"] = 1,
        }.ToJsonString();
        using (var probe = await fx.Http.PostAsync("/v1/chat/completions", new StringContent(probeBody, Encoding.UTF8, "application/json")))
            if (probe.StatusCode == HttpStatusCode.NotFound && (await probe.Content.ReadAsStringAsync()).Contains("\"unknown_url\"", StringComparison.Ordinal))
                throw new SkipTestException("POST /v1/chat/completions answers 404 (unknown_url): the inference API is not part of this server yet");

        var (model, jobId) = fx.FineTuned ?? await TrainThroughTheApi();
        var run = DashboardDriver.Drive("chat", new JsonObject
        {
            ["url"] = fx.Server.Address!.ToString(), ["jobId"] = jobId, ["model"] = model,
            ["system"] = "Answer with the class.", ["message"] = "Which class: apple", ["temperature"] = 0, ["maxTokens"] = 16,
        }, ScenarioTimeout);
        var r = run.Result;
        output.WriteLine($"chat scenario: {run.Elapsed.TotalSeconds:0.0} s ({run.Steps})");
        output.WriteLine($"answer: {r["answer"]!.ToJsonString()}");

        Assert.Empty(r["pageErrors"]!.AsArray());
        Assert.Empty(run.ConsoleProblems());
        Assert.Empty(r["foreignRequests"]!.AsArray());
        Assert.Contains(model, r["models"]!.AsArray().Select(m => (string?)m));
        Assert.Contains(JobsTestKit.BaseModel, r["models"]!.AsArray().Select(m => (string?)m));
        Assert.Equal("Which class: apple", (string?)r["userBubble"]);
        var answer = r["answer"]!;
        Assert.False((bool)answer["error"]!, (string?)answer["text"]);
        // Streamed: the text came in SSE chunks and ended with a finish reason; whatever the page showed on the way was a
        // beginning of it. (A tiny model answers in a few tokens that may arrive in one read: that the page shows text
        // as it arrives is proven against a paced stream in PlaygroundStreamTests.)
        Assert.True((int)answer["deltas"]! >= 1, $"{answer["deltas"]} chunks");
        Assert.False(string.IsNullOrEmpty((string?)answer["text"]));
        Assert.All(answer["seenWhileStreaming"]!.AsArray(), t => Assert.StartsWith((string)t!, (string?)answer["text"]));
        Assert.NotNull((string?)answer["finish"]);
        Assert.Equal(0, (int)r["messagesAfterReset"]!);
    }

    /// <summary>A small job made through the API, for when the page test has not made one on this server.</summary>
    private async Task<(string Model, string JobId)> TrainThroughTheApi()
    {
        string file = await DashboardServerFixture.Upload(fx.Http, "chat.jsonl", File.ReadAllBytes(fx.Kit.KeywordData("chat.jsonl", 24, seed: 3)));
        using var created = await fx.Http.PostAsync("/v1/fine_tuning/jobs", new StringContent(
            new JsonObject { ["model"] = JobsTestKit.BaseModel, ["training_file"] = file, ["suffix"] = "chat", ["hyperparameters"] = new JsonObject { ["n_epochs"] = 1 } }.ToJsonString(),
            Encoding.UTF8, "application/json"));
        string jobId = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["id"]!;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var job = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{jobId}"))!;
            if ((string?)job["status"] == "succeeded") return fx.FineTuned ??= ((string)job["fine_tuned_model"]!, jobId);
            Assert.True((string?)job["status"] is not ("failed" or "cancelled") && DateTime.UtcNow < deadline, job.ToJsonString());
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task ReportPathsCannotLeaveTheDataFolder()
    {
        var list = JsonNode.Parse(await fx.Http.GetStringAsync("/v1/reports"))!["data"]!.AsArray();
        Assert.Equal(new[] { "reports/demo/compare.html", "reports/demo/compare.json", "reports/demo/compare.md" },
            list.Select(r => (string)r!["id"]!).Order(StringComparer.Ordinal));

        using (var ok = await fx.Http.GetAsync("/v1/reports/content?path=reports/demo/compare.html"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Contains(DashboardServerFixture.ReportMarker, await ok.Content.ReadAsStringAsync());
            Assert.StartsWith("text/html", ok.Content.Headers.ContentType!.ToString());
            // Opened directly, a report is sandboxed: no scripts, no access to the dashboard's origin.
            Assert.StartsWith("sandbox;", ok.Headers.GetValues("Content-Security-Policy").Single());
        }

        string outsideFile = Path.Combine(fx.Kit.Root, "outside", "compare.html");
        foreach (string path in new[]
                 {
                     "../outside/compare.html", "..%2Foutside%2Fcompare.html", "%2E%2E/outside/compare.html", "reports/demo/../../../outside/compare.html",
                     "reports/./demo/compare.html", "reports//demo/compare.html", Uri.EscapeDataString(outsideFile), "reports%5Cdemo%5Ccompare.html",
                     "C:/x/compare.html", "", "reports/demo/compare.html%00",
                 })
        {
            using var refused = await fx.Http.GetAsync("/v1/reports/content?path=" + path);
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{path}: {refused.StatusCode}");
            Assert.Equal("invalid_report_path", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!["code"]);
        }
        // Inside the folder, but through a link to a folder or file outside it, or not a report: not found.
        foreach (string path in new[] { "reports/escape/compare.html", "reports/linked/compare.html", "scalpel.db", $"files/{fx.BadFileId}.jsonl", "reports/demo/nothing.html" })
        {
            using var missing = await fx.Http.GetAsync("/v1/reports/content?path=" + Uri.EscapeDataString(path));
            Assert.True(missing.StatusCode == HttpStatusCode.NotFound, $"{path}: {missing.StatusCode}");
            Assert.DoesNotContain("SECRET", await missing.Content.ReadAsStringAsync());
        }
        Assert.True(File.Exists(outsideFile));   // it was there to be had
    }

    [Fact]
    public async Task WithApiKeysTheApiNeedsTheKeyWhileThePageLoadsAndAsksForIt()
    {
        const string key = "sk-dashboard-test-key";
        var watch = Stopwatch.StartNew();
        await using var server = ScalpelServer.Create(new ServerOptions
        {
            ModelDirectory = fx.Kit.ModelDirectory, Port = 0, DataDirectory = Path.Combine(fx.Kit.Root, "keyed-data"), ApiKeys = [key],
        }, ServerFeatures.All());
        await server.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = server.Address };
        using var keyed = new HttpClient { BaseAddress = server.Address };
        keyed.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

        // The page and its assets carry no data: served without a key, with a policy that allows this origin only.
        foreach (string path in new[] { "/", "/dashboard/dashboard.js", "/dashboard/dashboard.css", "/dashboard/uplot.js", "/dashboard/uplot.css" })
        {
            using var page = await anonymous.GetAsync(path);
            Assert.True(page.StatusCode == HttpStatusCode.OK, $"{path}: {page.StatusCode}");
            Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        }
        Assert.Contains("<title>Scalpel</title>", await anonymous.GetStringAsync("/"));
        using (var nothing = await anonymous.GetAsync("/dashboard/../scalpel.db")) Assert.Equal(HttpStatusCode.NotFound, nothing.StatusCode);

        // The API, the dashboard's own endpoints included, refuses requests without the key (or with another one).
        string file = await DashboardServerFixture.Upload(keyed, "keyed.jsonl", File.ReadAllBytes(fx.Kit.KeywordData("keyed.jsonl", 8, seed: 7)));
        foreach (string path in new[] { "/v1/dashboard", "/v1/reports", "/v1/reports/content?path=reports/demo/compare.html", "/v1/files", $"/v1/files/{file}/check", "/v1/fine_tuning/jobs" })
        {
            using var refused = await anonymous.GetAsync(path);
            Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, $"{path} without a key: {refused.StatusCode}");
            using var wrong = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "sk-wrong") } };
            using var wrongAnswer = await anonymous.SendAsync(wrong);
            Assert.True(wrongAnswer.StatusCode == HttpStatusCode.Unauthorized, $"{path} with a wrong key: {wrongAnswer.StatusCode}");
        }
        Assert.Equal(JobsTestKit.BaseModel, (string?)JsonNode.Parse(await keyed.GetStringAsync("/v1/dashboard"))!["base_model"]);

        var run = DashboardDriver.Drive("keys", new JsonObject { ["url"] = server.Address!.ToString(), ["key"] = key, ["fileId"] = file }, ScenarioTimeout);
        var r = run.Result;
        output.WriteLine($"keys scenario: {run.Elapsed.TotalSeconds:0.0} s ({run.Steps}); whole test {watch.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(200, (int)r["pageStatus"]!);
        Assert.True((bool)r["appHiddenWithoutKey"]!);
        Assert.Contains("needs an API key", (string?)r["reasonWithoutKey"]);
        Assert.Contains("refused", (string?)r["reasonWithWrongKey"]);
        Assert.True((bool)r["panelHiddenWithKey"]!);
        Assert.Equal(JobsTestKit.BaseModel, (string?)r["baseModelField"]);
        Assert.Contains(file, r["filesListed"]!.AsArray().Select(f => (string?)f));
        Assert.Equal(key, (string?)r["storedKey"]);
        Assert.True((bool)r["panelHiddenAfterReload"]!);
        Assert.Empty(r["pageErrors"]!.AsArray());
        Assert.Empty(run.ConsoleProblems("the server responded with a status of 401"));
        Assert.Null((string?)r["dataErrors"]);
    }
}
