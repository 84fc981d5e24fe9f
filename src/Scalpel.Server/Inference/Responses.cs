using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Scalpel.Generation;

namespace Scalpel.Server.Inference;

/// <summary>Pieces of responses both completion endpoints write: ids, finish reasons, usage, logprobs.</summary>
internal static class Responses
{
    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N");

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The fields every completion object and chunk starts with; <paramref name="usage"/> only when given.</summary>
    public static JsonObject Envelope(string id, string objectType, long created, string model, JsonArray choices, JsonNode? usage = null,
        bool withUsage = false)
    {
        var o = new JsonObject
        {
            ["id"] = id, ["object"] = objectType, ["created"] = created, ["model"] = model, ["system_fingerprint"] = "scalpel",
            ["choices"] = choices,
        };
        if (usage is not null || withUsage) o["usage"] = usage;
        return o;
    }

    /// <summary>
    /// What chat and legacy completions share: hold the model (404 when unknown), submit every sequence (streaming ones
    /// report their text as events), then answer whole or as a stream.
    /// </summary>
    public static async Task Serve(HttpContext context, InferenceService service, string model, bool stream, List<GenerationRequest> requests,
        Func<Submission, Task> answer, Func<Submission, StreamEvents, Task> streamAnswer)
    {
        var lease = await service.Models.Acquire(model, context.RequestAborted)
                    ?? throw new ApiException(404, $"The model '{model}' does not exist.", "model", "model_not_found");
        var events = stream ? new StreamEvents() : null;
        if (events is not null) requests = requests.Select((r, i) => r with { OnText = events.OnText(i) }).ToList();
        await using var submission = await Submission.Start(service, lease, requests, context.RequestAborted);
        if (events is null) await answer(submission);
        else await streamAnswer(submission, events);
    }

    /// <summary>Every sequence's result; a decoder failure becomes a 500 in OpenAI's shape.</summary>
    public static async Task<GenerationResult[]> Results(Submission submission)
    {
        try
        {
            return await Task.WhenAll(submission.Tasks);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new ApiException(500, $"Generation failed: {e.Message}", code: "server_error", type: "server_error");
        }
    }

    /// <summary>Ends a stream whose sequence failed: an error event, then [DONE] (a client that left never gets here).</summary>
    public static async Task FailStream(SseWriter sse, Task ended, CancellationToken cancellation)
    {
        string why = ended.Exception?.InnerException?.Message ?? "the sequence was cancelled";
        sse.Add(OpenAiErrors.Body($"Generation failed: {why}", "server_error", null, "server_error"));
        sse.AddDone();
        await sse.Flush(cancellation);
    }

    public static string FinishReason(FinishReason reason) => reason == Generation.FinishReason.Length ? "length" : "stop";

    /// <summary>Usage counts: the prompt once per prompt (not once per choice), every choice's tokens.</summary>
    public static JsonObject Usage(int promptTokens, int completionTokens) => new()
    {
        ["prompt_tokens"] = promptTokens,
        ["completion_tokens"] = completionTokens,
        ["total_tokens"] = promptTokens + completionTokens,
    };

    /// <summary>
    /// The logprob of each output token (the stop token that ended the answer is left out, as OpenAI does). When a stop
    /// string cut the answer, the tokens generated past the cut are listed too: they were generated and counted.
    /// </summary>
    public static IReadOnlyList<TokenLogprob> OutputLogprobs(GenerationResult result) =>
        result.Logprobs is null ? [] : result.Logprobs.Take(result.Tokens.Length).ToList();

    /// <summary>Chat logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}.</summary>
    public static JsonObject ChatLogprobs(InferenceService service, IReadOnlyList<TokenLogprob> logprobs)
    {
        JsonObject Entry(int token, float logprob)
        {
            var (text, bytes) = service.TokenText(token);
            return new JsonObject
            {
                ["token"] = text,
                ["logprob"] = logprob,
                ["bytes"] = new JsonArray(bytes.Select(b => (JsonNode)(int)b).ToArray()),
            };
        }
        var content = new JsonArray();
        foreach (var lp in logprobs)
        {
            var entry = Entry(lp.Token, lp.Logprob);
            entry["top_logprobs"] = new JsonArray(lp.Top.Select(t => (JsonNode)Entry(t.Token, t.Logprob)).ToArray());
            content.Add((JsonNode)entry);
        }
        return new JsonObject { ["content"] = content, ["refusal"] = null };
    }

