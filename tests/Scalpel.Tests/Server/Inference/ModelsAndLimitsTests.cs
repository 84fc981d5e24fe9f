using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Server;
using Scalpel.Server.Inference;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Server.Inference;

/// <summary>/v1/models, fine-tuned model registration, adapter eviction, API keys, the queue bound and start-up failures.</summary>
public sealed class ModelsAndLimitsTests(InferenceServerFixture fx) : IClassFixture<InferenceServerFixture>
{
    [Fact]
    public async Task ModelsListsTheBaseTheAdaptersAndRegisteredFineTunedModels()
    {
        var models = fx.Client().GetOpenAIModelClient();
        var ids = (await models.GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Equal(["tiny-base", "adapter-a", "adapter-b"], ids.Take(3));

        // What a succeeded fine-tuning job does: register its adapter under ft:BASE:SUFFIX:JOBID.
        const string tuned = "ft:tiny-base:demo:ftjob-abc123";
        var registry = fx.Server.Services.GetRequiredService<IModelRegistry>();
        registry.Register(tuned, fx.AdapterB);
        registry.Register(tuned, fx.AdapterB);                       // again: nothing changes
        Assert.Throws<ArgumentException>(() => registry.Register(tuned, fx.AdapterA));
        Assert.Contains(tuned, (await models.GetModelsAsync()).Value.Select(m => m.Id));
        var one = (await models.GetModelAsync(tuned)).Value;
        Assert.Equal(tuned, one.Id);
        Assert.Equal("user", one.OwnedBy);

        // It answers like the adapter it was registered with.
        var options = new ChatCompletionOptions { Temperature = 0f, MaxOutputTokenCount = 12 };
        ChatCompletion viaTuned = await fx.Client().GetChatClient(tuned).CompleteChatAsync([new UserChatMessage("hello there")], options);
        Assert.Equal(fx.Generate("hello there", 12, adapterDirectory: fx.AdapterB).Text, viaTuned.Content[0].Text);

        var missing = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("ft:tiny-base:nope:ftjob-0"));
        Assert.Equal(404, missing.Status);
    }

    [Fact]
    public async Task AdaptersLoadOnFirstUseAndTheLeastRecentlyUsedIdleOneIsUnloaded()
    {
        using var model = DecoderModel.Load(fx.ModelDirectory, new CpuBackend());
        using var registry = new ModelRegistry(model, new ServedModel("base", null, DateTimeOffset.UnixEpoch, "scalpel"), maxLoaded: 1);
        registry.Register("a", fx.AdapterA);
        registry.Register("b", fx.AdapterB);
        Assert.Empty(registry.Loaded());
        Assert.Null(await registry.Acquire("c", default));

        using (var a = (await registry.Acquire("a", default))!) Assert.NotNull(a.Adapter);
        Assert.Equal(["a"], registry.Loaded());
        var b = (await registry.Acquire("b", default))!;
        Assert.Equal(["b"], registry.Loaded());                      // a was idle: unloaded for b

        // b is in use: loading a again goes over the limit rather than pull b from under its request.
        var a2 = (await registry.Acquire("a", default))!;
        Assert.Equal(["a", "b"], registry.Loaded());
        b.Dispose();                                                  // b is idle now and least recently used
        Assert.Equal(["a"], registry.Loaded());
        a2.Dispose();
        Assert.Equal(["a"], registry.Loaded());                      // within the limit: stays loaded
        using var baseLease = (await registry.Acquire("base", default))!;
        Assert.Null(baseLease.Adapter);
    }

    [Fact]
    public async Task WithKeysARequestWithoutTheKeyIs401()
    {
        await using var server = await InferenceServerFixture.Start(new ServerOptions
        {
            ModelDirectory = fx.ModelDirectory, Port = 0, ApiKeys = ["sk-test-key-123"],
            DataDirectory = Path.Combine(Path.GetTempPath(), "scalpel-test-" + Guid.NewGuid().ToString("N")),
        });
        var wrong = await Assert.ThrowsAsync<ClientResultException>(() =>
            InferenceServerFixture.Client(server.Address!, "sk-wrong-key").GetChatClient("tiny-base").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, wrong.Status);
        using var http = new HttpClient { BaseAddress = server.Address };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/models")).StatusCode);
        var ok = await InferenceServerFixture.Client(server.Address!, "sk-test-key-123").GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal("tiny-base", ok.Value[0].Id);
    }

