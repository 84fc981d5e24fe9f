using Scalpel.Server.Files;
using Scalpel.Server.Jobs;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Server.Jobs;

/// <summary>
/// The store contract, on SQLite always and on PostgreSQL when <c>SCALPEL_TEST_POSTGRES</c> names a database
/// (postgres://USER@HOST:PORT/DB; every table in it is dropped first): newest-first pages with after/limit,
/// compare-and-set status changes, a queue that hands each job to exactly one of several competing workers, event and
/// checkpoint lists, and a database from a newer Scalpel refused.
/// </summary>
public sealed class JobStoreTests : IDisposable
{
    private readonly TinyCheckpoint.TempDir _dir = new();

    public static TheoryData<string> Stores()
    {
        var data = new TheoryData<string> { "sqlite" };
        if (Environment.GetEnvironmentVariable("SCALPEL_TEST_POSTGRES") is { Length: > 0 }) data.Add("postgres");
        return data;
    }

    private IJobStore Open(string kind, bool fresh = true)
    {
        if (kind == "sqlite") return JobStores.Open(null, _dir.Path);
        string url = Environment.GetEnvironmentVariable("SCALPEL_TEST_POSTGRES")!;
        if (fresh)
        {
            using var connection = new Npgsql.NpgsqlConnection(PostgresJobStore.ConnectionString(url).ToString());
            connection.Open();
            using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE IF EXISTS files, jobs, job_events, job_checkpoints, scalpel_schema";
            drop.ExecuteNonQuery();
        }
        return JobStores.Open(url, _dir.Path);
    }

    private static JobRecord Job(string? id = null, JobStatus status = JobStatus.Queued) => new()
    {
        Id = id ?? ObjectIds.New(JobPaths.JobIdPrefix), Model = "tiny", TrainingFile = ObjectIds.New(StoredFile.IdPrefix), Seed = 3, Status = status,
        CreatedAt = ObjectIds.Now(), Hyperparameters = """{"n_epochs":"auto","batch_size":"auto","learning_rate_multiplier":"auto"}""",
    };

