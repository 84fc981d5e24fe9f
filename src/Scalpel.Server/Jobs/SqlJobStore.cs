using System.Data.Common;
using System.Globalization;
using Scalpel.Server.Files;

namespace Scalpel.Server.Jobs;

/// <summary>
/// <see cref="IJobStore"/> in plain SQL that SQLite and PostgreSQL both run (named <c>@parameters</c>, <c>ON CONFLICT</c>
/// upserts, <c>LIMIT</c>); the subclasses say how to connect, how an auto-numbered column is declared and how to lock
/// the schema while it is created. Every list is ordered by an auto-numbered <c>seq</c> column, so items created in the
/// same second keep their order. The schema version is a row of <c>scalpel_schema</c>.
/// </summary>
public abstract class SqlJobStore : IJobStore
{
    public const int SchemaVersion = 1;

    private const string FileColumns = "id, filename, purpose, bytes, created_at, status, status_details, extension, check_report, check_errors, first_error";
    private const string JobColumns =
        "id, model, training_file, validation_file, suffix, seed, status, created_at, finished_at, fine_tuned_model, trained_tokens, " +
        "hyperparameters, metadata, error_code, error_message, error_param, config_yaml, worker, heartbeat_at";
    private const string EventColumns = "id, job_id, created_at, level, message, type, data";
    private const string CheckpointColumns = "id, job_id, created_at, step, metrics";

    public abstract string Description { get; }

    /// <summary>The column declaration of an auto-numbered primary key.</summary>
    protected abstract string SerialPrimaryKey { get; }

    /// <summary>Runs <paramref name="work"/> on an open connection (one shared connection, or one from a pool).</summary>
    protected abstract T With<T>(Func<DbConnection, T> work);

    /// <summary>A transaction that holds the schema lock until it commits (two servers starting at once migrate once).</summary>
    protected abstract DbTransaction BeginSchemaTransaction(DbConnection connection);

    public abstract void Dispose();

    private string[] Migrations =>
    [
        // 0 → 1
        $"""
        CREATE TABLE files (
            seq            {SerialPrimaryKey},
            id             TEXT NOT NULL UNIQUE,
            filename       TEXT NOT NULL,
            purpose        TEXT NOT NULL,
            bytes          BIGINT NOT NULL,
            created_at     BIGINT NOT NULL,
            status         TEXT NOT NULL,
            status_details TEXT,
            extension      TEXT NOT NULL,
            check_report   TEXT,
            check_errors   BIGINT NOT NULL DEFAULT 0,
            first_error    TEXT
        );
        CREATE TABLE jobs (
            seq              {SerialPrimaryKey},
            id               TEXT NOT NULL UNIQUE,
            model            TEXT NOT NULL,
            training_file    TEXT NOT NULL,
            validation_file  TEXT,
            suffix           TEXT,
            seed             BIGINT NOT NULL,
            status           TEXT NOT NULL,
            created_at       BIGINT NOT NULL,
            finished_at      BIGINT,
            fine_tuned_model TEXT,
            trained_tokens   BIGINT,
            hyperparameters  TEXT NOT NULL,
            metadata         TEXT,
            error_code       TEXT,
            error_message    TEXT,
            error_param      TEXT,
            config_yaml      TEXT,
            worker           TEXT,
            heartbeat_at     BIGINT
        );
        CREATE INDEX jobs_status ON jobs (status, seq);
        CREATE TABLE job_events (
            seq        {SerialPrimaryKey},
            id         TEXT NOT NULL UNIQUE,
            job_id     TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            level      TEXT NOT NULL,
            message    TEXT NOT NULL,
            type       TEXT NOT NULL,
            data       TEXT
        );
        CREATE INDEX job_events_job ON job_events (job_id, seq);
        CREATE TABLE job_checkpoints (
            seq        {SerialPrimaryKey},
            id         TEXT NOT NULL UNIQUE,
            job_id     TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            step       BIGINT NOT NULL,
            metrics    TEXT NOT NULL,
            UNIQUE (job_id, step)
        );
        """,
    ];

