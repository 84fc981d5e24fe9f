using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Scalpel.Generation;

namespace Scalpel.Server.Inference;

/// <summary>
/// POST /v1/completions, the legacy text completion: a prompt (a string, a list of strings, token ids or lists of
/// them) continued as plain text, with the same sampling fields as chat, legacy logprobs (an integer: that many
/// alternatives per token) and streaming. Choice i×n + j is prompt i's j-th sample. echo, suffix and best_of other than
/// n are refused with a 400.
/// </summary>
internal static class Completions
{
    public const int MaxLogprobs = 5;
    public const int MaxPrompts = 32;

    /// <summary>Legacy completions default to 16 new tokens, as OpenAI's does.</summary>
    public const int DefaultMaxTokens = 16;

    private sealed record Plan(string Model, IReadOnlyList<int[]> Prompts, GenerationParams Params, int? Logprobs);

    public static async Task Handle(HttpContext context, InferenceService service)
    {
        var plan = Parse(await RequestFields.Read(context.Request), service);
        await Responses.Serve(context, service, plan.Model, plan.Params.Stream, plan.Prompts.SelectMany(p => plan.Params.Requests(p, null, plan.Logprobs ?? 0, plan.Logprobs is not null)).ToList(),
            submission => Answer(context, service, plan, submission), (submission, events) => Stream(context, service, plan, submission, events));
    }

    private static Plan Parse(RequestFields f, InferenceService service)
    {
        string model = f.RequiredString("model");
        f.Unsupported("echo", n => n.GetValueKind() == JsonValueKind.False, "echoing the prompt is not implemented");
        f.Unsupported("suffix", n => n is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Length == 0,
            "insertion (a suffix after the completion) is not implemented");
        var gen = GenerationParams.Parse(f, service.DefaultSampling, DefaultMaxTokens, "max_tokens");
        if (f.Integer("best_of", 1, GenerationParams.MaxN) is { } bestOf && bestOf != 1 && bestOf != gen.N)
            throw ApiException.BadParam("best_of", "'best_of' other than 1 or n is not supported: every sample generated is returned.");
        int? logprobs = f.Integer("logprobs", 0, MaxLogprobs) is { } l ? (int)l : null;
        return new Plan(model, Prompts(f["prompt"], service), gen, logprobs);
    }

    private static List<int[]> Prompts(JsonNode? prompt, InferenceService service)
    {
        const string Shape = "'prompt' must be a string, a list of strings, a list of token ids or a list of such lists.";
        int vocab = service.Model.Tokenizer.VocabSize;
        int[] Encode(string text)
        {
            var ids = service.Model.Tokenizer.Encode(text, addSpecialTokens: true);
            return ids.Length > 0 ? ids : throw ApiException.BadParam("prompt", "The prompt is empty: at least one token is needed.");
        }
        int[] Ids(JsonArray list)
        {
            var ids = new int[list.Count];
            for (int i = 0; i < ids.Length; i++)
            {
                if (list[i] is not JsonValue v || !v.TryGetValue<int>(out ids[i]) || ids[i] < 0 || ids[i] >= vocab)
                    throw ApiException.BadParam("prompt", $"Token ids in 'prompt' must be integers in 0..{vocab - 1}.");
            }
            return ids.Length > 0 ? ids : throw ApiException.BadParam("prompt", "The prompt is empty: at least one token is needed.");
        }
        switch (prompt)
        {
            case null:
                throw ApiException.BadParam("prompt", "'prompt' is required.");
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return [Encode(v.GetValue<string>())];
            case JsonArray { Count: > 0 } list when list.All(x => x?.GetValueKind() == JsonValueKind.Number):
                return [Ids(list)];
            case JsonArray { Count: > 0 and <= MaxPrompts } list:
                return list.Select(x => x switch
                {
                    JsonValue s when s.GetValueKind() == JsonValueKind.String => Encode(s.GetValue<string>()),
                    JsonArray ids => Ids(ids),
                    _ => throw ApiException.BadParam("prompt", Shape),
                }).ToList();
            case JsonArray { Count: > MaxPrompts }:
                throw ApiException.BadParam("prompt", $"At most {MaxPrompts} prompts per request.");
            default:
                throw ApiException.BadParam("prompt", Shape);
        }
    }

    private static async Task Answer(HttpContext context, InferenceService service, Plan plan, Submission submission)
    {
        var results = await Responses.Results(submission);
        var choices = new JsonArray();
        for (int i = 0; i < results.Length; i++)
        {
            var r = results[i];
            choices.Add((JsonNode)new JsonObject
            {
                ["text"] = r.Text,
                ["index"] = i,
                ["logprobs"] = plan.Logprobs is null ? null : Responses.LegacyLogprobs(service, Responses.OutputLogprobs(r), 0),
                ["finish_reason"] = Responses.FinishReason(r.FinishReason),
            });
        }
        await Responses.WriteJson(context, Responses.Envelope(Responses.NewId("cmpl-"), "text_completion",
            Responses.Now(), plan.Model, choices, Responses.Usage(plan.Prompts.Sum(p => p.Length), results.Sum(r => r.CompletionTokens))));
    }

    private static async Task Stream(HttpContext context, InferenceService service, Plan plan, Submission submission, StreamEvents events)
    {
        string id = Responses.NewId("cmpl-");
        long created = Responses.Now();
        int n = submission.Tasks.Length;
        int completionTokens = 0;

        JsonObject Chunk(int choice, string text, string? finish = null, JsonNode? logprobs = null)
        {
            var entry = new JsonObject
            {
                    ["text"] = text, ["index"] = choice, ["logprobs"] = logprobs, ["finish_reason"] = finish,
            };
            return Responses.Envelope(id, "text_completion", created, plan.Model, [entry], withUsage: plan.Params.IncludeUsage);
        }

        var textChunks = Enumerable.Range(0, n).Select(i => new SplicedChunk(Chunk(i, SplicedChunk.Placeholder))).ToArray();
        var sse = new SseWriter(context);
        await sse.Flush(context.RequestAborted);
        events.Watch(submission.Tasks);
        int ended = 0;
        var reader = events.Reader;
        while (ended < n && await reader.WaitToReadAsync(context.RequestAborted))
        {
            while (reader.TryRead(out var e))
            {
                if (e.Ended is null)
                {
                    sse.Add(textChunks[e.Choice], e.Text!);
                    continue;
                }
                ended++;
                if (!e.Ended.IsCompletedSuccessfully)
                {
                    await Responses.FailStream(sse, e.Ended, context.RequestAborted);
                    return;
                }
                var result = e.Ended.Result;
                completionTokens += result.CompletionTokens;
                // Legacy logprobs of a streamed choice come whole with its last chunk.
                var logprobs = plan.Logprobs is null ? null : Responses.LegacyLogprobs(service, Responses.OutputLogprobs(result), 0);
                sse.Add(Chunk(e.Choice, "", Responses.FinishReason(result.FinishReason), logprobs));
            }
            await sse.Flush(context.RequestAborted);
        }
        if (plan.Params.IncludeUsage)
        {
            sse.Add(Responses.Envelope(id, "text_completion", created, plan.Model, [], Responses.Usage(plan.Prompts.Sum(p => p.Length), completionTokens)));
        }
        sse.AddDone();
        await sse.Flush(context.RequestAborted);
    }
}
