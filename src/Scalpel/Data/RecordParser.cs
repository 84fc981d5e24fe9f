using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Data;

/// <summary>
/// Turns one JSON record into the canonical model (<see cref="ChatExample"/>, <see cref="PreferenceExample"/>,
/// <see cref="TextExample"/>), reporting every problem with its field path instead of stopping at the first.
/// </summary>
internal sealed partial class RecordParser(RecordContext ctx, int maxDepth)
{
    private readonly JsonDocumentOptions _argumentOptions = new() { MaxDepth = maxDepth };

    /// <summary>The format a record looks like from its fields, or null when it matches none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static DataFormat? Detect(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return null;
        bool Has(string name) => root.TryGetProperty(name, out _);
        if (Has("messages")) return DataFormat.OpenAiChat;
        if (Has("input") && (Has("preferred_output") || Has("non_preferred_output"))) return DataFormat.OpenAiPreference;
        if (Has("chosen") || Has("rejected")) return DataFormat.TrlPreference;
        if (Has("conversations")) return DataFormat.ShareGpt;
        if (Has("instruction")) return DataFormat.Alpaca;
        if (Has("prompt") || Has("completion")) return DataFormat.PromptCompletion;
        if (Has("text")) return DataFormat.Text;
        return null;
    }

    /// <summary>The fields a record of each format must have, for messages about records that match none.</summary>
    public const string FormatFields =
        "messages (openai-chat), input + preferred_output (openai-preference), prompt/chosen/rejected (trl-preference), " +
        "conversations (sharegpt), instruction/output (alpaca), prompt/completion, or text";

    public Example? Parse(JsonElement root, DataFormat format, SourceLocation source) => format switch
    {
        DataFormat.OpenAiChat => ParseOpenAiChat(root, source),
        DataFormat.OpenAiPreference => ParseOpenAiPreference(root, source),
        DataFormat.Alpaca => ParseAlpaca(root, source),
        DataFormat.ShareGpt => ParseShareGpt(root, source),
        DataFormat.PromptCompletion => ParsePromptCompletion(root, source),
        DataFormat.Text => ParseText(root, source),
        DataFormat.TrlPreference => ParseTrlPreference(root, source),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    private bool Required(JsonElement root, string field, string fix, out JsonElement value)
    {
        if (root.TryGetProperty(field, out value)) return true;
        ctx.Error(field, IssueCodes.MissingField, $"the record has no '{field}': {fix}");
        return false;
    }

    // ---------------------------------------------------------------- OpenAI chat

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ChatExample? ParseOpenAiChat(JsonElement root, SourceLocation source)
    {
        if (!Required(root, "messages", "add the conversation as \"messages\": [{\"role\": ..., \"content\": ...}]", out var list)) return null;
        var tools = ParseToolsField(root, "tools", out var toolArray, out var toolsUtf8);
        bool? parallel = ParseParallel(root, "parallel_tool_calls");
        var messages = ParseMessages(list, "messages");
        if (messages is null || tools is null) return null;
        ChatRules.Check(messages, tools, parallel, (i, sub) => $"messages[{i}]{sub}", "messages", ctx, requireTrainable: true);
        return new ChatExample { Format = DataFormat.OpenAiChat, Source = source, Messages = messages, Tools = toolArray, ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered, ParallelToolCalls = parallel };
    }

    /// <summary>Reads a list of OpenAI messages; null (with errors reported) when any is wrong.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private List<ChatMessage>? ParseMessages(JsonElement list, string path, bool allowEmpty = false)
    {
        if (list.ValueKind != JsonValueKind.Array)
        {
            ctx.WrongType(path, list, "a list of messages", "write [{\"role\": \"user\", \"content\": \"...\"}, ...]");
            return null;
        }
        var result = new List<ChatMessage>(list.GetArrayLength());
        bool ok = true;
        int i = 0;
        foreach (var m in list.EnumerateArray())
        {
            var message = ParseMessage(m, path, i++);
            if (message is null) ok = false;
            else result.Add(message);
        }
        if (i == 0 && !allowEmpty)
        {
            ctx.Error(path, IssueCodes.EmptyMessages, "the message list is empty: add the conversation, or drop the record");
            return null;
        }
        return ok ? result : null;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ChatMessage? ParseMessage(JsonElement m, string listPath, int i)
    {
        string P(string sub) => $"{listPath}[{i}]{sub}";
        if (m.ValueKind != JsonValueKind.Object)
        {
            ctx.WrongType(P(""), m, "a message object", "write {\"role\": ..., \"content\": ...}");
            return null;
        }
        string? role = null, content = null, name = null, toolCallId = null, reasoning = null;
        List<ContentPart>? parts = null;
        List<ToolCall>? calls = null;
        int? weight = null;
        bool ok = true, hasRole = false;
        foreach (var p in m.EnumerateObject())
        {
            var v = p.Value;
            if (p.NameEquals("role"u8))
            {
                hasRole = true;
                if (v.ValueKind == JsonValueKind.String && KnownRole(v) is { } known) role = known;   // no string allocated
                else if (ctx.TryString(v, new FieldPath(listPath, i, ".role"), out var r, "write the role as a string: \"user\", \"assistant\", ..."))
                {
                    role = ChatRoles.Known(r);
                    if (role is null)
                    {
                        ctx.Error(P(".role"), IssueCodes.UnknownRole, $"role '{r}' is not one of system, developer, user, assistant, tool: {RoleFix(r)}");
                        ok = false;
                    }
                }
                else ok = false;
            }
            else if (p.NameEquals("content"u8)) ok &= ParseContent(v, new FieldPath(listPath, i, ".content"), out content, out parts);
            else if (p.NameEquals("name"u8)) ok &= ctx.TryOptionalString(v, new FieldPath(listPath, i, ".name"), out name);
            else if (p.NameEquals("tool_calls"u8)) ok &= ParseToolCalls(v, P(".tool_calls"), out calls);
            else if (p.NameEquals("tool_call_id"u8)) ok &= ctx.TryOptionalString(v, new FieldPath(listPath, i, ".tool_call_id"), out toolCallId);
            else if (p.NameEquals("weight"u8)) ok &= ParseWeight(v, P(".weight"), out weight);
            else if (p.NameEquals("reasoning_content"u8) || p.NameEquals("thinking"u8)) ok &= ctx.TryOptionalString(v, P("." + p.Name), out reasoning);
            else if (p.NameEquals("refusal"u8) || p.NameEquals("function_call"u8) && v.ValueKind == JsonValueKind.Null) { }
            else ctx.Warn(P("." + p.Name), IssueCodes.UnknownField, $"'{p.Name}' is not a message field OpenAI or chat templates use; it is ignored (remove it to silence this)");
        }
        if (!hasRole)
        {
            ctx.Error(P(".role"), IssueCodes.MissingField, "the message has no role: add \"role\" (system, developer, user, assistant or tool)");
            return null;
        }
        if (!ok || role is null) return null;
        return new ChatMessage
        {
            Role = role, Content = content, ContentParts = parts, Name = name, ToolCalls = calls, ToolCallId = toolCallId,
            Weight = weight, ReasoningContent = reasoning,
        };
    }

    private static string? KnownRole(JsonElement v) =>
        v.ValueEquals("user"u8) ? ChatRoles.User
        : v.ValueEquals("assistant"u8) ? ChatRoles.Assistant
        : v.ValueEquals("system"u8) ? ChatRoles.System
        : v.ValueEquals("tool"u8) ? ChatRoles.Tool
        : v.ValueEquals("developer"u8) ? ChatRoles.Developer
        : null;

    private static string RoleFix(string role) => role.Trim().ToLowerInvariant() switch
    {
        "human" or "customer" or "prompter" or "question" => "use 'user'",
        "gpt" or "bot" or "model" or "ai" or "chatgpt" or "gpt-4" or "answer" or "response" => "use 'assistant'",
        "function" or "observation" or "ipython" or "function_response" => "use 'tool' (with tool_call_id) for tool results",
        "user" or "assistant" or "system" or "tool" or "developer" => "write it in lower case without spaces",
        _ => "rename it",
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ParseContent(JsonElement v, FieldPath path, out string? content, out List<ContentPart>? parts)
    {
        content = null;
        parts = null;
        switch (v.ValueKind)
        {
            case JsonValueKind.String:
                if (!ctx.TryString(v, path, out var s)) return false;
                content = s;
                return true;
            case JsonValueKind.Null:
                return true;
            case JsonValueKind.Array:
                parts = new List<ContentPart>(v.GetArrayLength());
                bool ok = true;
                int k = 0;
                foreach (var part in v.EnumerateArray())
                {
                    string pp = $"{path}[{k++}]";
                    if (part.ValueKind != JsonValueKind.Object)
                    {
                        ctx.WrongType(pp, part, "a content part object", "write {\"type\": \"text\", \"text\": \"...\"}");
                        ok = false;
                        continue;
                    }
                    if (!part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                    {
                        ctx.Error(pp + ".type", IssueCodes.MissingField, "the content part has no type: write {\"type\": \"text\", \"text\": \"...\"}");
                        ok = false;
                        continue;
                    }
                    string typeName = type.GetString()!;
                    if (typeName != "text")
                    {
                        ctx.Error(pp + ".type", IssueCodes.UnsupportedContent,
                            $"'{typeName}' parts cannot be trained on by a text-only model: remove the part or describe it in text");
                        ok = false;
                        continue;
                    }
                    if (!part.TryGetProperty("text", out var text))
                    {
                        ctx.Error(pp + ".text", IssueCodes.MissingField, "the text part has no 'text': add it");
                        ok = false;
                        continue;
                    }
                    if (ctx.TryString(text, pp + ".text", out var t)) parts.Add(new ContentPart("text", t));
                    else ok = false;
                }
                if (ok) content = parts.Count == 1 ? parts[0].Text : string.Concat(parts.Select(p => p.Text));
                return ok;
            default:
                ctx.WrongType(path, v, "a string or a list of text parts", "quote the text, or write [{\"type\": \"text\", \"text\": \"...\"}]");
                return false;
        }
    }

    private bool ParseWeight(JsonElement v, string path, out int? weight)
    {
        weight = null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && (d == 0 || d == 1))
        {
            weight = (int)d;
            return true;
        }
        ctx.Error(path, IssueCodes.InvalidWeight,
            $"weight must be 0 or 1, got {(v.ValueKind == JsonValueKind.Number ? v.GetRawText() : RecordContext.Kind(v.ValueKind))}: use the number 0 (do not train on this message) or 1 (train on it)");
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ParseToolCalls(JsonElement v, string path, out List<ToolCall>? calls)
    {
        calls = null;
        if (v.ValueKind == JsonValueKind.Null) return true;
        if (v.ValueKind != JsonValueKind.Array)
        {
            ctx.WrongType(path, v, "a list of tool calls", "write [{\"id\": ..., \"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": \"{...}\"}}]");
            return false;
        }
        calls = new List<ToolCall>(v.GetArrayLength());
        bool ok = true;
        int j = 0;
        foreach (var c in v.EnumerateArray())
        {
            var call = ParseToolCall(c, $"{path}[{j++}]");
            if (call is null) ok = false;
            else calls.Add(call);
        }
        return ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ToolCall? ParseToolCall(JsonElement c, string path)
    {
        if (c.ValueKind != JsonValueKind.Object)
        {
            ctx.WrongType(path, c, "a tool call object", "write {\"id\": ..., \"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": \"{...}\"}}");
            return null;
        }
        bool ok = true;
        string? id = null;
        if (c.TryGetProperty("id", out var idValue)) ok &= ctx.TryOptionalString(idValue, path + ".id", out id);
        if (c.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null && !type.ValueEquals("function"u8))
        {
            if (ctx.TryString(type, path + ".type", out var t) && t != "function")
            {
                ctx.Error(path + ".type", IssueCodes.InvalidValue, $"tool call type '{t}': only \"function\" calls are supported");
                ok = false;
            }
        }
        if (!c.TryGetProperty("function", out var function))
        {
            ctx.Error(path + ".function", IssueCodes.MissingField, "the tool call has no 'function': add {\"name\": ..., \"arguments\": \"{...}\"}");
            return null;
        }
        if (function.ValueKind != JsonValueKind.Object)
        {
            ctx.WrongType(path + ".function", function, "an object", "write {\"name\": ..., \"arguments\": \"{...}\"}");
            return null;
        }
        var (name, arguments) = ParseFunction(function, path + ".function");
        return ok && name is not null && arguments is not null ? new ToolCall { Id = id, Name = name, Arguments = arguments } : null;
    }

    /// <summary>A {name, arguments} object; arguments may be a JSON string (OpenAI) or an object (taken as its JSON text).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private (string? Name, string? Arguments) ParseFunction(JsonElement function, string path)
    {
        string? name = null, arguments = null;
        if (!function.TryGetProperty("name", out var nameValue))
            ctx.Error(path + ".name", IssueCodes.MissingField, "the call names no function: add \"name\"");
        else if (ctx.TryString(nameValue, path + ".name", out var n))
        {
            if (string.IsNullOrWhiteSpace(n)) ctx.Error(path + ".name", IssueCodes.EmptyContent, "the function name is empty: name the tool called");
            else name = n;
        }
        if (!function.TryGetProperty("arguments", out var args))
            ctx.Error(path + ".arguments", IssueCodes.MissingField, "the call has no arguments: add \"arguments\": \"{}\" when the function takes none");
        else if (args.ValueKind == JsonValueKind.Object) arguments = args.GetRawText();
        else if (args.ValueKind == JsonValueKind.String)
        {
            if (ctx.TryString(args, path + ".arguments", out var text) && ArgumentsAreValid(text, path + ".arguments")) arguments = text;
        }
        else ctx.Error(path + ".arguments", IssueCodes.ToolCallInvalidJson,
            $"arguments must be a JSON object encoded as a string, got {RecordContext.Kind(args.ValueKind)}: write e.g. \"{{\\\"city\\\": \\\"Paris\\\"}}\"");
        return (name, arguments);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ArgumentsAreValid(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, _argumentOptions);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return true;
            ctx.Error(path, IssueCodes.ToolCallInvalidJson,
                $"arguments must be a JSON object, got {RecordContext.Kind(doc.RootElement.ValueKind)}: wrap them as {{\"name\": value, ...}}");
        }
        catch (JsonException e)
        {
            ctx.Error(path, IssueCodes.ToolCallInvalidJson,
                text.Length == 0 ? "arguments are empty: write \"{}\" when the function takes none"
                                 : $"arguments are not valid JSON ({JsonErrors.Describe(e)}): write them as a JSON object string, e.g. \"{{\\\"city\\\": \\\"Paris\\\"}}\"");
        }
        return false;
    }

    private bool? ParseParallel(JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        ctx.WrongType(field, v, "true or false", "write parallel_tool_calls as a JSON boolean");
        return null;
    }

    // ---------------------------------------------------------------- tools

    /// <summary>Reads a tools field; null (with errors) when it is wrong, <see cref="ToolSet.None"/> when absent.</summary>
    private ToolSet? ParseToolsField(JsonElement root, string field, out JsonArray? tools, out byte[]? utf8, bool lenient = false)
    {
        tools = null;
        utf8 = null;
        if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return ToolSet.None;
        return ParseTools(v, field, out tools, out utf8, lenient);
    }

    /// <param name="lenient">Also accept tools given as a JSON string and flat {name, description, parameters} entries (ShareGPT).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    /// <param name="tools">The tools as nodes when they had to be rewritten (flat ShareGPT tools), else null.</param>
    /// <param name="utf8">The tools as read, when they are used as they are (shared between records that repeat them).</param>
    private ToolSet? ParseTools(JsonElement v, string path, out JsonArray? tools, out byte[]? utf8, bool lenient)
    {
        tools = null;
        utf8 = null;
        if (lenient && v.ValueKind == JsonValueKind.String)
        {
            if (!ctx.TryString(v, path, out var text)) return null;
            if (string.IsNullOrWhiteSpace(text) || text.Trim() == "[]") return ToolSet.None;
            try
            {
                using var doc = JsonDocument.Parse(text, _argumentOptions);
                return ParseTools(doc.RootElement.Clone(), path, out tools, out utf8, lenient);
            }
            catch (JsonException e)
            {
                ctx.Error(path, IssueCodes.InvalidToolDefinition, $"the tools string is not valid JSON ({JsonErrors.Describe(e)}): write the tools as a JSON list");
                return null;
            }
        }
        if (v.ValueKind != JsonValueKind.Array)
        {
            ctx.WrongType(path, v, "a list of tool definitions", "write [{\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}]");
            return null;
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new List<string>();
        bool ok = true, flat = false;
        int k = 0;
        foreach (var tool in v.EnumerateArray())
        {
            string tp = $"{path}[{k++}]";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                ctx.WrongType(tp, tool, "a tool definition object", "write {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}");
                ok = false;
                continue;
            }
            JsonElement function;
            string fp;
            if (tool.TryGetProperty("function", out function))
            {
                fp = tp + ".function";
                if (tool.TryGetProperty("type", out var type) && !(type.ValueKind == JsonValueKind.String && type.ValueEquals("function")))
                {
                    ctx.Error(tp + ".type", IssueCodes.InvalidToolDefinition, "only \"type\": \"function\" tools are supported");
                    ok = false;
                }
                if (function.ValueKind != JsonValueKind.Object)
                {
                    ctx.Error(fp, IssueCodes.InvalidToolDefinition, $"the function definition is {RecordContext.Kind(function.ValueKind)}: write {{\"name\": ..., \"description\": ..., \"parameters\": {{...}}}}");
                    ok = false;
                    continue;
                }
            }
            else if (lenient && tool.TryGetProperty("name", out _))
            {
                function = tool;
                fp = tp;
                flat = true;
            }
            else
            {
                ctx.Error(tp, IssueCodes.InvalidToolDefinition,
                    tool.TryGetProperty("name", out _)
                        ? "the tool is not wrapped: write {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}"
                        : "the tool has no function: write {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}");
                ok = false;
                continue;
            }
            if (!function.TryGetProperty("name", out var nameValue) || nameValue.ValueKind != JsonValueKind.String)
            {
                ctx.Error(fp + ".name", IssueCodes.InvalidToolDefinition, "the tool has no name (a string): add one");
                ok = false;
            }
            else
            {
                string name = nameValue.GetString()!;
                if (!IsValidToolName(name))
                {
                    ctx.Error(fp + ".name", IssueCodes.InvalidToolDefinition, $"tool name '{name}' must be 1-64 letters, digits, '_' or '-': rename it");
                    ok = false;
                }
                else if (!names.Add(name))
                {
                    ctx.Error(fp + ".name", IssueCodes.InvalidToolDefinition, $"tool '{name}' is declared twice: keep one definition");
                    ok = false;
                }
                else ordered.Add(name);
            }
            if (function.TryGetProperty("description", out var description) && description.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                ctx.Error(fp + ".description", IssueCodes.InvalidToolDefinition, "the description must be a string");
                ok = false;
            }
            if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            {
                ctx.Error(fp + ".parameters", IssueCodes.InvalidToolDefinition,
                    $"parameters must be a JSON schema object, got {RecordContext.Kind(parameters.ValueKind)}: write {{\"type\": \"object\", \"properties\": {{...}}}}");
                ok = false;
            }
        }
        if (!ok) return null;
        if (flat)
        {
            tools = [];
            foreach (var tool in v.EnumerateArray())
            {
                var node = JsonNode.Parse(tool.GetRawText())!;
                tools.Add(node is JsonObject o && !o.ContainsKey("function") ? new JsonObject { ["type"] = "function", ["function"] = node } : node);
            }
        }
        else utf8 = InternTools(JsonMarshal.GetRawUtf8Value(v));
        return new ToolSet(true, ordered, names);
    }

    // The tools lists seen lately: datasets repeat the same few, so records share one copy of the bytes.
    private readonly Dictionary<ulong, byte[]> _toolsSeen = [];

    private byte[] InternTools(ReadOnlySpan<byte> json)
    {
        ulong h = 14695981039346656037UL ^ (ulong)json.Length;
        var words = MemoryMarshal.Cast<byte, ulong>(json);
        foreach (ulong w in words) h = (h ^ w) * 0x100000001B3UL;
        for (int i = words.Length * 8; i < json.Length; i++) h = (h ^ json[i]) * 0x100000001B3UL;
        if (_toolsSeen.TryGetValue(h, out var known) && json.SequenceEqual(known)) return known;
        if (_toolsSeen.Count >= 1024) _toolsSeen.Clear();
        return _toolsSeen[h] = json.ToArray();
    }

    private static bool IsValidToolName(string name)
    {
        if (name.Length is 0 or > 64) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-')) return false;
        return true;
    }
}
