using System.Globalization;
using Scalpel.Data;

namespace Scalpel.Cli.Commands;

/// <summary>The arguments of one <c>scalpel data</c> subcommand: one input file and --flags (--flag VALUE or --flag=VALUE).</summary>
internal sealed class DataArgs
{
    private readonly Dictionary<string, string?> _flags = new(StringComparer.Ordinal);
    private readonly string _usage;

    public string File { get; }

    /// <param name="valueFlags">Flags that take a value.</param>
    /// <param name="switches">Flags that take none.</param>
    public DataArgs(string[] args, string usage, IReadOnlyCollection<string> valueFlags, IReadOnlyCollection<string> switches)
    {
        _usage = usage;
        string? file = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--help" or "-h") throw new UsageException(usage);
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a, value = "";
                bool inline = false;
                int eq = a.IndexOf('=');
                if (eq > 0) { name = a[..eq]; value = a[(eq + 1)..]; inline = true; }
                if (valueFlags.Contains(name))
                {
                    if (!inline)
                    {
                        if (i + 1 >= args.Length) throw new UsageException($"{name} needs a value\n\n{usage}");
                        value = args[++i];
                    }
                    if (!_flags.TryAdd(name, value)) throw new UsageException($"{name} is given twice");
                }
                else if (switches.Contains(name) && !inline) _flags[name] = null;
                else throw new UsageException($"unknown option '{a}'\n\n{usage}");
            }
            else if (file is null) file = a;
            else throw new UsageException($"unexpected argument '{a}' (one input file only)\n\n{usage}");
        }
        if (file is null) throw new UsageException($"which file?\n\n{usage}");
        if (!System.IO.File.Exists(file))
            throw new UsageException(Directory.Exists(file) ? $"{file} is a folder, not a dataset file" : $"{file}: no such file");
        File = file;
    }

    public bool Has(string flag) => _flags.ContainsKey(flag);
    public string? Value(string flag) => _flags.GetValueOrDefault(flag);

    public string Required(string flag) => Value(flag) ?? throw new UsageException($"{flag} is required\n\n{_usage}");

    public double Double(string flag, double fallback, double min, double max)
    {
        if (Value(flag) is not string s) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < min || v > max)
            throw new UsageException($"{flag} must be a number from {min} to {max}, got '{s}'");
        return v;
    }

    public long Long(string flag, long fallback, long min)
    {
        if (Value(flag) is not string s) return fallback;
        if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) || v < min)
            throw new UsageException($"{flag} must be a whole number ≥ {min}, got '{s}'");
        return v;
    }

    public DatasetReadOptions ReadOptions()
    {
        DataFormat? format = null;
        if (Value("--format") is string f)
        {
            if (!DataFormats.TryParse(f, out var parsed))
                throw new UsageException($"unknown format '{f}': use one of {string.Join(", ", DataFormats.AllNames)}");
            format = parsed;
        }
        DataContainer? container = null;
        if (Value("--container") is string c)
        {
            if (!DataFormats.TryParseContainer(c, out var parsed)) throw new UsageException($"unknown container '{c}': use jsonl, json, csv or tsv");
            container = parsed;
        }
        return new DatasetReadOptions { Format = format, Container = container };
    }
}
