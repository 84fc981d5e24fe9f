using System.Globalization;
using Scalpel.Data;
using Scalpel.Text;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel data check|stats|split|convert|dedupe</c>: the dataset layer from the command line. check exits 0 when the
/// data has no errors, 1 when it has (warnings never fail it), 2 when the command is used wrongly.
/// </summary>
internal static class DataCommand
{
    private const string CheckUsage =
        "usage: scalpel data check FILE [--model DIR [--max-length N]] [--format F] [--container C] [--json] [--validation FILE] [--near-dup-threshold X] [--max-errors N]";
    private const string StatsUsage = "usage: scalpel data stats FILE [--format F] [--container C] [--json]";
    private const string SplitUsage =
        "usage: scalpel data split FILE --out DIR [--ratios 0.8,0.1,0.1] [--seed N] [--near-dup-threshold X] [--format F] [--skip-invalid]";
    private const string ConvertUsage = "usage: scalpel data convert FILE --out FILE.jsonl [--format F] [--container C] [--skip-invalid]";
    private const string DedupeUsage = "usage: scalpel data dedupe FILE --out FILE.jsonl [--near-dup-threshold X] [--format F] [--skip-invalid]";

    public static string Usage =>
        "scalpel data — read, check and prepare fine-tuning datasets\n\n" + string.Join('\n', new[] { CheckUsage, StatsUsage, SplitUsage, ConvertUsage, DedupeUsage }
            .Select(u => "  " + u["usage: ".Length..])) +
        "\n\nformats (detected, or --format): " + string.Join(", ", DataFormats.AllNames) +
        "\ncontainers: JSONL, JSON array, CSV/TSV with a header row; UTF-8 with or without BOM; gzip";

    public static int Run(string[] args)
    {
        if (args is ["--help" or "-h" or "help"]) { Console.WriteLine(Usage); return 0; }
        if (args is []) throw new UsageException(Usage);
        string[] rest = args[1..];
        if (rest is ["--help" or "-h"])
        {
            string? usage = args[0] switch
            {
                "check" => CheckUsage, "stats" => StatsUsage, "split" => SplitUsage, "convert" => ConvertUsage, "dedupe" => DedupeUsage, _ => null,
            };
            if (usage is not null) { Console.WriteLine(usage); return 0; }
        }
        return args[0] switch
        {
            "check" => Check(rest),
            "stats" => Stats(rest),
            "split" => Split(rest),
            "convert" => Convert(rest),
            "dedupe" => Dedupe(rest),
            _ => throw new UsageException($"unknown data command '{args[0]}'\n\n{Usage}"),
        };
    }

    private static readonly string[] ReadFlags = ["--format", "--container"];

    private static int Check(string[] args)
    {
        var a = new DataArgs(args, CheckUsage, [.. ReadFlags, "--validation", "--near-dup-threshold", "--max-errors", "--model", "--max-length"], ["--json"]);
        string? validation = a.Value("--validation");
        if (validation is not null && !File.Exists(validation)) throw new UsageException($"{validation}: no such file (--validation)");
        var options = new DataCheckOptions
        {
            Read = a.ReadOptions(),
            ValidationFile = validation,
            Quality = new QualityOptions { NearDuplicateThreshold = a.Double("--near-dup-threshold", 0.8, 0, 1) },
            MaxErrors = (int)Math.Min(int.MaxValue, a.Long("--max-errors", 1000, 1)),
            Tokens = TokenOptions(a),
        };
        var report = DataChecker.Check(a.File, options);
        if (a.Has("--json")) Console.Out.WriteLine(report.ToJson());
        else DataReportPrinter.Print(Console.Out, report, listIssues: true);
        return report.HasErrors ? 1 : 0;
    }

