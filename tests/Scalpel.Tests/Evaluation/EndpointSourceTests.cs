using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Evaluation;
using Xunit;

namespace Scalpel.Tests.Evaluation;

/// <summary>The OpenAI-compatible endpoint baseline against a fake server on 127.0.0.1 that records what it was sent.</summary>
public sealed class EndpointSourceTests : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<JsonObject> _requests = [];
    private readonly string _baseUrl;
    private readonly Task _serving;
    private int _status = 200;

    public EndpointSourceTests()
    {
        int port = FreePort();
        _baseUrl = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(Serve);
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            var body = JsonNode.Parse(new StreamReader(context.Request.InputStream).ReadToEnd())!.AsObject();
            lock (_requests) _requests.Add(body);
            string user = (string)body["messages"]!.AsArray().Last()!["content"]!;
            var answer = new JsonObject
            {
                ["id"] = "x", ["object"] = "chat.completion",
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["finish_reason"] = "stop",
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = user.ToUpperInvariant() },
                }),
            };
            var bytes = Encoding.UTF8.GetBytes(_status == 200 ? answer.ToJsonString() : """{"error": {"message": "bad key"}}""");
            context.Response.StatusCode = _status;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }

    [Fact]
    public void SendsTheTaskSettingsAndReadsTheAnswers()
    {
        var source = new EndpointSource(new Uri(_baseUrl), "big-model", "sk-test");
        var prompts = new[] { "one", "two" }.Select(u => new EvalPrompt(new JsonArray(
            (JsonNode)new JsonObject { ["role"] = "system", ["content"] = "be brief" },
            (JsonNode)new JsonObject { ["role"] = "user", ["content"] = u }), null)).ToList();
        var settings = new TaskGeneration { MaxTokens = 7, Stop = ["\n"] };
        var answers = source.Answer(prompts, settings);
        Assert.Equal(["ONE", "TWO"], answers.Select(a => a.Text));
        Assert.Equal(2, _requests.Count);
        Assert.Equal("big-model", (string)_requests[0]["model"]!);
        Assert.Equal(7, (int)_requests[0]["max_tokens"]!);
        Assert.Equal(0, (double)_requests[0]["temperature"]!);
        Assert.Equal("be brief", (string)_requests[0]["messages"]![0]!["content"]!);
        Assert.Null(source.ReferenceLoss(prompts, []));
    }

    [Fact]
    public void HttpErrorsNameTheUrlAndStatus()
    {
        _status = 401;
        var source = new EndpointSource(new Uri(_baseUrl), "m", null);
        var error = Assert.Throws<EvalSuiteException>(() => source.Answer(
            [new EvalPrompt(new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = "x" }), null)], new TaskGeneration()));
        Assert.Contains("HTTP 401", error.Message);
        Assert.Contains("/v1/chat/completions", error.Message);
    }
}
