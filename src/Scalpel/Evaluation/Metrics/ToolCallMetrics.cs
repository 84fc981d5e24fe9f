using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// A tool call reduced to what is scored: its function name and its arguments as a JSON value. Read from OpenAI form
/// (<c>{"type": "function", "function": {"name": ..., "arguments": "{...}"}}</c>) or the flat
/// <c>{"name": ..., "arguments": ...}</c>; arguments given as a JSON string are parsed (a string that does not parse
/// stays a string, so it equals only the same text), and missing or empty arguments are <c>{}</c>.
/// </summary>
public sealed record ToolCall(string? Name, JsonElement Arguments)
{
    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    public static ToolCall From(JsonNode? call)
    {
        var function = call is JsonObject o && o["function"] is JsonObject f ? f : call as JsonObject;
        string? name = function?["name"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        JsonElement arguments = function?["arguments"] switch
        {
            null => EmptyObject,
            JsonValue text when text.TryGetValue(out string? raw) =>
                string.IsNullOrWhiteSpace(raw) ? EmptyObject
                : JsonValues.TryParse(raw, stripCodeFence: false, out var parsed, out _) ? parsed
                : JsonValues.ToElement(JsonValue.Create(raw)),
            var node => JsonValues.ToElement(node),
        };
        return new ToolCall(name, arguments);
    }

    public static IReadOnlyList<ToolCall> FromArray(JsonArray? calls) => calls is null ? [] : [.. calls.Select(From)];

    /// <summary>Same name and arguments equal as JSON (<see cref="JsonValues.Equal"/>).</summary>
    public bool Matches(ToolCall other) => Name is not null && Name == other.Name && JsonValues.Equal(Arguments, other.Arguments);
}

/// <summary>
/// <c>tool_call_accuracy</c> (names and arguments) and <c>tool_name_accuracy</c> (names only): an item scores 1 when its
/// predicted tool calls equal the reference calls as a multiset (parallel calls in any order, each matched once), 0
/// otherwise. No reference calls (null or empty) means the right answer is to call nothing.
/// </summary>
public sealed class ToolCallMetric(bool namesOnly) : PerExampleMetric
{
    public override string Name => namesOnly ? "tool_name_accuracy" : "tool_call_accuracy";

    public static bool SameCalls(IReadOnlyList<ToolCall> predicted, IReadOnlyList<ToolCall> reference, bool namesOnly)
    {
        if (predicted.Count != reference.Count) return false;
        // Matching is an equivalence (equal names, equal JSON), so greedy pairing decides multiset equality.
        var unused = new List<ToolCall>(reference);
        foreach (var call in predicted)
        {
            int j = unused.FindIndex(r => namesOnly ? call.Name is not null && call.Name == r.Name : call.Matches(r));
            if (j < 0) return false;
            unused.RemoveAt(j);
        }
        return true;
    }

    protected override double Score(EvalItem item, out string? note)
    {
        var reference = ToolCall.FromArray(item.ReferenceToolCalls);
        if (reference.Any(c => c.Name is null)) throw new ArgumentException($"metric '{Name}': a reference tool call has no function name: {item.ReferenceToolCalls!.ToJsonString()}");
        var predicted = ToolCall.FromArray(item.PredictedToolCalls);
        bool same = SameCalls(predicted, reference, namesOnly);
        note = same ? null : $"predicted [{string.Join(", ", predicted.Select(c => c.Name ?? "?"))}], expected [{string.Join(", ", reference.Select(c => c.Name))}]";
        return same ? 1 : 0;
    }
}
