using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Scalpel.Generation;
using Scalpel.Generation.Constraints;
using Scalpel.Text;

namespace Scalpel.Server.Inference;

/// <summary>
/// POST /v1/chat/completions. The conversation is rendered with the model's chat template (tools included unless
/// tool_choice is none), its n choices are decoded in the shared batch, and the answer comes back whole or as
/// chat.completion.chunk server-sent events.
/// </summary>
internal static class ChatCompletions
{
    public const int MaxTopLogprobs = 20;

    /// <summary>A parsed request: what to generate and how to answer.</summary>
    private sealed record Plan(
        string Model,
        int[] PromptIds,
        GenerationParams Params,
        Func<ITokenConstraint>? Constraint,
        ToolMode Tools,
        bool Logprobs,
        int TopLogprobs);

    public static async Task Handle(HttpContext context, InferenceService service)
    {
        var plan = Parse(await RequestFields.Read(context.Request), service);
        await Responses.Serve(context, service, plan.Model, plan.Params.Stream, plan.Params.Requests(plan.PromptIds, plan.Constraint, plan.TopLogprobs, plan.Logprobs).ToList(),
            submission => Answer(context, service, plan, submission), (submission, events) => Stream(context, service, plan, submission, events));
    }

    private static Plan Parse(RequestFields f, InferenceService service)
    {
        string model = f.RequiredString("model");
        var messages = Messages(f["messages"]);
        f.Unsupported("functions", _ => false, "the legacy 'functions' field is replaced by 'tools'");
        f.Unsupported("function_call", _ => false, "the legacy 'function_call' field is replaced by 'tool_choice'");
        f.Unsupported("audio", _ => false, "audio output is not available");
        f.Unsupported("prediction", _ => false, "predicted outputs are not implemented");
        f.Unsupported("modalities", n => n is JsonArray a && a.All(m => m?.GetValueKind() == JsonValueKind.String && (string?)m == "text"), "only text output");

        var tools = f["tools"] is { } t ? ToolCalls.Validate(t) : null;
        var (toolMode, toolName) = ToolCalls.Choice(f["tool_choice"], tools);
        var gen = GenerationParams.Parse(f, service.DefaultSampling, service.Scheduler.ContextLength, "max_completion_tokens", "max_tokens");

        bool logprobs = f.Bool("logprobs") ?? false;
        int top = (int)(f.Integer("top_logprobs", 0, MaxTopLogprobs) ?? 0);
        if (top > 0 && !logprobs) throw ApiException.BadParam("top_logprobs", "'top_logprobs' needs 'logprobs': true.");

        Func<ITokenConstraint>? constraint = ResponseFormat(f["response_format"], service);
        if (toolMode == ToolMode.Forced)
        {
            if (constraint is not null)
                throw ApiException.BadParam("response_format", "'response_format' cannot be combined with a forced 'tool_choice' (required or a named function).");
            constraint = Compile(service, ToolCalls.ForcedSchema(tools!, toolName), "tools");
        }

        int[] prompt;
        try
        {
            prompt = service.Model.EncodeConversation(messages, toolMode == ToolMode.None ? null : tools);
        }
        catch (TemplateException e)
        {
            throw ApiException.BadParam("messages", $"The chat template cannot render these messages: {e.Message}");
        }
        return new Plan(model, prompt, gen, constraint, toolMode, logprobs, top);
    }

