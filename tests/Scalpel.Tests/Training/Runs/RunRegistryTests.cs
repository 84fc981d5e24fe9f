using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Scalpel.Tests.Models;
using Scalpel.Training.Runs;
using Xunit;

namespace Scalpel.Tests.Training.Runs;

public class RunRegistryTests
{
    private static RunRecord Sample(string id, DateTime started, RunStatus status = RunStatus.Completed) => new()
    {
        Id = id,
        Name = "run-" + id,
        RunDirectory = "/runs/" + id,
        ConfigPath = "/runs/" + id + "/config.yaml",
        Model = "/models/SmolLM2-135M",
        Dataset = "/data/train.jsonl",
        Method = "lora",
        Status = status,
        StartedUtc = started,
        EndedUtc = started.AddMinutes(5),
        BestValLoss = 1.2345,
        BestStep = 150,
        Steps = 200,
        Duration = TimeSpan.FromSeconds(299.5),
        ProcessId = 1,
        Host = "elsewhere",
    };

    private static readonly DateTime T0 = new(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    private static SqliteConnection Raw(string path)
    {
        SQLitePCL.Batteries_V2.Init();
        var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        return c;
    }

    private static object? Pragma(string path, string name)
    {
        using var c = Raw(path);
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA " + name;
        return cmd.ExecuteScalar();
    }

    [Fact]
    public void OpenCreatesAVersionedWalFile()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "home", "runs.db");
        using (var registry = RunRegistry.Open(path))
        {
            Assert.Equal(path, registry.FilePath);
            Assert.Empty(registry.List());
        }
        Assert.True(File.Exists(path));
        Assert.Equal((long)RunRegistry.SchemaVersion, Pragma(path, "user_version"));
        Assert.Equal("wal", Pragma(path, "journal_mode"));
        using var again = RunRegistry.Open(path);   // opening an existing file does not re-create the schema
        Assert.Empty(again.List());
    }

    [Fact]
    public void RegisterThenGetGivesTheSameRecord()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var run = Sample("a1b2c3d4e5f6", T0);
        using (var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db")))
            registry.Register(run);
        using var reopened = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        var back = reopened.Get("a1b2c3d4e5f6");
        Assert.Equal(run, back);
        Assert.Equal(DateTimeKind.Utc, back!.StartedUtc.Kind);
    }

    [Fact]
    public void OptionalFieldsMayBeMissingAndLocalTimesAreStoredAsUtc()
    {
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        var local = new DateTime(2025, 3, 1, 13, 0, 0, DateTimeKind.Local);
        registry.Register(new RunRecord { Id = "000000000001", RunDirectory = "/r", StartedUtc = local });
        var back = registry.Get("000000000001")!;
        Assert.Equal(local.ToUniversalTime(), back.StartedUtc);
        Assert.Null(back.Name);
        Assert.Null(back.EndedUtc);
        Assert.Null(back.BestValLoss);
        Assert.Null(back.Duration);
        Assert.Equal(RunStatus.Running, back.Status);
        Assert.Equal(Environment.ProcessId, back.ProcessId);   // Register fills in this process
        Assert.Equal(Environment.MachineName, back.Host);
    }

    [Fact]
    public void UpdateReplacesTheRow()
    {
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        var run = Sample("abcdef000000", T0, RunStatus.Running) with { ProcessId = Environment.ProcessId, Host = Environment.MachineName };
        registry.Register(run);
        var done = run with { Status = RunStatus.Stopped, Steps = 321, BestValLoss = 0.5, BestStep = 300, EndedUtc = T0.AddHours(2) };
        registry.Update(done);
        Assert.Equal(done, registry.Get("abcdef000000"));

        var e = Assert.Throws<RunRegistryException>(() => registry.Update(run with { Id = "ffffffffffff" }));
        Assert.Contains("no run with id ffffffffffff", e.Message);
    }

    [Fact]
    public void DuplicateIdsAreRefused()
    {
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        registry.Register(Sample("aaaaaaaaaaaa", T0));
        var e = Assert.Throws<RunRegistryException>(() => registry.Register(Sample("aaaaaaaaaaaa", T0)));
        Assert.Contains("aaaaaaaaaaaa is already registered", e.Message);
    }

    [Fact]
    public void ListIsNewestFirst()
    {
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        registry.Register(Sample("000000000002", T0.AddDays(1)));
        registry.Register(Sample("000000000001", T0));
        registry.Register(Sample("000000000003", T0.AddDays(2)));
        Assert.Equal(["000000000003", "000000000002", "000000000001"], registry.List().Select(r => r.Id));
    }

    [Fact]
    public void GetAcceptsAUniquePrefix()
    {
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        registry.Register(Sample("ab1111111111", T0));
        registry.Register(Sample("ab2222222222", T0.AddHours(1)));
        registry.Register(Sample("cd3333333333", T0.AddHours(2)));
        Assert.Equal("ab1111111111", registry.Get("ab1")!.Id);
        Assert.Equal("cd3333333333", registry.Get("c")!.Id);
        Assert.Null(registry.Get("ef"));
        Assert.Null(registry.Get(""));
        Assert.Null(registry.Get("%"));   // no wildcard matching
        var e = Assert.Throws<RunRegistryException>(() => registry.Get("ab"));
        Assert.Contains("'ab' is ambiguous: 2 runs match (ab2222222222, ab1111111111)", e.Message);
    }

    [Fact]
    public void ARunningRowWhoseProcessIsGoneReadsAsInterrupted()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "runs.db");
        using var exited = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        exited.WaitForExit();
        using (var registry = RunRegistry.Open(path))
        {
            registry.Register(Sample("dead00000000", DateTime.UtcNow, RunStatus.Running) with { ProcessId = exited.Id, Host = Environment.MachineName, EndedUtc = null });
            registry.Register(Sample("a1ive0000000", DateTime.UtcNow, RunStatus.Running) with { ProcessId = Environment.ProcessId, Host = Environment.MachineName, EndedUtc = null });
            registry.Register(Sample("0ther0000000", DateTime.UtcNow, RunStatus.Running) with { ProcessId = exited.Id, Host = "another-machine", EndedUtc = null });
            var byId = registry.List().ToDictionary(r => r.Id, r => r.Status);
            Assert.Equal(RunStatus.Interrupted, byId["dead00000000"]);
            Assert.Equal(RunStatus.Running, byId["a1ive0000000"]);
            Assert.Equal(RunStatus.Running, byId["0ther0000000"]);   // another machine's process cannot be checked from here
        }
        using var raw = Raw(path);
        using var cmd = raw.CreateCommand();
        cmd.CommandText = "SELECT status FROM runs WHERE id = 'dead00000000'";
        Assert.Equal("interrupted", cmd.ExecuteScalar());   // and it is recorded

        // A live process with the recorded id that started after the row's last write is not the run's process (pid reuse).
        cmd.CommandText = "UPDATE runs SET updated_utc = '2000-01-01T00:00:00.0000000Z' WHERE id = 'a1ive0000000'";
        cmd.ExecuteNonQuery();
        using var registry2 = RunRegistry.Open(path);
        Assert.Equal(RunStatus.Interrupted, registry2.Get("a1ive")!.Status);
    }

    [Fact]
    public void AResumedRunInANewProcessIsRunning()
    {
        // Started long ago by another process; resumed now by this one, which updates the row.
        using var dir = new TinyCheckpoint.TempDir();
        using var registry = RunRegistry.Open(Path.Combine(dir.Path, "runs.db"));
        var run = Sample("0123456789ab", T0, RunStatus.Interrupted) with { EndedUtc = null };
        registry.Register(run);
        registry.Update(run with { Status = RunStatus.Running, ProcessId = Environment.ProcessId, Host = Environment.MachineName });
        Assert.Equal(RunStatus.Running, registry.Get("0123456789ab")!.Status);
    }

    [Fact]
    public void ANewerSchemaIsRefused()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "runs.db");
        RunRegistry.Open(path).Dispose();
        using (var c = Raw(path))
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "PRAGMA user_version = 99";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<RunRegistryException>(() => RunRegistry.Open(path));
        Assert.Contains("newer Scalpel (registry schema 99; this build knows 1)", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AFileThatIsNotADatabaseIsNamed()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "runs.db");
        File.WriteAllText(path, new string('x', 4096));
        var e = Assert.Throws<RunRegistryException>(() => RunRegistry.Open(path));
        Assert.StartsWith(path + ": cannot use the runs registry", e.Message);
        Assert.Contains("not a database", e.Message);
    }

    [Fact]
    public void TwoConnectionsWritingAtOnceLoseNothing()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "runs.db");
        Parallel.For(0, 4, writer =>
        {
            using var registry = RunRegistry.Open(path);   // each its own connection (and the first ones race to create the schema)
            for (int i = 0; i < 25; i++)
            {
                var run = Sample($"{writer:x2}{i:x10}", T0.AddMinutes(i));
                registry.Register(run);
                registry.Update(run with { Steps = i });
            }
        });
        using var check = RunRegistry.Open(path);
        Assert.Equal(100, check.List().Count);
    }

    [Fact]
    public void AnotherProcessHoldingTheWriteLockMakesRegisterWaitNotFail()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "runs.db");
        RunRegistry.Open(path).Dispose();
        // python3's sqlite3 module (stdlib; python3 is already needed by the PyTorch oracles) takes the write lock for 1.5 s.
        string script = """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO runs (id, run_dir, status, started_utc, updated_utc) VALUES ('fromp7th0n00', '/r', 'completed', '2025-01-01T00:00:00.0000000Z', '2025-01-01T00:00:00.0000000Z')")
            print("locked", flush=True)
            time.sleep(1.5)
            c.execute("COMMIT")
            """;
        using var python = Process.Start(new ProcessStartInfo("python3", ["-c", script, path]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        Assert.Equal("locked", python.StandardOutput.ReadLine());
        var watch = Stopwatch.StartNew();
        using (var registry = RunRegistry.Open(path))
        {
            registry.Register(Sample("0000000000aa", T0));
            Assert.True(watch.Elapsed > TimeSpan.FromSeconds(0.5), $"Register returned after {watch.Elapsed} while another process held the lock");
            Assert.Equal(2, registry.List().Count);
        }
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, python.StandardError.ReadToEnd());
    }
}

/// <summary>Changes SCALPEL_HOME: runs with the other console/environment tests, never beside them.</summary>
[Collection("console")]
public class RunRegistryHomeTests
{
    [Fact]
    public void DefaultPathIsInTheScalpelHome()
    {
        Assert.Equal(Path.GetFullPath("/tmp/somewhere/runs.db"), RunRegistry.DefaultPath("/tmp/somewhere"));
        string? old = Environment.GetEnvironmentVariable("SCALPEL_HOME");
        try
        {
            Environment.SetEnvironmentVariable("SCALPEL_HOME", "/tmp/scalpel-home-test");
            Assert.Equal("/tmp/scalpel-home-test/runs.db", RunRegistry.DefaultPath());
            Environment.SetEnvironmentVariable("SCALPEL_HOME", null);
            Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".scalpel", "runs.db"), RunRegistry.DefaultPath());
        }
        finally { Environment.SetEnvironmentVariable("SCALPEL_HOME", old); }
    }
}
