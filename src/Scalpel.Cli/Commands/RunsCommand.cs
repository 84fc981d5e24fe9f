using System.Globalization;
using System.Text;
using System.Text.Json;
using Scalpel.Training.Runs;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel runs [--home DIR] [--json]</c> lists the runs registry; <c>scalpel runs show ID [--home DIR] [--json]</c>
/// prints one run (ID may be any unique prefix). The registry is DIR/runs.db, $SCALPEL_HOME/runs.db or ~/.scalpel/runs.db.
/// </summary>
internal static class RunsCommand
{
    private const string UsageText = "usage: scalpel runs [--home DIR] [--json]\n       scalpel runs show ID [--home DIR] [--json]";

    public static int Run(string[] args)
    {
        string? home = null, id = null;
        bool json = false, show = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--home" when i + 1 < args.Length: home = args[++i]; break;
                case "--json": json = true; break;
                case "--help" or "-h": Console.WriteLine(UsageText); return 0;
                case "show" when i == 0: show = true; break;
                case var a when show && id is null && !a.StartsWith('-'): id = a; break;
                default: throw new UsageException($"unexpected argument '{args[i]}'\n{UsageText}");
            }
        }
        if (show && id is null) throw new UsageException($"runs show needs a run ID\n{UsageText}");

        string path = RunRegistry.DefaultPath(home);
        try
        {
            return show ? Show(path, id!, json) : List(path, json);
        }
        catch (RunRegistryException e)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }

    private static int List(string path, bool json)
    {
        // Listing never creates the registry: no file simply means no runs yet.
        IReadOnlyList<RunRecord> runs = [];
        if (File.Exists(path))
        {
            using var registry = RunRegistry.Open(path);
            runs = registry.List();
        }
        if (json)
        {
            Console.WriteLine(ToJson(w =>
            {
                w.WriteStartArray();
                foreach (var run in runs) WriteRun(w, run);
                w.WriteEndArray();
            }));
            return 0;
        }
        if (runs.Count == 0)
        {
            Console.WriteLine($"No runs recorded yet ({path}).");
            return 0;
        }
        var rows = new List<string[]> { new[] { "ID", "STATUS", "MODEL", "BEST VAL LOSS", "DURATION", "STARTED" } };
        foreach (var run in runs)
            rows.Add([run.Id, RunRecord.StatusName(run.Status), ShortModel(run.Model), Loss(run), FormatDuration(DurationOf(run)), Local(run.StartedUtc)]);
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
            Console.WriteLine(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
        return 0;
    }

    private static int Show(string path, string id, bool json)
    {
        RunRecord? run = null;
        if (File.Exists(path))
        {
            using var registry = RunRegistry.Open(path);
            run = registry.Get(id);
        }
        if (run is null)
        {
            Console.Error.WriteLine($"scalpel: no run with id '{id}' in {path} (scalpel runs lists them)");
            return 1;
        }
        if (json)
        {
            Console.WriteLine(ToJson(w => WriteRun(w, run)));
            return 0;
        }
        string report = Path.Combine(run.RunDirectory, "report.html");
        var lines = new (string Key, string? Value)[]
        {
            ("id", run.Id),
            ("name", run.Name),
            ("status", RunRecord.StatusName(run.Status)),
            ("method", run.Method),
            ("model", run.Model),
            ("dataset", run.Dataset),
            ("run folder", run.RunDirectory),
            ("config", run.ConfigPath),
            ("report", File.Exists(report) ? report : null),
            ("started", Local(run.StartedUtc)),
            ("ended", run.EndedUtc is { } e ? Local(e) : null),
            ("duration", FormatDuration(DurationOf(run))),
            ("steps", run.Steps.ToString(CultureInfo.InvariantCulture)),
            ("best val loss", run.BestValLoss is null ? null : Loss(run) + (run.BestStep is { } s ? $" (step {s})" : "")),
            ("process", run.ProcessId is { } pid ? $"{pid} on {run.Host}" : null),
        };
        foreach (var (key, value) in lines)
            if (!string.IsNullOrEmpty(value)) Console.WriteLine($"{key + ":",-15}{value}");
        return 0;
    }

    private static void WriteRun(Utf8JsonWriter w, RunRecord r)
    {
        w.WriteStartObject();
        w.WriteString("id", r.Id);
        Str("name", r.Name);
        w.WriteString("status", RunRecord.StatusName(r.Status));
        Str("method", r.Method);
        Str("model", r.Model);
        Str("dataset", r.Dataset);
        w.WriteString("run_dir", r.RunDirectory);
        Str("config_path", r.ConfigPath);
        w.WriteString("started_utc", r.StartedUtc);
        if (r.EndedUtc is { } ended) w.WriteString("ended_utc", ended); else w.WriteNull("ended_utc");
        w.WriteNumber("steps", r.Steps);
        if (r.BestValLoss is { } loss) w.WriteNumber("best_val_loss", loss); else w.WriteNull("best_val_loss");
        if (r.BestStep is { } step) w.WriteNumber("best_step", step); else w.WriteNull("best_step");
        if (DurationOf(r) is { } d) w.WriteNumber("duration_s", Math.Round(d.TotalSeconds, 3)); else w.WriteNull("duration_s");
        if (r.ProcessId is { } pid) w.WriteNumber("pid", pid); else w.WriteNull("pid");
        Str("host", r.Host);
        w.WriteEndObject();

        void Str(string name, string? value)
        {
            if (value is null) w.WriteNull(name); else w.WriteString(name, value);
        }
    }

    private static string ToJson(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
            write(w);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The recorded duration; for a run still going, the time since it started.</summary>
    private static TimeSpan? DurationOf(RunRecord r) =>
        r.Duration ?? (r.Status == RunStatus.Running ? DateTime.UtcNow - r.StartedUtc : r.EndedUtc - r.StartedUtc);

    private static string FormatDuration(TimeSpan? d) => d switch
    {
        null => "-",
        { TotalHours: >= 1 } t => $"{(int)t.TotalHours}h {t.Minutes:D2}m",
        { TotalMinutes: >= 1 } t => $"{t.Minutes}m {t.Seconds:D2}s",
        { } t => $"{Math.Max(0, t.TotalSeconds):F0}s",
    };

    private static string Loss(RunRecord r) => r.BestValLoss is { } l ? l.ToString("F4", CultureInfo.InvariantCulture) : "-";

    /// <summary>A model folder's last part ("models/SmolLM2-135M/" → "SmolLM2-135M"); hub ids stay as they are.</summary>
    private static string ShortModel(string? model)
    {
        if (string.IsNullOrEmpty(model)) return "-";
        string trimmed = model.TrimEnd('/', '\\');
        return Path.IsPathRooted(trimmed) || trimmed.StartsWith('.') ? Path.GetFileName(trimmed) : trimmed;
    }

    private static string Local(DateTime utc) => utc.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
}
