using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Evaluation;

namespace Scalpel.Server.Inference;

/// <summary>How a chat request may call tools (OpenAI's tool_choice).</summary>
internal enum ToolMode
{
    /// <summary>No tools, or tool_choice "none": tools are not shown to the model and output is plain content.</summary>
    None,
    /// <summary>tool_choice "auto": the template shows the tools; output that holds calls becomes tool_calls.</summary>
    Auto,
    /// <summary>tool_choice "required" or a named function: output is constrained to one call object.</summary>
    Forced,
}

/// <summary>
/// Tool calls in answers. The model's text is read with <see cref="ToolCallParser"/> (Hermes/Qwen &lt;tool_call&gt; blocks,
/// Mistral [TOOL_CALLS], a bare JSON call object or list). A forced call (tool_choice "required" or a named function) is
/// guaranteed by constrained decoding to the JSON object {"name": NAME, "arguments": {…}} with the function's parameters
/// schema, a shape the parser reads, as vLLM does for forced tool choices.
/// </summary>
internal static class ToolCalls
{
    private static readonly string[] Markers = ["<tool_call>", "[TOOL_CALLS]"];

    /// <summary>The content before the first call (null when there is none) and the calls with fresh ids; calls null when the text holds none.</summary>
    public static (string? Content, JsonArray? Calls) Split(string text)
    {
        if (ToolCallParser.Parse(text) is not { } calls) return (text, null);
        int at = FirstMarker(text) ?? 0;
        string before = text[..at].Trim();
        var withIds = new JsonArray();
        foreach (var call in calls)
        {
            var c = (JsonObject)call!.DeepClone();
            var withId = new JsonObject { ["id"] = NewId() };
            foreach (var (k, v) in c) withId[k] = v?.DeepClone();
            withIds.Add((JsonNode)withId);
        }
        return (before.Length == 0 ? null : before, withIds);
    }

    private static int? FirstMarker(string text)
    {
        int? first = null;
        foreach (var m in Markers)
        {
            int at = text.IndexOf(m, StringComparison.Ordinal);
            if (at >= 0 && (first is null || at < first)) first = at;
        }
        return first;
    }

    public static string NewId()
    {
        const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return "call_" + RandomNumberGenerator.GetString(Alphabet, 24);
    }

    /// <summary>Checks a request's tools: a list of {"type": "function", "function": {"name", "description"?, "parameters"?}}.</summary>
    public static JsonArray Validate(JsonNode tools)
    {
        if (tools is not JsonArray list) throw ApiException.BadParam("tools", "'tools' must be a list.");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < list.Count; i++)
        {
            string param = $"tools[{i}]";
            if (list[i] is not JsonObject tool || tool["type"]?.GetValueKind() != JsonValueKind.String || (string?)tool["type"] != "function")
                throw ApiException.BadParam(param, $"'{param}' must be {{\"type\": \"function\", \"function\": {{...}}}}.");
            if (tool["function"] is not JsonObject function || function["name"] is not JsonValue name || name.GetValueKind() != JsonValueKind.String
                || ((string?)name)!.Length == 0)
                throw ApiException.BadParam($"{param}.function.name", $"'{param}.function.name' must be a non-empty string.");
            if (function["parameters"] is { } parameters && parameters is not JsonObject)
                throw ApiException.BadParam($"{param}.function.parameters", $"'{param}.function.parameters' must be a JSON schema object.");
            if (!names.Add((string)name!)) throw ApiException.BadParam(param, $"Two tools are named '{(string)name!}'.");
        }
        return list;
    }

    /// <summary>tool_choice: none, auto (the default with tools), required, or {"type": "function", "function": {"name"}}.</summary>
    public static (ToolMode Mode, string? Name) Choice(JsonNode? choice, JsonArray? tools)
    {
        if (choice is null) return (tools is { Count: > 0 } ? ToolMode.Auto : ToolMode.None, null);
        if (choice is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            string s = v.GetValue<string>();
            var mode = s switch
            {
                "none" => ToolMode.None,
                "auto" => ToolMode.Auto,
                "required" => ToolMode.Forced,
                _ => throw ApiException.BadParam("tool_choice", $"'tool_choice' must be none, auto, required or a function (got '{s}')."),
            };
            if (mode != ToolMode.None && tools is not { Count: > 0 })
                throw ApiException.BadParam("tool_choice", $"'tool_choice' {s} needs 'tools'.");
            return (mode, null);
        }
        if (choice is JsonObject o && o["function"]?["name"] is JsonValue n && n.GetValueKind() == JsonValueKind.String)
        {
            string name = n.GetValue<string>();
            if (tools is null || !tools.Any(t => (string?)t!["function"]!["name"] == name))
                throw ApiException.BadParam("tool_choice", $"'tool_choice' names '{name}', which is not among 'tools'.");
            return (ToolMode.Forced, name);
        }
        throw ApiException.BadParam("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}.");
    }

    /// <summary>The JSON schema of one call to the named tool, or to any of them: {"name": NAME, "arguments": PARAMETERS}.</summary>
    public static JsonObject ForcedSchema(JsonArray tools, string? name)
    {
        var options = new JsonArray();
        foreach (var tool in tools)
        {
            var function = tool!["function"]!;
            string toolName = (string)function["name"]!;
            if (name is not null && toolName != name) continue;
            options.Add((JsonNode)new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["const"] = toolName },
                    ["arguments"] = function["parameters"]?.DeepClone() ?? new JsonObject { ["type"] = "object" },
                },
                ["required"] = new JsonArray("name", "arguments"),
            });
        }
        return options.Count == 1 ? (JsonObject)options[0]!.DeepClone() : new JsonObject { ["anyOf"] = options };
    }

    /// <summary>
    /// Streams the content of an answer that may end in tool calls: text is passed on as it comes, except what may be a
    /// call: from a call marker (or a partial one at the end) on, or everything when the answer opens with '{' or '['
    /// (a bare JSON call). At the end, <see cref="Finish"/> tells whether the held text was calls or content after all.
    /// </summary>
    public sealed class StreamFilter
    {
        private readonly StringBuilder _text = new();
        private int _sent;

        public string Push(string piece)
        {
            _text.Append(piece);
            int safe = SafeEnd(_text.ToString());
            if (safe <= _sent) return "";
            string ready = _text.ToString(_sent, safe - _sent);
            _sent = safe;
            return ready;
        }

        /// <summary>The text still held back when it was content, or the calls it holds.</summary>
        public (string RestOfContent, JsonArray? Calls) Finish()
        {
            string all = _text.ToString();
            var (_, calls) = Split(all);
            return calls is not null ? ("", calls) : (all[_sent..], null);
        }

        private static int SafeEnd(string text)
        {
            string trimmed = text.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] is '{' or '[') return 0;
            if (FirstMarker(text) is { } at) return at;
            // Hold back a tail that could be the start of a marker.
            int held = 0;
            foreach (var m in Markers)
                for (int k = Math.Min(m.Length - 1, text.Length); k > held; k--)
                    if (text.AsSpan(text.Length - k).SequenceEqual(m.AsSpan(0, k))) { held = k; break; }
            return text.Length - held;
        }
    }
}
