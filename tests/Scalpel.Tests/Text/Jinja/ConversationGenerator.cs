using System.Text;
using System.Text.Json.Nodes;

namespace Scalpel.Tests.Text.Jinja;

/// <summary>
/// Random chat conversations for differential template tests: text in many scripts, emoji (ZWJ sequences, skin tones,
/// flags), combining marks, whitespace and newline runs, empty strings, quotes, backslashes, braces, template-like and
/// special-token-like text, digits; optional system prompt; tool definitions, tool calls (arguments as objects or JSON
/// strings) and tool results; reasoning in &lt;think&gt; blocks.
/// </summary>
public sealed class ConversationGenerator(int seed)
{
    private readonly Random _rng = new(seed);

    /// <summary>Assistant texts (content and reasoning) get no whitespace but "\n" at their edges and no stray think tags
    /// (for templates that strip("\n"): @huggingface/jinja ignores strip's argument and strips all whitespace).</summary>
    public bool NewlineOnlyEdges { get; init; }
    /// <summary>How often a conversation comes with tool definitions (and then tool calls).</summary>
    public double ToolsChance { get; init; } = 0.5;
    /// <summary>Whether tool parameters include an array-typed one.</summary>
    public bool ArrayParameters { get; init; } = true;

    private static readonly string[] Words =
    [
        "hello", "world", "Hi", "The", "quick", "brown", "fox", "answer", "question", "tool", "call", "Paris", "API",
        "Grüße", "naïve", "café", "façade", "smörgåsbord", "Ελληνικά", "русский", "язык", "العربية", "مرحبا", "עברית",
        "हिन्दी", "বাংলা", "தமிழ்", "中文", "汉字", "日本語", "ひらがな", "カタカナ", "한국어", "ไทย", "ქართული", "Հայերեն",
        "👍", "👍🏽", "😀", "🎉", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "✓", "—", "…", "€", "£", "°C",
        "e\u0301", "a\u0308", "\u200b", "\u200d", "\u2060", "ﬁ", "ß", "İ", "ǅ", "Σ", "ς",
    ];

    private static readonly string[] Spaces = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028"];

    private static readonly string[] Symbols =
    [
        "'", "\"", "\\", "\\n", "{", "}", "{{", "}}", "{%", "%}", "{#", "#}", "{{ x }}", "{% if %}", "<", ">", "&", "&amp;",
        "</s>", "<s>", "<|im_end|>", "<|im_start|>", "<|eot_id|>", "<think>", "</think>", "[INST]", "[/INST]", "<tool_call>",
        "```", "```json", "%s", "%d", "{}", "{0}", "$", "null", "None", "true", ":", ",", ".", "!", "?", "(", ")", "[", "]", "|", "~", "#",
        "0", "1", "42", "3.14", "-7", "1e5", "007", "1,000", "12:30", "2024-07-26",
    ];

    private T Pick<T>(IReadOnlyList<T> items) => items[_rng.Next(items.Count)];
    private bool Chance(double p) => _rng.NextDouble() < p;

    public string Text(int maxTokens = 24)
    {
        double r = _rng.NextDouble();
        if (r < 0.06) return "";
        if (r < 0.09) return string.Concat(Enumerable.Range(0, 1 + _rng.Next(3)).Select(_ => Pick(Spaces)));
        var sb = new StringBuilder();
        int n = 1 + _rng.Next(maxTokens);
        if (Chance(0.15)) sb.Append(Pick(Spaces));
        for (int i = 0; i < n; i++)
        {
            double k = _rng.NextDouble();
            string piece = k < 0.6 ? Pick(Words) : k < 0.85 ? Pick(Symbols) : Pick(Spaces);
            // With NewlineOnlyEdges, no stray think tags: templates split on them and strip("\n") the pieces.
            if (NewlineOnlyEdges && piece.Contains("think", StringComparison.Ordinal)) piece = "think";
            sb.Append(piece);
            if (Chance(0.5)) sb.Append(' ');
        }
        if (Chance(0.15)) sb.Append(Pick(Spaces));
        return sb.ToString();
    }

    private string Identifier() => Pick(["get_weather", "search", "lookup_user", "calc", "send_email", "f", "tool_with_long_name_42"]);

    private string CallId() => new(Enumerable.Range(0, 9).Select(_ => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[_rng.Next(62)]).ToArray());

