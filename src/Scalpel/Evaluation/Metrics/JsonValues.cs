using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Evaluation.Metrics;

/// <summary>JSON parsing and comparison shared by the JSON and tool-call metrics.</summary>
public static class JsonValues
{
    /// <summary>
    /// Deep equality of JSON values: object members in any order, arrays in order, strings ordinally, numbers by
    /// value (1, 1.0 and 1e0 are equal; <see cref="JsonElement.DeepEquals"/>), true and 1 different.
    /// </summary>
    public static bool Equal(JsonElement a, JsonElement b) => JsonElement.DeepEquals(a, b);

    /// <summary>Whether a JSON number has no fractional part (JSON Schema's integer: 1.0 is one).</summary>
    public static bool IsInteger(JsonElement number) =>
        number.TryGetDecimal(out decimal d) ? d == decimal.Truncate(d) : double.IsFinite(number.GetDouble()) && Math.Floor(number.GetDouble()) == number.GetDouble();

    /// <summary>Compares two JSON numbers by value (exactly where both fit a decimal, else as doubles).</summary>
    public static int CompareNumbers(JsonElement a, JsonElement b) =>
        a.TryGetDecimal(out decimal x) && b.TryGetDecimal(out decimal y) ? x.CompareTo(y) : a.GetDouble().CompareTo(b.GetDouble());

    /// <summary>A <see cref="JsonNode"/> as a <see cref="JsonElement"/> (null as JSON null).</summary>
    public static JsonElement ToElement(JsonNode? node)
    {
        using var doc = JsonDocument.Parse(node?.ToJsonString() ?? "null");
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// Parses <paramref name="text"/> as one JSON value (RFC 8259: no comments, no trailing commas; surrounding
    /// whitespace allowed). With <paramref name="stripCodeFence"/>, a Markdown code fence around the whole text
    /// (<c>```json ... ```</c>) is removed first.
    /// </summary>
    public static bool TryParse(string text, bool stripCodeFence, out JsonElement value, out string? error)
    {
        if (stripCodeFence) text = StripCodeFence(text);
        try
        {
            using var doc = JsonDocument.Parse(text);
            value = doc.RootElement.Clone();
            error = null;
            return true;
        }
        catch (JsonException e)
        {
            value = default;
            error = e.Message;
            return false;
        }
    }

    /// <summary>The inside of a Markdown code fence that wraps the whole (trimmed) text, or the text unchanged.</summary>
    public static string StripCodeFence(string text)
    {
        string t = text.Trim();
        if (!t.StartsWith("```", StringComparison.Ordinal) || !t.EndsWith("```", StringComparison.Ordinal) || t.Length < 6) return text;
        int firstNewline = t.IndexOf('\n');
        if (firstNewline < 0) return text;
        return t[(firstNewline + 1)..^3];
    }
}