    [Fact]
    public async Task WithoutKeysOnlyLoopbackHostNamesAreServedAndMcpRefusesForeignOrigins()
    {
        await using var server = await InferenceServerFixture.Start(new ServerOptions
        {
            ModelDirectory = fx.ModelDirectory, Port = 0,
            DataDirectory = Path.Combine(Path.GetTempPath(), "scalpel-test-" + Guid.NewGuid().ToString("N")),
        });
        using var http = new HttpClient { BaseAddress = server.Address };
        async Task<HttpResponseMessage> Get(string path, string host, string? origin = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            if (origin is not null) request.Headers.Add("Origin", origin);
            return await http.SendAsync(request);
        }
        int port = server.Address!.Port;
        // A DNS-rebinding page reaches 127.0.0.1 under its own name: refused.
        var rebound = await Get("/v1/models", $"attacker.example:{port}");
        Assert.Equal(HttpStatusCode.Forbidden, rebound.StatusCode);
        Assert.Contains("host_not_allowed", await rebound.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Get("/v1/models", $"localhost:{port}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get("/v1/models", $"127.0.0.1:{port}")).StatusCode);
        // /mcp: a page of another origin may not open the tools, a loopback one gets past the guard.
        var foreign = await Get("/mcp", $"127.0.0.1:{port}", origin: "https://attacker.example");
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Contains("origin_not_allowed", await foreign.Content.ReadAsStringAsync());
        Assert.NotEqual(HttpStatusCode.Forbidden, (await Get("/mcp", $"127.0.0.1:{port}", origin: $"http://127.0.0.1:{port}")).StatusCode);
    }

    [Fact]
    public async Task AFullQueueIs429WithRetryAfter()
    {
        // One decoding slot and one waiting place: of many long requests at once, most are refused at once.
        await using var server = await InferenceServerFixture.Start(new ServerOptions
        {
            ModelDirectory = fx.ModelDirectory, Port = 0, MaxBatch = 1, MaxQueue = 1,
            DataDirectory = Path.Combine(Path.GetTempPath(), "scalpel-test-" + Guid.NewGuid().ToString("N")),
        });
        using var http = new HttpClient { BaseAddress = server.Address };
        // Answers that must be lists of many booleans: long enough to keep the slot busy while the others arrive.
        string Body(int minItems) => new JsonObject
        {
            ["model"] = "tiny-base", ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = "talk" }),
            ["max_tokens"] = 3500, ["temperature"] = 1, ["seed"] = 1,
            ["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject
                {
                    ["name"] = "s", ["schema"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "boolean" }, ["minItems"] = minItems },
                },
            },
        }.ToJsonString();
        string body = Body(60);
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"))));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        // The first is decoded; the second waits unless it came before the decoder took the first from the queue.
        Assert.InRange(responses.Count(r => r.StatusCode == HttpStatusCode.OK), 1, 7);
        foreach (var r in refused)
        {
            Assert.Equal(TimeSpan.FromSeconds(1), r.Headers.RetryAfter?.Delta);
            var error = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal("rate_limit_exceeded", (string?)error["code"]);
        }

        // The official client, told not to retry, sees the 429 too (by default it waits Retry-After and retries).
        var noRetry = new OpenAIClientOptions { RetryPolicy = new ClientRetryPolicy(maxRetries: 0) };
        var chat = InferenceServerFixture.Client(server.Address!, options: noRetry).GetChatClient("tiny-base");
        // One request in the slot, then one in the queue, then the client's.
        string longer = Body(1000);
        var scheduler = server.Services.GetRequiredService<InferenceService>().Scheduler;
        using var leave = new CancellationTokenSource();
        var busy = new List<Task<HttpResponseMessage>> { http.PostAsync("/v1/chat/completions", new StringContent(longer, Encoding.UTF8, "application/json"), leave.Token) };
        Assert.True(SpinWait.SpinUntil(() => scheduler.Active == 1, 30_000), "the slot did not fill");
        busy.Add(http.PostAsync("/v1/chat/completions", new StringContent(longer, Encoding.UTF8, "application/json"), leave.Token));
        Assert.True(SpinWait.SpinUntil(() => scheduler.Waiting == 1, 30_000), "the queue did not fill");
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(429, e.Status);
        leave.Cancel();                                              // those two clients give up
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.WhenAll(busy));
    }

    [Fact]
    public void AModelThatDoesNotLoadFailsTheStartWithAClearError()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var e = Assert.Throws<ServerStartException>(() => ScalpelServer.Create(
            new ServerOptions { ModelDirectory = dir.Path, Port = 0, DataDirectory = Path.Combine(dir.Path, "data") }, ServerFeatures.All()));
        Assert.Contains("--model", e.Message);
        Assert.Contains("cannot load", e.Message);

        File.WriteAllText(Path.Combine(dir.Path, "adapter_config.json"), "{}");
        var bad = Assert.Throws<ServerStartException>(() => ScalpelServer.Create(
            new ServerOptions { ModelDirectory = fx.ModelDirectory, Adapters = [dir.Path], Port = 0, DataDirectory = Path.Combine(dir.Path, "data") },
            ServerFeatures.All()));
        Assert.StartsWith("--adapters", bad.Message);
    }
}