    /// <summary>
    /// The messages in the form chat templates expect: text parts joined into one string, "developer" as "system", and
    /// tool call arguments as objects (templates write them with tojson).
    /// </summary>
    private static JsonArray Messages(JsonNode? node)
    {
        if (node is not JsonArray { Count: > 0 } list) throw ApiException.BadParam("messages", "'messages' must be a non-empty list.");
        var result = new JsonArray();
        for (int i = 0; i < list.Count; i++)
        {
            string param = $"messages[{i}]";
            if (list[i] is not JsonObject m) throw ApiException.BadParam(param, $"'{param}' must be an object.");
            string role = m["role"] is JsonValue r && r.GetValueKind() == JsonValueKind.String ? r.GetValue<string>() : "";
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
                throw ApiException.BadParam($"{param}.role", $"'{param}.role' must be system, developer, user, assistant or tool.");
            var message = new JsonObject { ["role"] = role == "developer" ? "system" : role };
            var content = Content(m["content"], $"{param}.content");
            bool hasCalls = m["tool_calls"] is JsonArray { Count: > 0 };
            if (content is null && !(role == "assistant" && hasCalls))
                throw ApiException.BadParam($"{param}.content", $"'{param}.content' is required.");
            message["content"] = content ?? "";
            foreach (var key in new[] { "name", "tool_call_id" })
                if (m[key] is { } value) message[key] = value.DeepClone();
            if (hasCalls) message["tool_calls"] = CallsForTemplate((JsonArray)m["tool_calls"]!, $"{param}.tool_calls");
            result.Add((JsonNode)message);
        }
        return result;
    }

    private static string? Content(JsonNode? content, string param)
    {
        switch (content)
        {
            case null:
                return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Null:
                return null;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return v.GetValue<string>();
            case JsonArray parts:
                var text = new System.Text.StringBuilder();
                foreach (var part in parts)
                {
                    string? type = part?["type"]?.GetValueKind() == JsonValueKind.String ? (string?)part["type"] : null;
                    if (type is not ("text" or "input_text") || part!["text"] is not JsonValue t || t.GetValueKind() != JsonValueKind.String)
                        throw ApiException.BadParam(param, $"'{param}': only text parts are supported (got {type ?? "a part without a type"}).");
                    text.Append(t.GetValue<string>());
                }
                return text.ToString();
            default:
                throw ApiException.BadParam(param, $"'{param}' must be a string or a list of text parts.");
        }
    }

    private static JsonArray CallsForTemplate(JsonArray calls, string param)
    {
        var result = new JsonArray();
        foreach (var call in calls)
        {
            if (call is not JsonObject c || c["function"] is not JsonObject f) throw ApiException.BadParam(param, $"'{param}' entries must have a 'function'.");
            var copy = (JsonObject)c.DeepClone();
            if (f["arguments"] is JsonValue a && a.GetValueKind() == JsonValueKind.String)
            {
                try
                {
                    if (JsonNode.Parse(a.GetValue<string>()) is JsonObject parsed) copy["function"]!["arguments"] = parsed;
                }
                catch (JsonException)
                {
                    // Not JSON: the template gets the string as the client sent it.
                }
            }
            result.Add((JsonNode)copy);
        }
        return result;
    }

    /// <summary>response_format: text (free), json_object (any object) or json_schema (that schema), by constrained decoding.</summary>
    private static Func<ITokenConstraint>? ResponseFormat(JsonNode? format, InferenceService service)
    {
        if (format is null) return null;
        if (format is not JsonObject o || o["type"] is not JsonValue tv || tv.GetValueKind() != JsonValueKind.String)
            throw ApiException.BadParam("response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}.");
        switch (tv.GetValue<string>())
        {
            case "text":
                return null;
            case "json_object":
                var grammar = service.JsonObjectGrammar;
                return grammar.Start;
            case "json_schema":
                if (o["json_schema"] is not JsonObject js || js["schema"] is not { } schema)
                    throw ApiException.BadParam("response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'.");
                return Compile(service, schema, "response_format.json_schema.schema");
            default:
                throw ApiException.BadParam("response_format.type", $"'response_format.type' must be text, json_object or json_schema (got '{tv.GetValue<string>()}').");
        }
    }

    private static Func<ITokenConstraint> Compile(InferenceService service, JsonNode schema, string param)
    {
        try
        {
            return service.SchemaGrammar(schema).Start;
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw ApiException.BadParam(param, $"The schema cannot be used for constrained decoding: {e.Message}");
        }
    }

