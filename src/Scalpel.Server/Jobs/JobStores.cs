using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Scalpel.Server.Jobs;

/// <summary>Opens the store named by <c>--db</c>: none = SQLite at <c>DATA/scalpel.db</c>; <c>postgres://…</c> = PostgreSQL.</summary>
public static class JobStores
{
    public const string DefaultFileName = "scalpel.db";

    /// <exception cref="JobStoreException">the database cannot be opened (the message says which and why)</exception>
    /// <exception cref="ArgumentException"><paramref name="database"/> is neither empty nor a postgres:// URL</exception>
    public static IJobStore Open(string? database, string dataDirectory)
    {
        if (string.IsNullOrWhiteSpace(database)) return SqliteJobStore.Open(Path.Combine(dataDirectory, DefaultFileName));
        if (database.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || database.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
            return PostgresJobStore.Open(database);
        throw new ArgumentException($"--db: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE (without --db, jobs live in SQLite at DATA/{DefaultFileName})");
    }
}

/// <summary>The default store: one SQLite file in WAL mode (readers never block the writer), one connection shared under a lock.</summary>
public sealed class SqliteJobStore : SqlJobStore
{

    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();

    private SqliteJobStore(string path, SqliteConnection db)
    {
        FilePath = path;
        _db = db;
    }

    public string FilePath { get; }
    public override string Description => $"sqlite {FilePath}";
    protected override string SerialPrimaryKey => "INTEGER PRIMARY KEY AUTOINCREMENT";

    public static SqliteJobStore Open(string path)
    {
        path = Path.GetFullPath(path);
        SqliteConnection db;
        try
        {
            db = Scalpel.IO.SqliteFiles.OpenWal(path);
        }
        catch (SqliteException e)
        {
            throw new JobStoreException($"{path}: cannot use the job database: {e.Message}", e);
        }
        try
        {
            var store = new SqliteJobStore(path, db);
            store.Migrate();
            return store;
        }
        catch (Exception e) when (e is SqliteException || e is JobStoreException { InnerException: SqliteException })
        {
            db.Dispose();
            var inner = e as SqliteException ?? (SqliteException)e.InnerException!;
            throw new JobStoreException($"{path}: cannot use the job database: {inner.Message}", inner);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    protected override T With<T>(Func<DbConnection, T> work)
    {
        lock (_gate)
        {
            try { return work(_db); }
            catch (SqliteException e) when (e.SqliteErrorCode != 19)   // 19 = constraint: the caller's mistake, not the database's
            {
                throw new JobStoreException($"{FilePath}: {e.Message}", e);
            }
        }
    }

    // BEGIN IMMEDIATE: takes the write lock now, so two processes opening a fresh file create the schema once.
    protected override DbTransaction BeginSchemaTransaction(DbConnection connection) => ((SqliteConnection)connection).BeginTransaction(deferred: false);

    public override void Dispose()
    {
        lock (_gate) _db.Dispose();
    }
}

/// <summary>PostgreSQL, for a queue shared by several servers: pooled connections; jobs are claimed by compare-and-set.</summary>
public sealed class PostgresJobStore : SqlJobStore
{
    private readonly NpgsqlDataSource _source;
    private readonly string _description;

    private PostgresJobStore(NpgsqlDataSource source, string description)
    {
        _source = source;
        _description = description;
    }

    public override string Description => _description;
    protected override string SerialPrimaryKey => "BIGSERIAL PRIMARY KEY";

    /// <summary>Opens <c>postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…</c> and creates the schema when missing.</summary>
    public static PostgresJobStore Open(string url)
    {
        var builder = ConnectionString(url);
        string description = $"postgres {builder.Host}:{builder.Port}/{builder.Database}";
        var source = NpgsqlDataSource.Create(builder);
        try
        {
            var store = new PostgresJobStore(source, description);
            store.Migrate();
            return store;
        }
        catch (JobStoreException e) when (e.InnerException is NpgsqlException inner)
        {
            source.Dispose();
            throw new JobStoreException($"{description}: cannot use the job database: {inner.Message}", inner);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            source.Dispose();
            throw new JobStoreException($"{description}: cannot use the job database: {e.Message}", e);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>A postgres:// URL as an Npgsql connection string (Npgsql itself takes key=value strings only).</summary>
    public static NpgsqlConnectionStringBuilder ConnectionString(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql") || uri.Host.Length == 0)
            throw new ArgumentException($"--db: '{Redact(url)}' is not a PostgreSQL URL like postgres://USER:PASSWORD@HOST:5432/DATABASE");
        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0) throw new ArgumentException($"--db {Redact(url)}: name the database after the host (postgres://…@HOST:PORT/DATABASE)");
        var b = new NpgsqlConnectionStringBuilder { Host = uri.Host, Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port, Database = database };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            b.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) b.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            string key = Uri.UnescapeDataString(kv[0]), value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            if (key.Equals("sslmode", StringComparison.OrdinalIgnoreCase))
            {
                if (!Enum.TryParse<SslMode>(value, ignoreCase: true, out var mode))
                    throw new ArgumentException($"--db: sslmode={value} is not one of {string.Join(", ", Enum.GetNames<SslMode>()).ToLowerInvariant()}");
                b.SslMode = mode;
            }
            else throw new ArgumentException($"--db: unknown URL option '{key}' (supported: sslmode)");
        }
        return b;
    }

    private static string Redact(string url) => System.Text.RegularExpressions.Regex.Replace(url, "://([^:@/]*):[^@/]*@", "://$1:***@");

    protected override T With<T>(Func<DbConnection, T> work)
    {
        try
        {
            using var connection = _source.OpenConnection();
            return work(connection);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw;   // the caller's mistake (a duplicate id), not the database's
        }
        catch (NpgsqlException e)
        {
            throw new JobStoreException($"{_description}: {e.Message}", e);
        }
    }

    protected override DbTransaction BeginSchemaTransaction(DbConnection connection)
    {
        var tx = connection.BeginTransaction();
        // A transaction-scoped advisory lock: servers starting together wait for the first to create the schema.
        Execute(connection, tx, "SELECT pg_advisory_xact_lock(72725173)");
        return tx;
    }

    public override void Dispose() => _source.Dispose();
}
