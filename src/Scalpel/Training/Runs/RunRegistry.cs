using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Scalpel.Training.Runs;

/// <summary>The runs registry cannot be used (corrupt file, newer schema, unknown or ambiguous id); the message names the file or id.</summary>
public sealed class RunRegistryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The list of training runs on this machine: one SQLite file (WAL mode, so readers never block the writer),
/// by default <c>$SCALPEL_HOME/runs.db</c> or <c>~/.scalpel/runs.db</c>. The schema is versioned with
/// <c>PRAGMA user_version</c> and created on first use. Several processes may write at once: each statement is
/// its own transaction and waits for the lock (busy timeout) instead of failing.
/// </summary>
public sealed class RunRegistry : IDisposable
{
    /// <summary>The schema this build writes; <c>PRAGMA user_version</c> of the file.</summary>
    public const int SchemaVersion = 1;


    private const string Columns =
        "id, name, run_dir, config_path, model, dataset, method, status, started_utc, ended_utc, best_val_loss, best_step, steps, duration_s, pid, host";

    private static readonly string[] Migrations =
    [
        // 0 → 1
        """
        CREATE TABLE runs (
            id            TEXT PRIMARY KEY,
            name          TEXT,
            run_dir       TEXT NOT NULL,
            config_path   TEXT,
            model         TEXT,
            dataset       TEXT,
            method        TEXT,
            status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'failed', 'interrupted')),
            started_utc   TEXT NOT NULL,   -- ISO 8601, UTC ("O" format)
            ended_utc     TEXT,
            best_val_loss REAL,
            best_step     INTEGER,
            steps         INTEGER NOT NULL DEFAULT 0,
            duration_s    REAL,
            pid           INTEGER,
            host          TEXT,
            updated_utc   TEXT NOT NULL    -- the last write, by the registry: tells a live process from a reused pid
        );
        CREATE INDEX runs_started ON runs (started_utc);
        """,
    ];

    private readonly SqliteConnection _db;

    private RunRegistry(string path, SqliteConnection db)
    {
        FilePath = path;
        _db = db;
    }

    /// <summary>The registry file.</summary>
    public string FilePath { get; }

