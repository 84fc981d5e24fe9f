using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scalpel.Training.Config;

/// <summary>
/// The config as raw YAML nodes by dotted path, YAML first and then each <c>--set</c> override on top, each
/// remembering where it came from ("config.yaml:12" or "--set training.lr=1"). Unknown fields are rejected while
/// reading; typed getters check one field each and collect every error instead of stopping at the first.
/// YAML goes through YamlDotNet's representation model (no reflection, so trimming keeps it working).
/// </summary>
internal sealed class ConfigValues
{
    internal sealed record Entry(YamlNode Node, string Where, bool FromOverride);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<string> _overrides = [];

    private ConfigValues(string sourceName, string baseDirectory)
    {
        SourceName = sourceName;
        BaseDirectory = baseDirectory;
    }

    public string SourceName { get; }
    public string BaseDirectory { get; }
    public List<string> Errors { get; } = [];
    /// <summary>The errors in reading order: YAML lines top to bottom, then overrides left to right, then missing fields.</summary>
    public IReadOnlyList<string> SortedErrors() =>
        Errors.OrderBy(e =>
        {
            if (e.StartsWith(SourceName + ":", StringComparison.Ordinal))
            {
                var rest = e.AsSpan(SourceName.Length + 1);
                int digits = 0;
                while (digits < rest.Length && char.IsAsciiDigit(rest[digits])) digits++;
                if (digits > 0 && long.TryParse(rest[..digits], out long line)) return (0, line);
            }
            for (int i = 0; i < _overrides.Count; i++)
                if (e.StartsWith($"--set {_overrides[i]}:", StringComparison.Ordinal)) return (1, i);
            return (2, 0L);
        }).ToList();

    /// <summary>The text is not YAML at all: field checks would only add noise.</summary>
    public bool Unreadable { get; private set; }

    public static ConfigValues Read(string yaml, string sourceName, string baseDirectory, IReadOnlyList<string> overrides)
    {
        var values = new ConfigValues(sourceName, baseDirectory);
        if (values.LoadYaml(yaml) is { } root)
            values.Flatten(root, "", node => $"{sourceName}:{node.Start.Line}", fromOverride: false);
        values._overrides.AddRange(overrides);
        foreach (string assignment in overrides) values.ApplyOverride(assignment);
        return values;
    }

    private YamlNode? LoadYaml(string yaml)
    {
        var stream = new YamlStream();
        var scanner = new Scanner(new StringReader(yaml));
        try { stream.Load(new Parser(scanner)); }
        catch (YamlException e)
        {
            Errors.Add($"{SourceName}:{e.Start.Line}: not valid YAML: {PlainMessage(e)}");
            Unreadable = true;
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet 16 throws this on some unterminated flow collections instead of a YamlException.
            Errors.Add($"{SourceName}:{scanner.CurrentPosition.Line}: not valid YAML: unexpected text (an unclosed '[', '{{' or quote?)");
            Unreadable = true;
            return null;
        }
        if (stream.Documents.Count == 0) return null;
        if (stream.Documents.Count > 1)
            Errors.Add($"{SourceName}:{stream.Documents[1].RootNode.Start.Line}: the config must be one YAML document, found {stream.Documents.Count}");
        return stream.Documents[0].RootNode;
    }

