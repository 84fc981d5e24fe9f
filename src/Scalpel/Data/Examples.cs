using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Data;

/// <summary>Where an example came from: the file and the 1-based line its record starts on.</summary>
public readonly record struct SourceLocation(string File, long Line)
{
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>The roles of the canonical (OpenAI) chat format.</summary>
public static class ChatRoles
{
    public const string System = "system";
    public const string Developer = "developer";
    public const string User = "user";
    public const string Assistant = "assistant";
    public const string Tool = "tool";

    /// <summary>The interned role string for a known role name, or null.</summary>
    public static string? Known(string role) => role switch
    {
        System => System,
        Developer => Developer,
        User => User,
        Assistant => Assistant,
        Tool => Tool,
        _ => null,
    };

    public static bool IsInstruction(string role) => role is System or Developer;
}

/// <summary>
/// One training example in the canonical model, whatever file format it was read from. The three kinds are
/// <see cref="ChatExample"/>, <see cref="PreferenceExample"/> and <see cref="TextExample"/>.
/// </summary>
public abstract class Example
{
    /// <summary>The format of the record it was read from.</summary>
    public required DataFormat Format { get; init; }
    public required SourceLocation Source { get; init; }
}

/// <summary>Plain text for continued pretraining: every token is trained on.</summary>
public sealed class TextExample : Example
{
    public required string Text { get; init; }
}

/// <summary>
/// A conversation in OpenAI chat form. Rendering (chat template → tokens + loss mask) takes
/// <see cref="MessagesToJson"/> and <see cref="ToolsToJson"/> as the template's <c>messages</c> and <c>tools</c>,
/// and trains on the messages whose <see cref="ChatMessage.IsTrainable"/> is true (assistant messages whose
/// weight is not 0), unless the training options say otherwise.
/// </summary>
public sealed class ChatExample : Example
{
    public required IReadOnlyList<ChatMessage> Messages { get; init; }
    private JsonArray? _tools;
    private readonly byte[]? _toolsUtf8;
    /// <summary>Function definitions in OpenAI form ({"type": "function", "function": {name, description, parameters}}), or null.</summary>
    public JsonArray? Tools { get => LazyTools.Get(ref _tools, _toolsUtf8); init => _tools = value; }
    /// <summary>The tools as read (UTF-8 JSON, shared between examples that declare the same ones); parsed into <see cref="Tools"/> on first use.</summary>
    internal byte[]? ToolsUtf8 { get => _toolsUtf8; init => _toolsUtf8 = value; }
    public bool HasTools => ToolNames.Count > 0;
    public bool? ParallelToolCalls { get; init; }

    private IReadOnlyList<string>? _toolNames;
    /// <summary>Names of the declared tools, in declaration order.</summary>
    public IReadOnlyList<string> ToolNames { get => _toolNames ??= ToolDefinitions.Names(Tools).ToArray(); init => _toolNames = value; }

    /// <summary>The first <paramref name="count"/> messages (all by default) as an OpenAI <c>messages</c> array (a fresh copy).</summary>
    public JsonArray MessagesToJson(ChatJsonOptions? options = null, int? count = null)
    {
        var array = new JsonArray();
        int n = count ?? Messages.Count;
        if (n < 0 || n > Messages.Count) throw new ArgumentOutOfRangeException(nameof(count));
        for (int i = 0; i < n; i++) array.Add((JsonNode)Messages[i].ToJson(options));
        return array;
    }

    /// <summary>The tools as an OpenAI <c>tools</c> array (a fresh copy), or null when the example declares none.</summary>
    public JsonArray? ToolsToJson() => Tools?.DeepClone().AsArray();

    /// <summary>The whole example as an OpenAI chat fine-tuning record: messages, tools, parallel_tool_calls.</summary>
    public JsonObject ToJson(ChatJsonOptions? options = null)
    {
        var obj = new JsonObject { ["messages"] = MessagesToJson(options) };
        if (Tools is not null) obj["tools"] = ToolsToJson();
        if (ParallelToolCalls is bool p) obj["parallel_tool_calls"] = p;
        return obj;
    }

    /// <summary>Indices of the messages trained on by default (assistant messages whose weight is not 0).</summary>
    public IEnumerable<int> TrainableMessageIndices()
    {
        for (int i = 0; i < Messages.Count; i++)
            if (Messages[i].IsTrainable) yield return i;
    }
}

/// <summary>
/// A preference pair: a prompt conversation, and the chosen and rejected continuations (assistant messages).
/// <see cref="ChosenConversation"/>/<see cref="RejectedConversation"/> give each side as a whole chat for rendering.
/// </summary>
public sealed class PreferenceExample : Example
{
    public required IReadOnlyList<ChatMessage> Prompt { get; init; }
    public required IReadOnlyList<ChatMessage> Chosen { get; init; }
    public required IReadOnlyList<ChatMessage> Rejected { get; init; }
    private JsonArray? _tools;
    private readonly byte[]? _toolsUtf8;
    public JsonArray? Tools { get => LazyTools.Get(ref _tools, _toolsUtf8); init => _tools = value; }
    internal byte[]? ToolsUtf8 { get => _toolsUtf8; init => _toolsUtf8 = value; }
    public bool HasTools => ToolNames.Count > 0;
    public bool? ParallelToolCalls { get; init; }
    private IReadOnlyList<string>? _toolNames;
    /// <summary>Names of the declared tools, in declaration order.</summary>
    public IReadOnlyList<string> ToolNames { get => _toolNames ??= ToolDefinitions.Names(Tools).ToArray(); init => _toolNames = value; }

    public ChatExample ChosenConversation() => Conversation(Chosen);
    public ChatExample RejectedConversation() => Conversation(Rejected);

    private ChatExample Conversation(IReadOnlyList<ChatMessage> answer) => new()
    {
        Format = Format,
        Source = Source,
        Messages = [.. Prompt, .. answer],
        Tools = _tools,
        ToolsUtf8 = _toolsUtf8,
        ToolNames = ToolNames,
        ParallelToolCalls = ParallelToolCalls,
    };

    /// <summary>The OpenAI preference fine-tuning record: input {messages, tools, parallel_tool_calls}, preferred_output, non_preferred_output.</summary>
    public JsonObject ToJson(ChatJsonOptions? options = null)
    {
        var input = new JsonObject { ["messages"] = ToArray(Prompt, options) };
        if (Tools is not null) input["tools"] = Tools.DeepClone();
        if (ParallelToolCalls is bool p) input["parallel_tool_calls"] = p;
        return new JsonObject
        {
            ["input"] = input,
            ["preferred_output"] = ToArray(Chosen, options),
            ["non_preferred_output"] = ToArray(Rejected, options),
        };
    }

    private static JsonArray ToArray(IReadOnlyList<ChatMessage> messages, ChatJsonOptions? options)
    {
        var array = new JsonArray();
        foreach (var m in messages) array.Add((JsonNode)m.ToJson(options));
        return array;
    }
}

/// <summary>How <see cref="ChatMessage.ToJson"/> spells a message for a consumer.</summary>
public sealed record ChatJsonOptions
{
    /// <summary>Write content parts as the list they were read as (true), or always as one string (false, what most chat templates expect).</summary>
    public bool KeepContentParts { get; init; }
    /// <summary>Write tool-call arguments as a JSON object (what many Hugging Face chat templates expect) instead of OpenAI's JSON string.</summary>
    public bool ToolArgumentsAsObject { get; init; }
    /// <summary>Write per-message <c>weight</c> when it was given.</summary>
    public bool IncludeWeight { get; init; } = true;

    public static ChatJsonOptions OpenAi { get; } = new() { KeepContentParts = true };
    public static ChatJsonOptions Template { get; } = new() { ToolArgumentsAsObject = true, IncludeWeight = false };
}

/// <summary>A text content part (the only part type a text-only model can train on).</summary>
public sealed record ContentPart(string Type, string Text);

/// <summary>A function call made by an assistant message.</summary>
public sealed class ToolCall
{
    public string? Id { get; init; }
    public string Type { get; init; } = "function";
    public required string Name { get; init; }
    /// <summary>The arguments as a JSON string (OpenAI form); checked to be a JSON object when read.</summary>
    public required string Arguments { get; init; }

    public JsonObject ToJson(ChatJsonOptions? options = null)
    {
        JsonNode? args = options?.ToolArgumentsAsObject == true ? ParseArguments() : JsonValue.Create(Arguments);
        var obj = new JsonObject();
        if (Id is not null) obj["id"] = Id;
        obj["type"] = Type;
        obj["function"] = new JsonObject { ["name"] = Name, ["arguments"] = args };
        return obj;
    }

    private JsonNode? ParseArguments()
    {
        try { return JsonNode.Parse(Arguments); }
        catch (JsonException) { return JsonValue.Create(Arguments); }
    }
}

/// <summary>One message of a conversation in OpenAI form.</summary>
public sealed class ChatMessage
{
    /// <summary>One of <see cref="ChatRoles"/>.</summary>
    public required string Role { get; init; }
    /// <summary>The text (content parts joined), or null when the message has none (an assistant message with only tool calls).</summary>
    public string? Content { get; init; }
    /// <summary>The content parts when content was given as a list; null when it was a string.</summary>
    public IReadOnlyList<ContentPart>? ContentParts { get; init; }
    public string? Name { get; init; }
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }
    /// <summary>On tool messages: the id of the call this is the result of.</summary>
    public string? ToolCallId { get; init; }
    /// <summary>0 or 1 on assistant messages (OpenAI): whether to train on it; null = default (trained).</summary>
    public int? Weight { get; init; }
    /// <summary>Reasoning text (<c>reasoning_content</c>, or <c>thinking</c>) for templates that render it.</summary>
    public string? ReasoningContent { get; init; }

    /// <summary>Trained on by default: an assistant message whose weight is not 0.</summary>
    public bool IsTrainable => Role == ChatRoles.Assistant && Weight != 0;

    public JsonObject ToJson(ChatJsonOptions? options = null)
    {
        options ??= ChatJsonOptions.OpenAi;
        var obj = new JsonObject { ["role"] = Role };
        if (ContentParts is not null && options.KeepContentParts)
        {
            var parts = new JsonArray();
            foreach (var p in ContentParts) parts.Add((JsonNode)new JsonObject { ["type"] = p.Type, ["text"] = p.Text });
            obj["content"] = parts;
        }
        else obj["content"] = Content;
        if (ReasoningContent is not null) obj["reasoning_content"] = ReasoningContent;
        if (Name is not null) obj["name"] = Name;
        if (ToolCalls is { Count: > 0 })
        {
            var calls = new JsonArray();
            foreach (var c in ToolCalls) calls.Add((JsonNode)c.ToJson(options));
            obj["tool_calls"] = calls;
        }
        if (ToolCallId is not null) obj["tool_call_id"] = ToolCallId;
        if (Weight is int w && options.IncludeWeight) obj["weight"] = w;
        return obj;
    }
}

/// <summary>Tools kept as UTF-8 JSON until someone asks for the nodes.</summary>
internal static class LazyTools
{
    public static JsonArray? Get(ref JsonArray? tools, byte[]? utf8)
    {
        if (tools is null && utf8 is not null)
            Interlocked.CompareExchange(ref tools, JsonNode.Parse(utf8)!.AsArray(), null);
        return tools;
    }
}

/// <summary>Helpers over OpenAI tool definitions.</summary>
public static class ToolDefinitions
{
    /// <summary>The function names declared in a tools array (entries without a readable name are skipped).</summary>
    public static IEnumerable<string> Names(JsonArray? tools)
    {
        if (tools is null) yield break;
        foreach (var tool in tools)
            if (tool is JsonObject t && (t["function"] as JsonObject ?? t)["name"] is JsonValue v && v.TryGetValue(out string? name))
                yield return name;
    }
}