    /// <summary><c>HOME_DIR/runs.db</c> where HOME_DIR is <paramref name="home"/>, else $SCALPEL_HOME, else ~/.scalpel.</summary>
    public static string DefaultPath(string? home = null)
    {
        home ??= Environment.GetEnvironmentVariable("SCALPEL_HOME") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".scalpel");
        return Path.Combine(Path.GetFullPath(home), "runs.db");
    }

    /// <summary>Opens the registry file, creating it (and its folder) and its schema when missing.</summary>
    /// <exception cref="RunRegistryException">not a SQLite file, or a schema newer than this build</exception>
    public static RunRegistry Open(string path)
    {
        path = Path.GetFullPath(path);
        SqliteConnection db;
        try
        {
            db = IO.SqliteFiles.OpenWal(path);
        }
        catch (SqliteException e)
        {
            throw new RunRegistryException($"{path}: cannot use the runs registry: {e.Message}", e);
        }
        try
        {
            Migrate(db, path);
            return new RunRegistry(path, db);
        }
        catch (SqliteException e)
        {
            db.Dispose();
            throw new RunRegistryException($"{path}: cannot use the runs registry: {e.Message}", e);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    private static void Migrate(SqliteConnection db, string path)
    {
        // BEGIN IMMEDIATE: two processes opening a fresh file at once create the schema once.
        using var tx = db.BeginTransaction(deferred: false);
        long version = Convert.ToInt64(Scalar(db, "PRAGMA user_version", tx), CultureInfo.InvariantCulture);
        if (version > SchemaVersion)
            throw new RunRegistryException($"{path}: written by a newer Scalpel (registry schema {version}; this build knows {SchemaVersion})");
        for (long v = version; v < SchemaVersion; v++)
        {
            Execute(db, Migrations[v], tx);
            Execute(db, $"PRAGMA user_version = {v + 1}", tx);
        }
        tx.Commit();
    }

    /// <summary>Adds a run. <see cref="RunRecord.ProcessId"/> and <see cref="RunRecord.Host"/> default to this process.</summary>
    /// <exception cref="RunRegistryException">the id is taken</exception>
    public void Register(RunRecord run)
    {
        run = Normalize(run) with { ProcessId = run.ProcessId ?? Environment.ProcessId, Host = run.Host ?? Environment.MachineName };
        try { Write($"INSERT INTO runs ({Columns}, updated_utc) VALUES ({Parameters}, $updated_utc)", run); }
        catch (SqliteException e) when (e.SqliteErrorCode == 19)   // SQLITE_CONSTRAINT
        {
            throw new RunRegistryException($"run id {run.Id} is already registered in {FilePath}", e);
        }
    }

    /// <summary>Replaces the stored row of <paramref name="run"/>'s id, e.g. <c>Update(run with { Status = Completed, … })</c>.</summary>
    /// <exception cref="RunRegistryException">no run has that id</exception>
    public void Update(RunRecord run)
    {
        string assignments = string.Join(", ", Columns.Split(", ").Skip(1).Append("updated_utc").Select(c => $"{c} = ${c}"));
        if (Write($"UPDATE runs SET {assignments} WHERE id = $id", Normalize(run)) == 0)
            throw new RunRegistryException($"no run with id {run.Id} in {FilePath}");
    }

    /// <summary>Every run, newest first.</summary>
    public IReadOnlyList<RunRecord> List() => Query($"SELECT {Columns}, updated_utc FROM runs ORDER BY started_utc DESC, id", null);

    /// <summary>The run with this id, or the only run whose id starts with it; null when none.</summary>
    /// <exception cref="RunRegistryException">the prefix matches several runs (they are listed)</exception>
    public RunRecord? Get(string idOrPrefix)
    {
        if (string.IsNullOrWhiteSpace(idOrPrefix)) return null;
        var exact = Query($"SELECT {Columns}, updated_utc FROM runs WHERE id = $p", idOrPrefix);
        if (exact.Count == 1) return exact[0];
        var matches = Query($"SELECT {Columns}, updated_utc FROM runs WHERE substr(id, 1, length($p)) = $p ORDER BY started_utc DESC", idOrPrefix);
        return matches.Count switch
        {
            0 => null,
            1 => matches[0],
            _ => throw new RunRegistryException(
                $"run id prefix '{idOrPrefix}' is ambiguous: {matches.Count} runs match ({string.Join(", ", matches.Take(5).Select(m => m.Id))}{(matches.Count > 5 ? ", …" : "")})"),
        };
    }

    public void Dispose() => _db.Dispose();

    // ---- rows ----

    private static string Parameters => string.Join(", ", Columns.Split(", ").Select(c => "$" + c));

    private int Write(string sql, RunRecord r)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$id", r.Id);
        cmd.Parameters.AddWithValue("$name", (object?)r.Name ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$run_dir", r.RunDirectory);
        cmd.Parameters.AddWithValue("$config_path", (object?)r.ConfigPath ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$model", (object?)r.Model ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$dataset", (object?)r.Dataset ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$method", (object?)r.Method ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$status", RunRecord.StatusName(r.Status));
        cmd.Parameters.AddWithValue("$started_utc", Iso(r.StartedUtc));
        cmd.Parameters.AddWithValue("$ended_utc", r.EndedUtc is { } ended ? Iso(ended) : DBNull.Value);
        cmd.Parameters.AddWithValue("$best_val_loss", r.BestValLoss is { } loss && double.IsFinite(loss) ? loss : DBNull.Value);
        cmd.Parameters.AddWithValue("$best_step", (object?)r.BestStep ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$steps", r.Steps);
        cmd.Parameters.AddWithValue("$duration_s", r.Duration is { } d ? d.TotalSeconds : DBNull.Value);
        cmd.Parameters.AddWithValue("$pid", (object?)r.ProcessId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$host", (object?)r.Host ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$updated_utc", Iso(DateTime.UtcNow));
        try { return cmd.ExecuteNonQuery(); }
        catch (SqliteException e) when (e.SqliteErrorCode != 19)
        {
            throw new RunRegistryException($"{FilePath}: {e.Message}", e);
        }
    }

    private List<RunRecord> Query(string sql, string? prefix)
    {
        var runs = new List<(RunRecord Run, DateTime Updated)>();
        try
        {
            using (var cmd = _db.CreateCommand())
            {
                cmd.CommandText = sql;
                if (prefix is not null) cmd.Parameters.AddWithValue("$p", prefix);
                using var reader = cmd.ExecuteReader();
                while (reader.Read()) runs.Add((ReadRow(reader), ParseIso(reader.GetString(16))));
            }
        }
        catch (SqliteException e)
        {
            throw new RunRegistryException($"{FilePath}: {e.Message}", e);
        }
        return runs.Select(r => NoticeIfInterrupted(r.Run, r.Updated)).ToList();
    }

    private static RunRecord ReadRow(SqliteDataReader r)
    {
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        return new RunRecord
        {
            Id = r.GetString(0),
            Name = Text(1),
            RunDirectory = r.GetString(2),
            ConfigPath = Text(3),
            Model = Text(4),
            Dataset = Text(5),
            Method = Text(6),
            Status = RunRecord.ParseStatus(r.GetString(7)),
            StartedUtc = ParseIso(r.GetString(8)),
            EndedUtc = Text(9) is { } ended ? ParseIso(ended) : null,
            BestValLoss = r.IsDBNull(10) ? null : r.GetDouble(10),
            BestStep = r.IsDBNull(11) ? null : r.GetInt32(11),
            Steps = r.GetInt32(12),
            Duration = r.IsDBNull(13) ? null : TimeSpan.FromSeconds(r.GetDouble(13)),
            ProcessId = r.IsDBNull(14) ? null : r.GetInt32(14),
            Host = Text(15),
        };
    }

    /// <summary>
    /// A run still marked running on this machine whose process is gone was killed or crashed: record it as
    /// interrupted (only if it is still marked running, so a run finishing at this moment wins).
    /// </summary>
    private RunRecord NoticeIfInterrupted(RunRecord run, DateTime lastWriteUtc)
    {
        if (run.Status != RunStatus.Running || run.ProcessId is not { } pid || run.Host != Environment.MachineName) return run;
        if (ProcessAlive(pid, lastWriteUtc)) return run;
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "UPDATE runs SET status = 'interrupted' WHERE id = $id AND status = 'running'";
        cmd.Parameters.AddWithValue("$id", run.Id);
        try { cmd.ExecuteNonQuery(); }
        catch (SqliteException) { /* read-only file or busy past the timeout: still report it as interrupted */ }
        return run with { Status = RunStatus.Interrupted };
    }

    /// <summary>Whether process <paramref name="pid"/> is the one that last wrote the row (at <paramref name="lastWriteUtc"/>).</summary>
    private static bool ProcessAlive(int pid, DateTime lastWriteUtc)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited) return false;
            // A process that started after the row's last write cannot have written it: the id was reused.
            return process.StartTime.ToUniversalTime() <= lastWriteUtc.AddSeconds(5);
        }
        catch (ArgumentException) { return false; }          // no such process
        catch (InvalidOperationException) { return false; }   // exited meanwhile
        catch (System.ComponentModel.Win32Exception) { return true; }   // not ours to inspect: assume alive
    }

    private static RunRecord Normalize(RunRecord run)
    {
        if (string.IsNullOrWhiteSpace(run.Id)) throw new ArgumentException("a run needs an id", nameof(run));
        return run with { StartedUtc = AsUtc(run.StartedUtc), EndedUtc = run.EndedUtc is { } e ? AsUtc(e) : null };
    }

    private static DateTime AsUtc(DateTime t) => t.Kind switch
    {
        DateTimeKind.Utc => t,
        DateTimeKind.Local => t.ToUniversalTime(),
        _ => DateTime.SpecifyKind(t, DateTimeKind.Utc),
    };

    private static string Iso(DateTime t) => t.ToString("O", CultureInfo.InvariantCulture);

    private static DateTime ParseIso(string s) => DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private static void Execute(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd.ExecuteScalar();
    }
}
