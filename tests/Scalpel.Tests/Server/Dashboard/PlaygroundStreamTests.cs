using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Scalpel.Server;
using Scalpel.Server.Dashboard;
using Scalpel.Tests.Server.Jobs;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Server.Dashboard;

/// <summary>
/// The playground's side of OpenAI's chat completions stream, against a scripted server (not a model): what the page
/// sends (model, system prompt, history, temperature, max_tokens, stream) and how it reads the answer. The stream is
/// paced and cut awkwardly, as networks do: a character's UTF-8 bytes split across two reads, an event split mid-line,
/// a keep-alive comment, a role-only first chunk, a usage chunk with no choices, then [DONE]. The page must show the
/// text growing as it arrives and end with exactly the streamed text; an error answer shows its message.
/// </summary>
public sealed class PlaygroundStreamTests(ITestOutputHelper output) : IDisposable
{
    private const string Model = "ft:tiny-llama:demo:ftjob-AAAAAAAAAAAAAAAAAAAAAAAA";
    private static readonly string[] Pieces = ["Hel", "lo ", "wörld", ", ", "déjà ", "vu ✓"];
    private readonly JobsTestKit _kit = new();

    /// <summary>/v1/models and /v1/chat/completions (stream only) in OpenAI's shapes, every request kept.</summary>
    private sealed class ScriptedChat : IServerFeature
    {
        private static readonly System.Text.Json.JsonSerializerOptions Raw = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

        public List<JsonObject> Requests { get; } = [];

        public void ConfigureServices(IServiceCollection services, ServerOptions options) { }

        public void MapEndpoints(WebApplication app, ServerOptions options)
        {
            app.MapGet("/v1/models", () => Results.Text(new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray([.. new[] { JobsTestKit.BaseModel, Model }.Select(id => (JsonNode)new JsonObject { ["id"] = id, ["object"] = "model", ["created"] = 0, ["owned_by"] = "scalpel" })]),
            }.ToJsonString(), "application/json"));
            app.MapPost("/v1/chat/completions", Complete);
        }