    /// <summary>--model DIR (a model or tokenizer folder) and --max-length N: token counting, or null without --model.</summary>
    private static TokenCheckOptions? TokenOptions(DataArgs a)
    {
        int? maxLength = a.Has("--max-length") ? (int)Math.Min(int.MaxValue, a.Long("--max-length", 0, 1)) : null;
        if (a.Value("--model") is not string dir)
        {
            if (maxLength is not null) throw new UsageException("--max-length needs --model DIR: lengths are counted in the model's tokens");
            return null;
        }
        if (!Directory.Exists(dir)) throw new UsageException($"--model {dir}: no such folder (give a model or tokenizer folder with tokenizer.json)");
        Tokenizer tokenizer;
        ChatTemplate? template = null;
        try
        {
            tokenizer = Tokenizer.FromDirectory(dir);
            bool hasTemplate = tokenizer.Config.ChatTemplate is not null || File.Exists(Path.Combine(dir, "chat_template.jinja")) ||
                               File.Exists(Path.Combine(dir, "chat_template.json"));
            if (hasTemplate) template = ChatTemplate.FromDirectory(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or InvalidDataException or TemplateException
                                       or TokenizerFormatException or System.Text.Json.JsonException or NotSupportedException)
        {
            throw new UsageException($"--model {dir}: {ex.Message}");
        }
        return new TokenCheckOptions(tokenizer, template, maxLength) { Source = dir };
    }

    private static int Stats(string[] args)
    {
        var a = new DataArgs(args, StatsUsage, ReadFlags, ["--json"]);
        var report = DataChecker.Check(a.File, new DataCheckOptions { Read = a.ReadOptions() });
        if (a.Has("--json")) Console.Out.WriteLine(report.ToJson());
        else DataReportPrinter.Print(Console.Out, report, listIssues: false);
        return 0;
    }

    private static DatasetToolOptions ToolOptions(DataArgs a) => new()
    {
        Read = a.ReadOptions(),
        SkipInvalid = a.Has("--skip-invalid"),
        NearDuplicateThreshold = a.Double("--near-dup-threshold", 0.8, 0, 1),
    };

    private static int Convert(string[] args)
    {
        var a = new DataArgs(args, ConvertUsage, [.. ReadFlags, "--out"], ["--skip-invalid"]);
        string output = OutputFile(a);
        var result = DatasetTools.Convert(a.File, output, ToolOptions(a));
        if (Refused(result)) return 1;
        string kind = result.Format switch
        {
            null => "JSONL",
            { } f when f.IsPreference() => "OpenAI preference JSONL",
            DataFormat.Text => "text JSONL (plain text has no conversation)",
            _ => "OpenAI chat JSONL",
        };
        Console.WriteLine($"{a.File} ({result.Format?.Name() ?? "unknown"}) → {output}: {result.Written:N0} examples as {kind}{Skipped(result)}");
        return 0;
    }

    private static int Dedupe(string[] args)
    {
        var a = new DataArgs(args, DedupeUsage, [.. ReadFlags, "--out", "--near-dup-threshold"], ["--skip-invalid"]);
        string output = OutputFile(a);
        var result = DatasetTools.Dedupe(a.File, output, ToolOptions(a));
        if (Refused(result)) return 1;
        Console.WriteLine($"{a.File} → {output}: kept {result.Written:N0} of {result.Records:N0}; dropped {result.ExactDuplicates:N0} exact and " +
                          $"{result.NearDuplicates:N0} near-duplicates{Skipped(result)}");
        return 0;
    }

    private static int Split(string[] args)
    {
        var a = new DataArgs(args, SplitUsage, [.. ReadFlags, "--out", "--ratios", "--seed", "--near-dup-threshold"], ["--skip-invalid"]);
        string outDir = a.Required("--out");
        if (File.Exists(outDir)) throw new UsageException($"--out {outDir} is a file; split writes a folder");
        var ratios = ParseRatios(a.Value("--ratios") ?? "0.8,0.1,0.1");
        ulong seed = (ulong)a.Long("--seed", 0, 0);
        var result = DatasetTools.Split(a.File, outDir, ratios, seed, ToolOptions(a));
        if (Refused(result)) return 1;
        Console.WriteLine($"{a.File} ({result.Format?.Name() ?? "unknown"}) → {outDir}, seed {seed}:");
        foreach (var (path, count) in result.Outputs)
            Console.WriteLine($"  {Path.GetFileName(path),-18} {count,10:N0}  ({(result.Written == 0 ? 0 : 100.0 * count / result.Written):F1}%)");
        Console.WriteLine($"dropped {result.ExactDuplicates:N0} exact duplicates; {result.NearDuplicates:N0} near-duplicates kept in their original's split{Skipped(result)}");
        if (result.LabelCounts is { } labels)
        {
            Console.WriteLine($"stratified by {labels.Count} labels:");
            foreach (var (label, counts) in labels.OrderByDescending(kv => kv.Value.Sum()).Take(20))
                Console.WriteLine($"  {Truncate(label, 24),-24} {string.Join("  ", counts.Select(c => c.ToString("N0", CultureInfo.InvariantCulture).PadLeft(8)))}");
        }
        return 0;
    }

    private static string OutputFile(DataArgs a)
    {
        string output = a.Required("--out");
        if (Directory.Exists(output)) throw new UsageException($"--out {output} is a folder; give the output file");
        if (Path.GetFullPath(output) == Path.GetFullPath(a.File)) throw new UsageException("--out must differ from the input file");
        return output;
    }

    private static IReadOnlyList<double> ParseRatios(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ratios = new List<double>();
        foreach (var p in parts)
        {
            if (!double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) || r < 0)
                throw new UsageException($"--ratios must be 2 or 3 numbers like 0.8,0.1,0.1, got '{text}'");
            ratios.Add(r);
        }
        if (ratios.Count is not (2 or 3)) throw new UsageException($"--ratios needs 2 (train, validation) or 3 (train, validation, test) numbers, got '{text}'");
        double sum = ratios.Sum();
        if (sum <= 0 || ratios[0] <= 0) throw new UsageException($"--ratios must give train a positive share, got '{text}'");
        if (Math.Abs(sum - 1) > 1e-6)
        {
            if (Math.Abs(sum - 100) < 1e-6) return ratios.Select(r => r / 100).ToList();   // percentages
            throw new UsageException($"--ratios must sum to 1 (or 100), got {sum.ToString(CultureInfo.InvariantCulture)}");
        }
        return ratios;
    }

    /// <summary>When the input had errors and nothing was written: the errors, and exit code 1.</summary>
    private static bool Refused(DatasetToolResult result)
    {
        if (!result.Refused) return false;
        foreach (var e in result.Errors.Items.Take(20)) Console.Error.WriteLine($"  {DataReportPrinter.Location(e)}  {e.Code}  {e.Message}");
        if (result.Errors.Count > 20) Console.Error.WriteLine($"  … and {result.Errors.Count - 20:N0} more (scalpel data check lists them all)");
        Console.Error.WriteLine($"scalpel: {result.Errors.Count:N0} errors in the input, nothing written: fix them, or pass --skip-invalid to drop those records");
        return true;
    }

    private static string Skipped(DatasetToolResult result) => result.Invalid > 0 ? $"; skipped {result.Invalid:N0} invalid records" : "";

    internal static string Truncate(string text, int max)
    {
        string one = text.ReplaceLineEndings(" ");
        return one.Length <= max ? one : one[..(max - 1)] + "…";
    }
}