    private static async Task Answer(HttpContext context, InferenceService service, Plan plan, Submission submission)
    {
        var results = await Responses.Results(submission);
        var choices = new JsonArray();
        for (int i = 0; i < results.Length; i++)
        {
            var r = results[i];
            var message = new JsonObject { ["role"] = "assistant" };
            string finish = Responses.FinishReason(r.FinishReason);
            var (content, calls) = plan.Tools == ToolMode.None ? (r.Text, null) : ToolCalls.Split(r.Text);
            message["content"] = content;
            if (calls is not null)
            {
                message["tool_calls"] = calls;
                finish = "tool_calls";
            }
            message["refusal"] = null;
            choices.Add((JsonNode)new JsonObject
            {
                ["index"] = i,
                ["message"] = message,
                ["logprobs"] = plan.Logprobs ? Responses.ChatLogprobs(service, Responses.OutputLogprobs(r)) : null,
                ["finish_reason"] = finish,
            });
        }
        await Responses.WriteJson(context, Responses.Envelope(Responses.NewId("chatcmpl-"), "chat.completion",
            Responses.Now(), plan.Model, choices, Responses.Usage(plan.PromptIds.Length, results.Sum(r => r.CompletionTokens))));
    }

    private static async Task Stream(HttpContext context, InferenceService service, Plan plan, Submission submission, StreamEvents events)
    {
        string id = Responses.NewId("chatcmpl-");
        long created = Responses.Now();
        int n = submission.Tasks.Length;
        var filters = plan.Tools == ToolMode.None ? null : Enumerable.Range(0, n).Select(_ => new ToolCalls.StreamFilter()).ToArray();
        int completionTokens = 0;

        JsonObject Chunk(int choice, JsonObject delta, string? finish = null, JsonNode? logprobs = null)
        {
            var entry = new JsonObject
            {
                    ["index"] = choice, ["delta"] = delta, ["logprobs"] = logprobs, ["finish_reason"] = finish,
            };
            return Responses.Envelope(id, "chat.completion.chunk", created, plan.Model, [entry], withUsage: plan.Params.IncludeUsage);
        }

        var contentChunks = Enumerable.Range(0, n).Select(i => new SplicedChunk(Chunk(i, new JsonObject { ["content"] = SplicedChunk.Placeholder }))).ToArray();
        var sse = new SseWriter(context);
        for (int i = 0; i < n; i++) sse.Add(Chunk(i, new JsonObject { ["role"] = "assistant", ["content"] = "" }));
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
                    string text = filters is null ? e.Text! : filters[e.Choice].Push(e.Text!);
                    if (text.Length > 0) sse.Add(contentChunks[e.Choice], text);
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
                string finish = Responses.FinishReason(result.FinishReason);
                if (filters is not null)
                {
                    var (rest, calls) = filters[e.Choice].Finish();
                    if (rest.Length > 0) sse.Add(Chunk(e.Choice, new JsonObject { ["content"] = rest }));
                    if (calls is not null)
                    {
                        var deltas = new JsonArray();
                        for (int k = 0; k < calls.Count; k++)
                        {
                            var call = (JsonObject)calls[k]!.DeepClone();
                            var delta = new JsonObject { ["index"] = k };
                            foreach (var (key, value) in call) delta[key] = value?.DeepClone();
                            deltas.Add((JsonNode)delta);
                        }
                        sse.Add(Chunk(e.Choice, new JsonObject { ["tool_calls"] = deltas }));
                        finish = "tool_calls";
                    }
                }
                var logprobs = plan.Logprobs ? Responses.ChatLogprobs(service, Responses.OutputLogprobs(result)) : null;
                sse.Add(Chunk(e.Choice, new JsonObject(), finish, logprobs));
            }
            await sse.Flush(context.RequestAborted);
        }
        if (plan.Params.IncludeUsage)
        {
            sse.Add(Responses.Envelope(id, "chat.completion.chunk", created, plan.Model, [], Responses.Usage(plan.PromptIds.Length, completionTokens)));
        }
        sse.AddDone();
        await sse.Flush(context.RequestAborted);
    }
}