    /// <summary>Creates or upgrades the schema; a database written by a newer Scalpel is refused.</summary>
    protected void Migrate() => With(c =>
    {
        using var tx = BeginSchemaTransaction(c);
        Execute(c, tx, "CREATE TABLE IF NOT EXISTS scalpel_schema (version BIGINT NOT NULL)");
        long? stored = Scalar(c, tx, "SELECT MAX(version) FROM scalpel_schema") is { } v and not DBNull ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : null;
        long version = stored ?? 0;
        if (version > SchemaVersion)
            throw new JobStoreException($"{Description}: written by a newer Scalpel (job schema {version}; this build knows {SchemaVersion})");
        for (long i = version; i < SchemaVersion; i++)
            foreach (var statement in Migrations[i].Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Execute(c, tx, statement);
        if (stored is null) Execute(c, tx, "INSERT INTO scalpel_schema (version) VALUES (@v)", ("@v", (long)SchemaVersion));
        else if (version < SchemaVersion) Execute(c, tx, "UPDATE scalpel_schema SET version = @v", ("@v", (long)SchemaVersion));
        tx.Commit();
        return 0;
    });

    // ── files ──

    public void AddFile(StoredFile f) => With(c => Execute(c, null,
        $"INSERT INTO files ({FileColumns}) VALUES (@id, @filename, @purpose, @bytes, @created_at, @status, @status_details, @extension, @check_report, @check_errors, @first_error)",
        FileParameters(f)));

    public StoredFile? GetFile(string id) =>
        With(c => Query(c, $"SELECT {FileColumns} FROM files WHERE id = @id", ReadFile, ("@id", id))).FirstOrDefault();

    public Page<StoredFile> ListFiles(string? purpose, string? after, int limit)
    {
        var where = new List<string>();
        var parameters = new List<(string, object?)> { ("@limit", (long)limit + 1) };
        if (purpose is not null) { where.Add("purpose = @purpose"); parameters.Add(("@purpose", purpose)); }
        if (after is not null) { where.Add("seq < (SELECT seq FROM files WHERE id = @after)"); parameters.Add(("@after", after)); }
        string sql = $"SELECT {FileColumns} FROM files {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")} ORDER BY seq DESC LIMIT @limit";
        return ToPage(With(c => Query(c, sql, ReadFile, [.. parameters])), limit);
    }

    public bool DeleteFile(string id) => With(c => Execute(c, null, "DELETE FROM files WHERE id = @id", ("@id", id))) > 0;

    private static (string, object?)[] FileParameters(StoredFile f) =>
    [
        ("@id", f.Id), ("@filename", f.Filename), ("@purpose", f.Purpose), ("@bytes", f.Bytes), ("@created_at", f.CreatedAt),
        ("@status", f.Status), ("@status_details", f.StatusDetails), ("@extension", f.Extension), ("@check_report", f.CheckReport),
        ("@check_errors", f.CheckErrors), ("@first_error", f.FirstError),
    ];

    private static StoredFile ReadFile(DbDataReader r) => new()
    {
        Id = r.GetString(0), Filename = r.GetString(1), Purpose = r.GetString(2), Bytes = Long(r, 3)!.Value, CreatedAt = Long(r, 4)!.Value,
        Status = r.GetString(5), StatusDetails = Text(r, 6), Extension = r.GetString(7), CheckReport = Text(r, 8), CheckErrors = Long(r, 9)!.Value,
        FirstError = Text(r, 10),
    };

    // ── jobs ──

    public void AddJob(JobRecord j) => With(c => Execute(c, null,
        $"INSERT INTO jobs ({JobColumns}) VALUES ({string.Join(", ", JobColumns.Split(", ").Select(n => "@" + n))})", JobParameters(j)));

    public JobRecord? GetJob(string id) =>
        With(c => Query(c, $"SELECT {JobColumns} FROM jobs WHERE id = @id", ReadJob, ("@id", id))).FirstOrDefault();

    public Page<JobRecord> ListJobs(string? after, int limit)
    {
        string sql = after is null
            ? $"SELECT {JobColumns} FROM jobs ORDER BY seq DESC LIMIT @limit"
            : $"SELECT {JobColumns} FROM jobs WHERE seq < (SELECT seq FROM jobs WHERE id = @after) ORDER BY seq DESC LIMIT @limit";
        return ToPage(With(c => Query(c, sql, ReadJob, ("@limit", (long)limit + 1), ("@after", after))), limit);
    }

    public IReadOnlyList<JobRecord> JobsWithStatus(JobStatus status) =>
        With(c => Query(c, $"SELECT {JobColumns} FROM jobs WHERE status = @status ORDER BY seq", ReadJob, ("@status", JobStatuses.Name(status))));

    public IReadOnlyList<JobRecord> ActiveJobsUsingFile(string fileId) =>
        With(c => Query(c,
            $"SELECT {JobColumns} FROM jobs WHERE (training_file = @file OR validation_file = @file) AND status IN ('validating_files', 'queued', 'running') ORDER BY seq",
            ReadJob, ("@file", fileId)));

    public bool UpdateJob(JobRecord j, params JobStatus[] ifStatus)
    {
        if (ifStatus.Length == 0) throw new ArgumentException("name the statuses the job may be in", nameof(ifStatus));
        string assignments = string.Join(", ", JobColumns.Split(", ").Skip(1).Select(n => $"{n} = @{n}"));
        string allowed = string.Join(", ", ifStatus.Select((_, i) => $"@if{i}"));
        var parameters = JobParameters(j).Concat(ifStatus.Select((s, i) => ($"@if{i}", (object?)JobStatuses.Name(s)))).ToArray();
        return With(c => Execute(c, null, $"UPDATE jobs SET {assignments} WHERE id = @id AND status IN ({allowed})", parameters)) == 1;
    }

    public bool CancelJob(string jobId, long now) => With(c => Execute(c, null,
        "UPDATE jobs SET status = 'cancelled', finished_at = @now WHERE id = @id AND status IN ('validating_files', 'queued', 'running')",
        ("@now", now), ("@id", jobId))) == 1;

    public JobRecord? ClaimNextQueued(string worker, long now)
    {
        // Compare-and-set on the oldest queued job: when another worker wins it, try the next one.
        for (int attempt = 0; attempt < 100; attempt++)
        {
            var next = With(c => Query(c, $"SELECT {JobColumns} FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1", ReadJob)).FirstOrDefault();
            if (next is null) return null;
            int changed = With(c => Execute(c, null,
                "UPDATE jobs SET status = 'running', worker = @worker, heartbeat_at = @now WHERE id = @id AND status = 'queued'",
                ("@worker", worker), ("@now", now), ("@id", next.Id)));
            if (changed == 1) return next with { Status = JobStatus.Running, Worker = worker, HeartbeatAt = now };
        }
        return null;
    }

    public bool TakeOver(string jobId, string? previousWorker, string worker, long now) => With(c => Execute(c, null,
        previousWorker is null
            ? "UPDATE jobs SET worker = @worker, heartbeat_at = @now WHERE id = @id AND status = 'running' AND worker IS NULL"
            : "UPDATE jobs SET worker = @worker, heartbeat_at = @now WHERE id = @id AND status = 'running' AND worker = @previous",
        ("@worker", worker), ("@now", now), ("@id", jobId), ("@previous", previousWorker))) == 1;

    public void Heartbeat(string jobId, string worker, long now) => With(c => Execute(c, null,
        "UPDATE jobs SET heartbeat_at = @now WHERE id = @id AND worker = @worker", ("@now", now), ("@id", jobId), ("@worker", worker)));

    private static (string, object?)[] JobParameters(JobRecord j) =>
    [
        ("@id", j.Id), ("@model", j.Model), ("@training_file", j.TrainingFile), ("@validation_file", j.ValidationFile), ("@suffix", j.Suffix),
        ("@seed", (long)j.Seed), ("@status", JobStatuses.Name(j.Status)), ("@created_at", j.CreatedAt), ("@finished_at", j.FinishedAt),
        ("@fine_tuned_model", j.FineTunedModel), ("@trained_tokens", j.TrainedTokens), ("@hyperparameters", j.Hyperparameters),
        ("@metadata", j.Metadata), ("@error_code", j.Error?.Code), ("@error_message", j.Error?.Message), ("@error_param", j.Error?.Param),
        ("@config_yaml", j.ConfigYaml), ("@worker", j.Worker), ("@heartbeat_at", j.HeartbeatAt),
    ];

    private static JobRecord ReadJob(DbDataReader r) => new()
    {
        Id = r.GetString(0), Model = r.GetString(1), TrainingFile = r.GetString(2), ValidationFile = Text(r, 3), Suffix = Text(r, 4),
        Seed = (int)Long(r, 5)!.Value, Status = JobStatuses.Parse(r.GetString(6)), CreatedAt = Long(r, 7)!.Value, FinishedAt = Long(r, 8),
        FineTunedModel = Text(r, 9), TrainedTokens = Long(r, 10), Hyperparameters = r.GetString(11), Metadata = Text(r, 12),
        Error = Text(r, 13) is { } code ? new JobError(code, Text(r, 14) ?? "", Text(r, 15)) : null,
        ConfigYaml = Text(r, 16), Worker = Text(r, 17), HeartbeatAt = Long(r, 18),
    };

    // ── events ──

    public void AddEvent(JobEvent e) => With(c => Execute(c, null,
        $"INSERT INTO job_events ({EventColumns}) VALUES (@id, @job_id, @created_at, @level, @message, @type, @data)",
        ("@id", e.Id), ("@job_id", e.JobId), ("@created_at", e.CreatedAt), ("@level", e.Level), ("@message", e.Message), ("@type", e.Type), ("@data", e.Data)));

    public Page<JobEvent> ListEvents(string jobId, string? after, int limit)
    {
        string sql = after is null
            ? $"SELECT {EventColumns} FROM job_events WHERE job_id = @job ORDER BY seq DESC LIMIT @limit"
            : $"SELECT {EventColumns} FROM job_events WHERE job_id = @job AND seq < (SELECT seq FROM job_events WHERE id = @after) ORDER BY seq DESC LIMIT @limit";
        return ToPage(With(c => Query(c, sql,
            r => new JobEvent(r.GetString(0), r.GetString(1), Long(r, 2)!.Value, r.GetString(3), r.GetString(4), r.GetString(5), Text(r, 6)),
            ("@job", jobId), ("@limit", (long)limit + 1), ("@after", after))), limit);
    }

    // ── checkpoints ──

    public void SaveCheckpoint(JobCheckpoint k) => With(c => Execute(c, null,
        $"INSERT INTO job_checkpoints ({CheckpointColumns}) VALUES (@id, @job_id, @created_at, @step, @metrics) " +
        "ON CONFLICT (job_id, step) DO UPDATE SET metrics = excluded.metrics, created_at = excluded.created_at",
        ("@id", k.Id), ("@job_id", k.JobId), ("@created_at", k.CreatedAt), ("@step", (long)k.Step), ("@metrics", k.Metrics)));

    public void DeleteCheckpoint(string jobId, int step) => With(c => Execute(c, null,
        "DELETE FROM job_checkpoints WHERE job_id = @job AND step = @step", ("@job", jobId), ("@step", (long)step)));

    public Page<JobCheckpoint> ListCheckpoints(string jobId, string? after, int limit)
    {
        string sql = after is null
            ? $"SELECT {CheckpointColumns} FROM job_checkpoints WHERE job_id = @job ORDER BY step DESC LIMIT @limit"
            : $"SELECT {CheckpointColumns} FROM job_checkpoints WHERE job_id = @job AND step < (SELECT step FROM job_checkpoints WHERE id = @after) ORDER BY step DESC LIMIT @limit";
        return ToPage(With(c => Query(c, sql,
            r => new JobCheckpoint(r.GetString(0), r.GetString(1), Long(r, 2)!.Value, (int)Long(r, 3)!.Value, r.GetString(4)),
            ("@job", jobId), ("@limit", (long)limit + 1), ("@after", after))), limit);
    }

    // ── plumbing ──

    private static Page<T> ToPage<T>(List<T> rows, int limit) =>
        rows.Count > limit ? new Page<T>(rows.GetRange(0, limit), true) : new Page<T>(rows, false);

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? Long(DbDataReader r, int i) => r.IsDBNull(i) ? null : Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture);

    private static DbCommand Command(DbConnection c, DbTransaction? tx, string sql, (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var (name, value) in parameters)
        {
            // Only the parameters the statement names: PostgreSQL rejects unused ones whose type it cannot infer.
            if (!Mentions(sql, name)) continue;
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    private static bool Mentions(string sql, string name)
    {
        for (int at = sql.IndexOf(name, StringComparison.Ordinal); at >= 0; at = sql.IndexOf(name, at + 1, StringComparison.Ordinal))
        {
            int end = at + name.Length;
            if (end == sql.Length || !(char.IsAsciiLetterOrDigit(sql[end]) || sql[end] == '_')) return true;
        }
        return false;
    }

    protected static int Execute(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    protected static object? Scalar(DbConnection c, DbTransaction? tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = Command(c, tx, sql, parameters);
        return cmd.ExecuteScalar();
    }

    private static List<T> Query<T>(DbConnection c, string sql, Func<DbDataReader, T> read, params (string, object?)[] parameters)
    {
        using var cmd = Command(c, null, sql, parameters);
        using var reader = cmd.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(read(reader));
        return rows;
    }
}