    private JsonNode? Value(int depth)
    {
        double r = _rng.NextDouble();
        if (depth > 1 && r < 0.3) r = 0.5;
        return r switch
        {
            < 0.12 => new JsonObject { [Identifier()] = Value(depth + 1), ["k" + _rng.Next(100)] = Value(depth + 1) },
            < 0.2 => new JsonArray(Enumerable.Range(0, _rng.Next(4)).Select(_ => Value(depth + 1)).ToArray()),
            < 0.5 => Text(6),
            < 0.65 => _rng.Next(-1000, 100000),
            < 0.75 => Math.Round(_rng.NextDouble() * 100, 2) + 0.01,   // never integral: see the float deviation note
            _ => Chance(0.5),
        };
    }

    public JsonArray Tools()
    {
        var tools = new JsonArray();
        foreach (var name in new[] { "get_weather", "search", "lookup_user" }.Take(1 + _rng.Next(3)))
        {
            var properties = new JsonObject();
            var required = new JsonArray();
            foreach (var p in new[] { "city", "query", "days", "unit", "flags" }.Where(p => (ArrayParameters || p != "flags") && Chance(0.6)))
            {
                properties[p] = p switch
                {
                    "days" => new JsonObject { ["type"] = "integer", ["description"] = Text(6) },
                    "unit" => new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("c", "f"), ["description"] = "Unit" },
                    "flags" => new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = "Flags" },
                    _ => new JsonObject { ["type"] = "string", ["description"] = Text(8) },
                };
                if (Chance(0.5)) required.Add(p);
            }
            tools.Add(new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = name,
                    ["description"] = Text(12),
                    ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = properties, ["required"] = required },
                },
            });
        }
        return tools;
    }

    private JsonObject ToolCall(bool stringArguments)
    {
        var args = new JsonObject();
        foreach (var k in new[] { "city", "query", "days", "unit", "flags" }.Where(_ => Chance(0.5))) args[k] = Value(0);
        return new JsonObject
        {
            ["id"] = CallId(),
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = Identifier(), ["arguments"] = stringArguments ? args.ToJsonString() : args },
        };
    }

    private string AssistantText() => Chance(0.12) ? $"<think>\n{Edge(Text(10))}\n</think>\n\n{Edge(Text())}" : Edge(Text());

    private string Edge(string text)
    {
        if (!NewlineOnlyEdges) return text;
        string core = text.Trim();   // .NET's whitespace set covers everything JS and Python strip
        return new string('\n', _rng.Next(3)) + core + (core.Length > 0 ? new string('\n', _rng.Next(3)) : "");
    }

    /// <summary>User texts of one conversation are distinct (templates compare messages with ==, which
    /// @huggingface/jinja evaluates by reference and Python by value).</summary>
    private string UserText(HashSet<string> used)
    {
        for (int attempt = 0; ; attempt++)
        {
            string t = Text();
            if (used.Add(t)) return t;
            if (attempt > 20) { t += " #" + used.Count; used.Add(t); return t; }
        }
    }

    /// <summary>A conversation: optional system prompt, user/assistant turns, tool calls and results when tools is true.</summary>
    public JsonArray Messages(bool tools, bool endWithAssistant)
    {
        var messages = new JsonArray();
        var userTexts = new HashSet<string>(StringComparer.Ordinal);
        if (Chance(0.5)) messages.Add(new JsonObject { ["role"] = "system", ["content"] = Text() });
        int turns = 1 + _rng.Next(4);
        for (int t = 0; t < turns; t++)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = UserText(userTexts) });
            bool last = t == turns - 1;
            if (last && !endWithAssistant) break;
            if (tools && Chance(0.4))
            {
                bool stringArguments = Chance(0.3);
                var calls = new JsonArray(Enumerable.Range(0, 1 + (Chance(0.25) ? 1 : 0)).Select(_ => (JsonNode?)ToolCall(stringArguments)).ToArray());
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = Chance(0.5) ? "" : Edge(Text()), ["tool_calls"] = calls });
                foreach (var call in calls)
                    messages.Add(new JsonObject
                    {
                        ["role"] = "tool",
                        ["tool_call_id"] = (string)call!["id"]!,
                        ["name"] = (string)call["function"]!["name"]!,
                        ["content"] = Chance(0.5) ? new JsonObject { ["result"] = Value(1) }.ToJsonString() : Text(),
                    });
            }
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = AssistantText() });
        }
        return messages;
    }

    /// <summary>A whole render context as the differential tests send it to both engines.</summary>
    public JsonObject Context()
    {
        bool tools = Chance(ToolsChance);
        var context = new JsonObject
        {
            ["messages"] = Messages(tools, endWithAssistant: Chance(0.5)),
            ["add_generation_prompt"] = Chance(0.5),
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["date_string"] = "26 Jul 2024",
            ["tools"] = tools ? Tools() : null,
        };
        return context;
    }
}
