using System.Globalization;

namespace Scalpel.Cli.Commands;

/// <summary>
/// Arguments of a command: positionals and --flags (--flag VALUE or --flag=VALUE; some may repeat; switches take none).
/// Every problem is a <see cref="UsageException"/> that ends with the usage text.
/// </summary>
internal sealed class CommandArgs
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);
    private readonly string _usage;

    public CommandArgs(string[] args, string usage, IReadOnlyCollection<string> valueFlags, IReadOnlyCollection<string> switches,
        IReadOnlyCollection<string>? repeatable = null)
    {
        _usage = usage;
        var positionals = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") throw new UsageException(usage);
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                int eq = a.IndexOf('=');
                string name = eq > 0 ? a[..eq] : a;
                if (valueFlags.Contains(name))
                {
                    string value;
                    if (eq > 0) value = a[(eq + 1)..];
                    else if (i + 1 < args.Length) value = args[++i];
                    else throw new UsageException($"{name} needs a value\n\n{usage}");
                    if (!_values.TryGetValue(name, out var list)) _values[name] = list = [];
                    else if (repeatable is null || !repeatable.Contains(name)) throw new UsageException($"{name} is given twice\n\n{usage}");
                    list.Add(value);
                }
                else if (switches.Contains(name) && eq < 0) _switches.Add(name);
                else throw new UsageException($"unknown option '{a}'\n\n{usage}");
            }
            else positionals.Add(a);
        }
        Positionals = positionals;
    }

    public IReadOnlyList<string> Positionals { get; }

    public bool Has(string flag) => _switches.Contains(flag) || _values.ContainsKey(flag);
    public string? Value(string flag) => _values.TryGetValue(flag, out var list) ? list[0] : null;
    public IReadOnlyList<string> Values(string flag) => _values.TryGetValue(flag, out var list) ? list : [];
    public string Required(string flag) => Value(flag) ?? throw new UsageException($"{flag} is required\n\n{_usage}");

    public int Int(string flag, int fallback, int min, int max)
    {
        if (Value(flag) is not string s) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new UsageException($"{flag} must be a whole number from {min} to {max}, got '{s}'");
        return v;
    }

    public float Float(string flag, float fallback, float min, float max)
    {
        if (Value(flag) is not string s) return fallback;
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !(v >= min && v <= max))
            throw new UsageException($"{flag} must be a number from {min} to {max}, got '{s}'");
        return v;
    }

    public ulong ULong(string flag, ulong fallback)
    {
        if (Value(flag) is not string s) return fallback;
        return ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong v) ? v
            : throw new UsageException($"{flag} must be a whole number ≥ 0, got '{s}'");
    }
}
