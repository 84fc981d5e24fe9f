using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// A metric's options as written in a suite (<c>labels: [yes, no]</c>, <c>schema: {...}</c>, <c>beta: 2</c>): a JSON
/// object, read through typed getters that name the metric and option in their errors. Each metric accepts a fixed
/// set of keys and rejects any other when it is created, so a misspelt option is an error rather than a default.
/// </summary>
public sealed class MetricOptions
{
    private readonly JsonObject _values;

    public MetricOptions(JsonObject? values = null) => _values = values ?? [];

    public static MetricOptions Empty => new();

    public IEnumerable<string> Keys => _values.Select(p => p.Key);

    public bool Contains(string key) => _values.ContainsKey(key);

    /// <summary>
    /// Options from a YAML mapping (YAML 1.2 core schema): plain scalars that are JSON numbers, <c>true</c>/<c>false</c>
    /// or <c>null</c>/<c>~</c> become those; quoted and block scalars stay strings.
    /// </summary>
    public static MetricOptions FromYaml(YamlNode? node) => node switch
    {
        null => Empty,
        YamlMappingNode => new MetricOptions(YamlToJson(node)!.AsObject()),
        _ when IsYamlNull(node) => Empty,
        _ => throw new ArgumentException($"metric options must be a mapping, not {node.NodeType} (at {node.Start})"),
    };

    /// <summary>Converts a YAML node to JSON by the same rules as <see cref="FromYaml"/>.</summary>
    public static JsonNode? YamlToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (key, value) in map.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                        throw new ArgumentException($"mapping keys must be scalars (at {key.Start})");
                    if (obj.ContainsKey(name)) throw new ArgumentException($"duplicate key '{name}' (at {key.Start})");
                    obj[name] = YamlToJson(value);
                }
                return obj;
            case YamlSequenceNode seq:
                return new JsonArray([.. seq.Children.Select(YamlToJson)]);
            case YamlScalarNode scalar:
                string text = scalar.Value ?? "";
                if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any)) return JsonValue.Create(text);
                if (IsYamlNull(scalar)) return null;
                if (text is "true" or "True" or "TRUE") return JsonValue.Create(true);
                if (text is "false" or "False" or "FALSE") return JsonValue.Create(false);
                if (text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] == '-'))
                {
                    try { return JsonNode.Parse(text); }
                    catch (JsonException) { }
                }
                return JsonValue.Create(text);
            default:
                throw new ArgumentException($"unsupported YAML node {node.NodeType} (at {node.Start})");
        }
    }

    private static bool IsYamlNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>Throws if any key is not one of <paramref name="allowed"/>.</summary>
    public void EnsureOnly(string metric, params string[] allowed)
    {
        foreach (var key in Keys)
            if (!allowed.Contains(key))
                throw new ArgumentException(allowed.Length == 0
                    ? $"metric '{metric}' takes no options, got '{key}'"
                    : $"metric '{metric}' has no option '{key}' (options: {string.Join(", ", allowed)})");
    }

    public JsonNode? GetNode(string key) => _values[key];

    public string? GetString(string metric, string key) => _values[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        var other => throw Wrong(metric, key, "a string", other),
    };

    public bool GetBool(string metric, string key, bool fallback) => _values[key] switch
    {
        null => fallback,
        JsonValue v when v.TryGetValue(out bool b) => b,
        JsonValue v when v.TryGetValue(out string? s) && bool.TryParse(s, out bool b) => b,
        var other => throw Wrong(metric, key, "true or false", other),
    };

    public double GetDouble(string metric, string key, double fallback) => _values[key] switch
    {
        null => fallback,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        var other => throw Wrong(metric, key, "a number", other),
    };

    public int GetInt(string metric, string key, int fallback)
    {
        double d = GetDouble(metric, key, fallback);
        if (d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue) throw Wrong(metric, key, "an integer", _values[key]);
        return (int)d;
    }

    /// <summary>A list of strings; a single string counts as a list of one, and numbers and booleans as their JSON text.</summary>
    public IReadOnlyList<string>? GetStringList(string metric, string key) => _values[key] switch
    {
        null => null,
        JsonArray a => [.. a.Select(x => ScalarText(x) ?? throw Wrong(metric, key, "a list of strings", _values[key]))],
        var other => ScalarText(other) is { } s ? [s] : throw Wrong(metric, key, "a list of strings", other),
    };

    private static string? ScalarText(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonValue v when v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.ToJsonString(),
        _ => null,
    };

    private static ArgumentException Wrong(string metric, string key, string expected, JsonNode? got) =>
        new($"metric '{metric}': option '{key}' must be {expected}, got {got?.ToJsonString() ?? "null"}");
}
