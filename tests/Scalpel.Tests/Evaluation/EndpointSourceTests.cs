using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using System.Text.Json.Nodes;
using Scalpel.Evaluation;
using Xunit;

namespace Scalpel.Tests.Evaluation;

/// <summary>
/// The OpenAI-compatible endpoint baseline against a fake server on 127.0.0.1 that records what it was sent. Kestrel
/// binds port 0 itself, so no other test's server can take the port between choosing and binding it.
/// </summary>
public sealed class EndpointSourceTests : IAsyncLifetime
{
    private readonly List<JsonObject> _requests = [];
    private WebApplication? _app;
    private string _baseUrl = "";
    private int _status = 200;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            var body = JsonNode.Parse(await new StreamReader(context.Request.Body).ReadToEndAsync())!.AsObject();
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
            context.Response.StatusCode = _status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(_status == 200 ? answer.ToJsonString() : """{"error": {"message": "bad key"}}""");
        });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _baseUrl = address.TrimEnd('/') + "/v1";
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
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