        private async Task Complete(HttpContext context)
        {
            var request = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
            lock (Requests) Requests.Add(request);
            string last = (string)request["messages"]!.AsArray().Last()!["content"]!;
            if (last == "fail")
            {
                await OpenAiErrors.Write(context, 400, "the scripted server refuses 'fail'", "invalid_request_error");
                return;
            }
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            var body = context.Response.Body;
            async Task Send(byte[] bytes)
            {
                await body.WriteAsync(bytes);
                await body.FlushAsync();
                await Task.Delay(60);   // one network read per write, as when tokens come one by one
            }
            // Non-ASCII text as UTF-8 bytes, not \u escapes, as most servers write it.
            static byte[] Event(JsonObject chunk) => Encoding.UTF8.GetBytes("data: " + chunk.ToJsonString(Raw) + "\n\n");
            JsonObject Chunk(JsonObject delta, string? finish) => new()
            {
                ["id"] = "chatcmpl-scripted", ["object"] = "chat.completion.chunk", ["created"] = 1, ["model"] = (string?)request["model"],
                ["system_fingerprint"] = null,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish }),
            };

            await Send(Event(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null)));
            await Send(Encoding.UTF8.GetBytes(": keep-alive\n\n"));
            foreach (string piece in Pieces)
            {
                byte[] bytes = Event(Chunk(new JsonObject { ["content"] = piece }, null));
                // Cut inside the first non-ASCII character's bytes: the decoder must carry them over to the next read.
                int cut = Array.FindIndex(bytes, b => b >= 0x80) + 1;
                if (cut > 0)
                {
                    await Send(bytes[..cut]);
                    await Send(bytes[cut..]);
                }
                else await Send(bytes);
            }
            byte[] finish = Event(Chunk(new JsonObject(), "stop"));
            await Send(finish[..10]);   // an event cut mid-line
            await Send(finish[10..]);
            await Send(Event(new JsonObject
            {
                ["id"] = "chatcmpl-scripted", ["object"] = "chat.completion.chunk", ["created"] = 1, ["model"] = (string?)request["model"], ["choices"] = new JsonArray(),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 9, ["completion_tokens"] = Pieces.Length, ["total_tokens"] = 9 + Pieces.Length },
            }));
            await Send("data: [DONE]\n\n"u8.ToArray());
        }
    }

    [Fact]
    public async Task ThePlaygroundSendsTheConversationAndShowsTheStreamAsItArrives()
    {
        var chat = new ScriptedChat();
        await using var server = ScalpelServer.Create(
            new ServerOptions { ModelDirectory = _kit.ModelDirectory, Port = 0, DataDirectory = Path.Combine(_kit.Root, "data") },
            [new Scalpel.Server.Files.FilesFeature(), new Scalpel.Server.Jobs.JobsFeature(), new DashboardFeature(), chat]);
        await server.StartAsync();

        var run = DashboardDriver.Drive("playground", new JsonObject
        {
            ["url"] = server.Address!.ToString(), ["model"] = Model, ["system"] = "Be brief.", ["temperature"] = 0.3, ["maxTokens"] = 5,
            ["messages"] = new JsonArray("hello", "and again", "fail"),
        }, TimeSpan.FromSeconds(90));
        var r = run.Result;
        output.WriteLine($"playground scenario: {run.Elapsed.TotalSeconds:0.0} s ({run.Steps})");
        output.WriteLine($"first answer: {r["first"]!.ToJsonString()}");

        Assert.Empty(r["pageErrors"]!.AsArray());
        Assert.Empty(run.ConsoleProblems("the server responded with a status of 400"));
        Assert.Null((string?)r["dataErrors"]);
        Assert.Empty(r["foreignRequests"]!.AsArray());
        Assert.Equal(new[] { JobsTestKit.BaseModel, Model }, r["models"]!.AsArray().Select(m => (string?)m));

        string full = string.Concat(Pieces);
        foreach (var answer in new[] { r["first"]!, r["second"]! })
        {
            Assert.Equal(full, (string?)answer["text"]);
            Assert.False((bool)answer["error"]!);
            Assert.Equal(Pieces.Length, (int)answer["deltas"]!);
            Assert.Equal("stop", (string?)answer["finish"]);
            // The text grew on the page: several partial texts were shown, each a beginning of the answer, never a
            // broken character (the split UTF-8 bytes waited for the rest).
            var seen = answer["seenWhileStreaming"]!.AsArray().Select(t => (string)t!).ToList();
            Assert.True(seen.Count >= 3, $"shown while streaming: {string.Join(" | ", seen)}");
            Assert.All(seen, t => Assert.StartsWith(t, full));
            Assert.DoesNotContain(seen, t => t.Contains('\uFFFD'));
            Assert.True((int)answer["renders"]! >= 3);
        }

        // What the page sent: OpenAI's request, with the system prompt first and the whole conversation each turn.
        Assert.Equal(3, chat.Requests.Count);
        var first = chat.Requests[0];
        Assert.Equal(Model, (string?)first["model"]);
        Assert.True((bool)first["stream"]!);
        Assert.Equal(0.3, (double)first["temperature"]!);
        Assert.Equal(5, (int)first["max_tokens"]!);
        Assert.Equal("""[{"role":"system","content":"Be brief."},{"role":"user","content":"hello"}]""", first["messages"]!.ToJsonString());
        Assert.Equal(new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "Be brief." }, new JsonObject { ["role"] = "user", ["content"] = "hello" },
                new JsonObject { ["role"] = "assistant", ["content"] = full }, new JsonObject { ["role"] = "user", ["content"] = "and again" }).ToJsonString(),
            chat.Requests[1]["messages"]!.ToJsonString());

        // An error answer: its message in the bubble, the question back in the box, not part of the conversation.
        var failed = r["failed"]!;
        Assert.True((bool)failed["error"]!);
        Assert.Contains("the scripted server refuses 'fail'", (string?)failed["text"]);
        Assert.Equal("fail", (string?)r["inputAfterError"]);
        Assert.Equal(0, (int)r["messagesAfterReset"]!);
    }

    public void Dispose() => _kit.Dispose();
}
