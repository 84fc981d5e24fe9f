using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Scalpel.Data;

/// <summary>
/// A field path such as <c>messages[2].content</c>, formatted only when an issue needs it (building the string for
/// every field of every record would cost more than the checks).
/// </summary>
internal readonly struct FieldPath(string prefix, int index = -1, string suffix = "")
{
    public static implicit operator FieldPath(string path) => new(path);
    public override string ToString() => index < 0 ? prefix + suffix : $"{prefix}[{index}]{suffix}";
}

/// <summary>The record being parsed and the issues found in it.</summary>
internal sealed class RecordContext(string file)
{
    public string File { get; } = file;
    public long Line { get; private set; }
    public List<DataIssue> Errors { get; } = [];
    public List<DataIssue> Warnings { get; } = [];

    public void Reset(long line)
    {
        Line = line;
        Errors.Clear();
        Warnings.Clear();
    }

    public void Error(string field, string code, string message) => Errors.Add(new DataIssue(File, Line, field, code, message));
    public void Warn(string field, string code, string message) => Warnings.Add(new DataIssue(File, Line, field, code, message));

    public static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    public void WrongType(FieldPath field, JsonElement value, string expected, string fix) =>
        Error(field.ToString(), IssueCodes.WrongType, $"expected {expected}, got {Kind(value.ValueKind)}: {fix}");

    /// <summary>Reads a string value; reports wrong types and lone surrogates (\ud800 escapes without a pair).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryString(JsonElement value, FieldPath field, out string text, string fix = "write it as a JSON string")
    {
        text = "";
        if (value.ValueKind != JsonValueKind.String)
        {
            WrongType(field, value, "a string", fix);
            return false;
        }
        try
        {
            text = value.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            Error(field.ToString(), IssueCodes.LoneSurrogate,
                "the string holds a \\uD800-\\uDFFF escape without its pair (a broken emoji or cut text): remove it or write the whole character");
            return false;
        }
    }

    /// <summary>An optional string: absent or null gives null without an error.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryOptionalString(JsonElement value, FieldPath field, out string? text)
    {
        text = null;
        if (value.ValueKind == JsonValueKind.Null) return true;
        if (!TryString(value, field, out var s)) return false;
        text = s;
        return true;
    }

    public static string Preview(string text, int max = 60)
    {
        string oneLine = text.ReplaceLineEndings(" ").Trim();
        return oneLine.Length <= max ? oneLine : oneLine[..max] + "…";
    }
}
