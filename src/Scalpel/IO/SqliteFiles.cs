using Microsoft.Data.Sqlite;

namespace Scalpel.IO;

/// <summary>
/// Opens the SQLite files Scalpel keeps (the runs registry, the server's job database): WAL mode so readers never
/// block the writer, a busy timeout so concurrent processes wait instead of failing, no pooling so closing releases
/// the file.
/// </summary>
public static class SqliteFiles
{
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    private static readonly Lazy<bool> NativeReady = new(() =>
    {
        // Microsoft.Data.Sqlite.Core leaves the choice of native SQLite to us: the e_sqlite3 bundle ships its own library.
        SQLitePCL.Batteries_V2.Init();
        return true;
    });

    /// <summary>Opens (creating it and its folder when missing) a database file; the caller owns the connection.</summary>
    /// <exception cref="SqliteException">not a SQLite file, or it cannot be opened</exception>
    public static SqliteConnection OpenWal(string path)
    {
        _ = NativeReady.Value;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString());
        try
        {
            db.Open();
            foreach (var pragma in new[] { $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL" })
            {
                using var command = db.CreateCommand();
                command.CommandText = pragma;
                command.ExecuteNonQuery();
            }
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }
}
