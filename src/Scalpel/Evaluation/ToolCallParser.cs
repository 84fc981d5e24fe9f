using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Scalpel.Evaluation;

/// <summary>
/// Finds tool calls in generated text, in the shapes chat templates teach: Hermes/Qwen &lt;tool_call&gt;{...}&lt;/tool_call&gt;
/// blocks, Mistral's [TOOL_CALLS] [...] list, or an answer that is itself a JSON call object or list (Llama 3).
/// A call is {"name": ..., "arguments" or "parameters": {...}}. Returns calls in OpenAI form
/// ({"type": "function", "function": {"name", "arguments": JSON text}}), or null when the text holds none.
/// </summary>
public static partial class ToolCallParser
{
    [GeneratedRegex(@"<tool_call>\s*(.*?)\s*</tool_call>", RegexOptions.Singleline)]
    private static partial Regex TaggedCall();

    public static JsonArray? Parse(string text)
    {
        var calls = new JsonArray();
        var tagged = TaggedCall().Matches(text);
        if (tagged.Count > 0)
        {
            foreach (Match m in tagged) AddCalls(ParseJson(m.Groups[1].Value), calls);
            return calls.Count > 0 ? calls : null;
        }
        string body = text.Trim();
        int marker = body.IndexOf("[TOOL_CALLS]", StringComparison.Ordinal);
        if (marker >= 0) body = body[(marker + "[TOOL_CALLS]".Length)..].Trim();
        if (body.StartsWith('{') || body.StartsWith('['))
            AddCalls(ParseJson(body), calls);
        return calls.Count > 0 ? calls : null;
    }

    private static JsonNode? ParseJson(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void AddCalls(JsonNode? node, JsonArray calls)
    {
        switch (node)
        {
            case JsonArray list:
                foreach (var item in list) AddCalls(item, calls);
                break;
            case JsonObject o when o["function"] is JsonObject f:          // already OpenAI-shaped
                AddCalls(f, calls);
                break;
            case JsonObject o when o["name"] is JsonValue name && name.TryGetValue<string>(out var n):
                var args = o["arguments"] ?? o["parameters"];
                string argumentText = args switch
                {
                    null => "{}",
                    JsonValue v when v.TryGetValue<string>(out var s) => s,
                    _ => args.ToJsonString(),
                };
                calls.Add((JsonNode)new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = n, ["arguments"] = argumentText },
                });
                break;
        }
    }
}