    [Theory]
    [MemberData(nameof(Stores))]
    public void JobsPageNewestFirstAndChangeStatusOnlyFromTheExpectedOne(string kind)
    {
        using var store = Open(kind);
        var jobs = Enumerable.Range(0, 5).Select(_ => Job()).ToList();
        foreach (var j in jobs) store.AddJob(j);

        var first = store.ListJobs(after: null, limit: 2);
        Assert.Equal([jobs[4].Id, jobs[3].Id], first.Items.Select(j => j.Id));
        Assert.True(first.HasMore);
        var last = store.ListJobs(after: jobs[1].Id, limit: 2);
        Assert.Equal([jobs[0].Id], last.Items.Select(j => j.Id));
        Assert.False(last.HasMore);

        var error = new JobError("invalid_training_file", "train.jsonl (file-x), line 3: bad", "training_file");
        Assert.True(store.UpdateJob(jobs[0] with { Status = JobStatus.Failed, Error = error, FinishedAt = 42 }, JobStatus.Queued));
        Assert.False(store.UpdateJob(jobs[0] with { Status = JobStatus.Running }, JobStatus.Queued));   // no longer queued
        var stored = store.GetJob(jobs[0].Id)!;
        Assert.Equal(JobStatus.Failed, stored.Status);
        Assert.Equal(error, stored.Error);
        Assert.Equal(42, stored.FinishedAt);

        Assert.True(store.CancelJob(jobs[1].Id, 50));
        Assert.False(store.CancelJob(jobs[1].Id, 51));   // already finished
        Assert.False(store.CancelJob(jobs[0].Id, 51));
        Assert.Equal(50, store.GetJob(jobs[1].Id)!.FinishedAt);
        Assert.Null(store.GetJob(ObjectIds.New(JobPaths.JobIdPrefix)));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task EachQueuedJobGoesToExactlyOneOfSeveralWorkers(string kind)
    {
        using var setup = Open(kind);
        var queued = Enumerable.Range(0, 40).Select(_ => Job()).ToList();
        foreach (var j in queued) setup.AddJob(j);

        // Four workers, each with its own connection, claim as fast as they can.
        var claimed = new System.Collections.Concurrent.ConcurrentBag<(string Worker, string Job)>();
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            using var store = Open(kind, fresh: false);
            while (store.ClaimNextQueued($"worker-{w}", ObjectIds.Now()) is { } job) claimed.Add(($"worker-{w}", job.Id));
        })).ToArray();
        await Task.WhenAll(workers);

        Assert.Equal(queued.Select(j => j.Id).Order(), claimed.Select(c => c.Job).Order());   // every job once, none twice
        foreach (var (worker, id) in claimed)
        {
            var job = setup.GetJob(id)!;
            Assert.Equal(JobStatus.Running, job.Status);
            Assert.Equal(worker, job.Worker);
        }
        // Taking over is compare-and-set on the previous worker.
        var (firstWorker, firstJob) = claimed.First();
        Assert.False(setup.TakeOver(firstJob, "someone-else", "worker-9", 1));
        Assert.True(setup.TakeOver(firstJob, firstWorker, "worker-9", 1));
        Assert.False(setup.TakeOver(firstJob, firstWorker, "worker-8", 1));
        Assert.Equal("worker-9", setup.GetJob(firstJob)!.Worker);
        Assert.Null(setup.ClaimNextQueued("worker-9", 1));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void EventsAndCheckpointsListNewestFirst(string kind)
    {
        using var store = Open(kind);
        var job = Job();
        store.AddJob(job);
        var events = Enumerable.Range(1, 7).Select(i => new JobEvent(ObjectIds.New("ftevent-"), job.Id, 100, "info", $"event {i}", "message", null)).ToList();
        foreach (var e in events) store.AddEvent(e);
        store.AddEvent(new JobEvent(ObjectIds.New("ftevent-"), Job().Id, 100, "info", "another job's", "message", null));

        var page = store.ListEvents(job.Id, null, 3);
        Assert.Equal(["event 7", "event 6", "event 5"], page.Items.Select(e => e.Message));
        Assert.True(page.HasMore);
        var rest = store.ListEvents(job.Id, page.Items[^1].Id, 10);
        Assert.Equal(["event 4", "event 3", "event 2", "event 1"], rest.Items.Select(e => e.Message));
        Assert.False(rest.HasMore);

        foreach (int step in new[] { 10, 5, 15 })
            store.SaveCheckpoint(new JobCheckpoint(ObjectIds.New("ftckpt-"), job.Id, 100, step, $$"""{"step":{{step}}}"""));
        store.SaveCheckpoint(new JobCheckpoint(ObjectIds.New("ftckpt-"), job.Id, 101, 10, """{"step":10,"train_loss":1.5}"""));   // replaces
        store.DeleteCheckpoint(job.Id, 5);
        var checkpoints = store.ListCheckpoints(job.Id, null, 10).Items;
        Assert.Equal([15, 10], checkpoints.Select(c => c.Step));
        Assert.Contains("train_loss", checkpoints[1].Metrics);
        Assert.Equal([10], store.ListCheckpoints(job.Id, checkpoints[0].Id, 10).Items.Select(c => c.Step));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public void FilesListByPurposeAndDelete(string kind)
    {
        using var store = Open(kind);
        StoredFile File(string purpose) => new()
        {
            Id = ObjectIds.New(StoredFile.IdPrefix), Filename = "train.jsonl", Purpose = purpose, Bytes = 10, CreatedAt = 1, Status = "processed",
            Extension = ".jsonl", CheckReport = "{}", CheckErrors = 2, FirstError = "train.jsonl (file-x), line 3: bad",
        };
        var files = new[] { File("fine-tune"), File("batch"), File("fine-tune") };
        foreach (var f in files) store.AddFile(f);
        Assert.Equal([files[2].Id, files[0].Id], store.ListFiles("fine-tune", null, 10).Items.Select(f => f.Id));
        Assert.Equal(files[0], store.ListFiles(null, files[1].Id, 10).Items.Single());
        Assert.True(store.DeleteFile(files[0].Id));
        Assert.False(store.DeleteFile(files[0].Id));
        Assert.Null(store.GetFile(files[0].Id));
    }

    [Fact]
    public void ADatabaseFromANewerScalpelIsRefused()
    {
        using (var store = JobStores.Open(null, _dir.Path)) { }
        string path = Path.Combine(_dir.Path, JobStores.DefaultFileName);
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE scalpel_schema SET version = 99";
            cmd.ExecuteNonQuery();
        }
        var e = Assert.Throws<JobStoreException>(() => JobStores.Open(null, _dir.Path));
        Assert.Contains(path, e.Message);
        Assert.Contains("newer Scalpel (job schema 99", e.Message);
    }

    [Theory]
    [InlineData("mysql://host/db", "expected postgres://")]
    [InlineData("postgres://user@host:5432", "name the database")]
    [InlineData("postgres://user:secret@host/db?sslmode=sometimes", "sslmode=sometimes")]
    public void BadDatabaseUrlsSayWhatIsExpected(string url, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => JobStores.Open(url, _dir.Path));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("secret", e.Message);
    }

    [Fact]
    public void AnUnreachablePostgresIsOneClearError()
    {
        var e = Assert.Throws<JobStoreException>(() => JobStores.Open("postgres://scalpel@127.0.0.1:1/jobs", _dir.Path));
        Assert.StartsWith("postgres 127.0.0.1:1/jobs: cannot use the job database:", e.Message);
    }

    public void Dispose() => _dir.Dispose();
}