    /// <summary>
    /// KEY=VALUE. VALUE is taken literally (so a path may hold ": " or "#"), except that a value starting with '[',
    /// '{' or a quote is read as YAML: "[q_proj,v_proj]" is a list, "{rank: 4}" sets fields of a section. An empty
    /// value, "null" or "~" unsets the field.
    /// </summary>
    private void ApplyOverride(string assignment)
    {
        string where = $"--set {assignment}";
        int eq = assignment.IndexOf('=');
        if (eq <= 0)
        {
            Errors.Add($"{where}: expected KEY=VALUE with KEY a dotted field path such as training.lr");
            return;
        }
        string key = assignment[..eq].Trim();
        string text = assignment[(eq + 1)..].Trim();
        if (!ConfigSchema.IsField(key) && !ConfigSchema.IsSection(key))
        {
            Errors.Add($"{where}: {key}: unknown field{ConfigSchema.Suggest(key)}");
            return;
        }

        YamlNode node = new YamlScalarNode(text);
        if (text.TrimStart() is ['[' or '{' or '"' or '\'', ..])
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(text));
                if (stream.Documents.Count > 0) node = stream.Documents[0].RootNode;
            }
            catch (Exception e) when (e is YamlException or InvalidOperationException)
            {
                Errors.Add($"{where}: {key}: the value is not valid YAML: {(e is YamlException y ? PlainMessage(y) : "unclosed bracket or quote?")}");
                return;
            }
        }

        if (ConfigSchema.IsSection(key))
        {
            if (node is YamlMappingNode) Flatten(node, key, _ => where, fromOverride: true);
            else Errors.Add($"{where}: {key}: is a section; set one of its fields ({string.Join(", ", ConfigSchema.Children(key))}) or give a mapping {{field: value}}");
            return;
        }
        _entries[key] = new Entry(node, where, FromOverride: true);
    }

    private void Flatten(YamlNode node, string section, Func<YamlNode, string> where, bool fromOverride)
    {
        if (IsNull(node)) return;   // "lora:" with nothing under it: every field keeps its default
        if (node is not YamlMappingNode mapping)
        {
            string what = section.Length == 0 ? "the config" : section;
            Errors.Add($"{where(node)}: {(section.Length == 0 ? "" : section + ": ")}expected a mapping of fields, got {Describe(node)}"
                       + (section.Length == 0 ? "" : $"; fields of {what}: {string.Join(", ", ConfigSchema.Children(section))}"));
            return;
        }
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } name })
            {
                Errors.Add($"{where(keyNode)}: field names must be plain words");
                continue;
            }
            string path = section.Length == 0 ? name : $"{section}.{name}";
            if (ConfigSchema.IsSection(path)) Flatten(value, path, where, fromOverride);
            else if (ConfigSchema.IsField(path)) _entries[path] = new Entry(value, where(keyNode), fromOverride);
            else Errors.Add($"{where(keyNode)}: {path}: unknown field{ConfigSchema.Suggest(path)}");
        }
    }

    // ---- reading one field: each getter returns the fallback when the field is unset or wrong, and records why ----

    /// <summary>Set to a non-null value (YAML or override).</summary>
    public bool IsSet(string path) => _entries.TryGetValue(path, out var e) && !IsNull(e.Node);

    /// <summary>"config.yaml:12" or "--set …" for a set field, the file name otherwise.</summary>
    public string Where(string path) => _entries.TryGetValue(path, out var e) ? e.Where : SourceName;

    public void Error(string path, string message) => Errors.Add($"{Where(path)}: {path}: {message}");

    public void Missing(string path) => Errors.Add($"{SourceName}: {path}: required field is missing");

    private string? Scalar(string path, string expected)
    {
        if (!_entries.TryGetValue(path, out var e) || IsNull(e.Node)) return null;
        if (e.Node is YamlScalarNode { Value: { } v }) return v;
        Error(path, $"expected {expected}, got {Describe(e.Node)}");
        return null;
    }

    public int? OptionalInt(string path, int min)
    {
        if (Scalar(path, "a whole number") is not { } text) return null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value))
        {
            Error(path, $"expected a whole number, got '{text}'");
            return null;
        }
        if (value < min)
        {
            Error(path, $"must be at least {min}, got {value}");
            return null;
        }
        return value;
    }

    public int Int(string path, int fallback, int min) => OptionalInt(path, min) ?? fallback;

    /// <summary>A finite number in [min, max] (bounds exclusive where asked).</summary>
    public double? OptionalDouble(string path, double min, double max = double.PositiveInfinity, bool minExclusive = false, bool maxExclusive = false)
    {
        if (Scalar(path, "a number") is not { } text) return null;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            Error(path, $"expected a number, got '{text}'");
            return null;
        }
        bool below = minExclusive ? value <= min : value < min;
        bool above = maxExclusive ? value >= max : value > max;
        if (below || above)
        {
            string range = double.IsPositiveInfinity(max)
                ? (minExclusive ? $"> {Format(min)}" : $"at least {Format(min)}")
                : $"in {(minExclusive ? "(" : "[")}{Format(min)}, {Format(max)}{(maxExclusive ? ")" : "]")}";
            Error(path, $"must be {range}, got {text}");
            return null;
        }
        return value;
    }

    public double Double(string path, double fallback, double min, double max = double.PositiveInfinity, bool minExclusive = false, bool maxExclusive = false) =>
        OptionalDouble(path, min, max, minExclusive, maxExclusive) ?? fallback;

    public bool Bool(string path, bool fallback)
    {
        if (Scalar(path, "true or false") is not { } text) return fallback;
        if (text.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
        if (text.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
        Error(path, $"expected true or false, got '{text}'");
        return fallback;
    }

    public T Enum<T>(string path, T fallback, (string Name, T Value)[] allowed, IReadOnlyDictionary<string, string>? notYetSupported = null)
    {
        if (Scalar(path, "one of " + string.Join(", ", allowed.Select(a => a.Name))) is not { } text) return fallback;
        foreach (var (name, value) in allowed)
            if (name.Equals(text, StringComparison.OrdinalIgnoreCase)) return value;
        string allowedList = string.Join(", ", allowed.Select(a => a.Name));
        if (notYetSupported is not null && notYetSupported.TryGetValue(text.ToLowerInvariant(), out string? why))
            Error(path, $"'{text}' {why}; allowed: {allowedList}");
        else
            Error(path, $"unknown value '{text}'; allowed: {allowedList}");
        return fallback;
    }

    /// <summary>A path, made absolute: YAML values against the YAML file's folder, overrides against the current directory; "~/" is the home folder.</summary>
    public string? PathValue(string path)
    {
        if (Scalar(path, "a path") is not { } text) return null;
        if (text.Trim().Length == 0)
        {
            Error(path, "expected a path, got an empty string");
            return null;
        }
        if (text == "~" || text.StartsWith("~/", StringComparison.Ordinal))
            text = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), text.Length > 2 ? text[2..] : "");
        string baseDir = _entries[path].FromOverride ? Directory.GetCurrentDirectory() : BaseDirectory;
        return Path.GetFullPath(Path.Combine(baseDir, text));
    }

    /// <summary>A required path: reports it missing when unset; "" when missing or wrong (the error is recorded).</summary>
    public string RequiredPath(string path)
    {
        string? value = PathValue(path);
        if (value is null && !IsSet(path)) Missing(path);
        return value ?? "";
    }

    /// <summary>A list of words; a single word is a one-entry list.</summary>
    public IReadOnlyList<string>? StringList(string path)
    {
        if (!_entries.TryGetValue(path, out var e) || IsNull(e.Node)) return null;
        switch (e.Node)
        {
            case YamlScalarNode { Value: { } v }:
                return [v];
            case YamlSequenceNode seq:
                var items = new List<string>();
                foreach (var item in seq.Children)
                {
                    if (item is YamlScalarNode { Value: { } s } && !IsNull(item)) items.Add(s);
                    else
                    {
                        Error(path, $"expected a list of names, got {Describe(item)} at line {item.Start.Line}");
                        return null;
                    }
                }
                return items;
            default:
                Error(path, $"expected a list of names, got {Describe(e.Node)}");
                return null;
        }
    }

    // ---- helpers ----

    /// <summary>Plain (unquoted) empty, ~ or null is YAML's null; a quoted "null" is the string.</summary>
    internal static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };

    private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (…): "; the line is already in ours.</summary>
    private static string PlainMessage(YamlException e)
    {
        string m = e.Message;
        int cut = m.IndexOf("): ", StringComparison.Ordinal);
        return m.StartsWith("(Line", StringComparison.Ordinal) && cut >= 0 ? m[(cut + 3)..] : m;
    }
}