    /// <summary>Legacy completions logprobs: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}.</summary>
    public static JsonObject LegacyLogprobs(InferenceService service, IReadOnlyList<TokenLogprob> logprobs, int textOffset)
    {
        var tokens = new JsonArray();
        var values = new JsonArray();
        var tops = new JsonArray();
        var offsets = new JsonArray();
        int offset = textOffset;
        foreach (var lp in logprobs)
        {
            string text = service.TokenText(lp.Token).Text;
            tokens.Add((JsonNode)text);
            values.Add((JsonNode)lp.Logprob);
            var top = new JsonObject();
            foreach (var (token, logprob) in lp.Top) top[service.TokenText(token).Text] = logprob;
            tops.Add((JsonNode)top);
            offsets.Add((JsonNode)offset);
            offset += text.Length;
        }
        return new JsonObject { ["tokens"] = tokens, ["token_logprobs"] = values, ["top_logprobs"] = tops, ["text_offset"] = offsets };
    }

    public static async Task WriteJson(HttpContext context, JsonNode body)
    {
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}

/// <summary>
/// Server-sent events: "data: JSON\n\n" per chunk, then "data: [DONE]\n\n". Chunks are gathered and sent with one
/// flush per batch of events, so many tokens that arrive together cost one write.
/// </summary>
internal sealed class SseWriter
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray(), EventEnd = "\n\n"u8.ToArray(), Done = "data: [DONE]\n\n"u8.ToArray();
    private readonly HttpResponse _response;
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _json;

    public SseWriter(HttpContext context)
    {
        _response = context.Response;
        _json = new Utf8JsonWriter(_buffer);
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        _response.ContentType = "text/event-stream";
        _response.Headers.CacheControl = "no-cache";
        _response.Headers["X-Accel-Buffering"] = "no";
    }

    public void Add(JsonNode chunk)
    {
        _buffer.Write(DataPrefix);
        _json.Reset(_buffer);
        chunk.WriteTo(_json);
        _json.Flush();
        _buffer.Write(EventEnd);
    }

    /// <summary>A chunk from a template with one string spliced in: the per-token path, without building a JSON tree.</summary>
    public void Add(SplicedChunk template, string text)
    {
        _buffer.Write(DataPrefix);
        _buffer.Write(template.Prefix);
        _json.Reset(_buffer);
        _json.WriteStringValue(text);
        _json.Flush();
        _buffer.Write(template.Suffix);
        _buffer.Write(EventEnd);
    }

    public void AddDone() => _buffer.Write(Done);

    public async Task Flush(CancellationToken cancellationToken)
    {
        if (_buffer.WrittenCount > 0)
        {
            await _response.Body.WriteAsync(_buffer.WrittenMemory, cancellationToken);
            _buffer.Clear();
        }
        await _response.Body.FlushAsync(cancellationToken);
    }
}

/// <summary>
/// Text pieces and endings of a request's sequences, in order, from the decode thread to the request's writer: the
/// decode thread only posts to an unbounded channel and never waits on a client.
/// </summary>
internal sealed class StreamEvents
{
    /// <summary>A piece of text of choice <see cref="Choice"/>, or (Text null) its ending.</summary>
    public readonly record struct Event(int Choice, string? Text, Task<GenerationResult>? Ended);

    private readonly Channel<Event> _channel = Channel.CreateUnbounded<Event>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<Event> Reader => _channel.Reader;

    public Action<string> OnText(int choice) => text => _channel.Writer.TryWrite(new Event(choice, text, null));

    /// <summary>Posts each task's ending after its text (a task completes after its last OnText call).</summary>
    public void Watch(IReadOnlyList<Task<GenerationResult>> tasks)
    {
        for (int i = 0; i < tasks.Count; i++)
        {
            int choice = i;
            tasks[i].ContinueWith(t => _channel.Writer.TryWrite(new Event(choice, null, t)), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}

/// <summary>
/// A chunk's JSON cut around one string value (built with <see cref="Placeholder"/> where the string goes), so that
/// each streamed piece of text costs one escaped string and two copies.
/// </summary>
internal sealed class SplicedChunk
{
    public const string Placeholder = "@@scalpel-splice@@";

    public SplicedChunk(JsonNode chunk)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(chunk.ToJsonString());
        byte[] marker = System.Text.Encoding.UTF8.GetBytes("\"" + Placeholder + "\"");
        int at = bytes.AsSpan().IndexOf(marker);
        if (at < 0) throw new ArgumentException("the chunk has no placeholder string", nameof(chunk));
        Prefix = bytes[..at];
        Suffix = bytes[(at + marker.Length)..];
    }

    public byte[] Prefix { get; }
    public byte[] Suffix { get; }
}
