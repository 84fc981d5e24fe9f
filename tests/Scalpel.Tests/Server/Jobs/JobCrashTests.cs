#pragma warning disable OPENAI001   // the fine-tuning client is marked experimental by its authors
using System.Diagnostics;
using OpenAI.Files;
using OpenAI.FineTuning;
using Scalpel.Server.Jobs;
using Scalpel.Training.Recipes;
using Xunit;

namespace Scalpel.Tests.Server.Jobs;

/// <summary>
/// kill -9 of <c>scalpel serve</c> in the middle of a job: started again on the same data folder, the server takes the
/// job over, resumes it from its last checkpoint, and the adapter it ends with equals, tensor for tensor, the adapter of
/// the same job run without interruption.
/// </summary>
[Collection("jobs-server")]
public sealed class JobCrashTests
{
    private const int CheckpointInterval = 5;

    /// <summary>A <c>scalpel serve</c> child process (the built CLI), with the address from its "listening on" line.</summary>
    private sealed class ServeProcess : IDisposable
    {
        private readonly Process _process;
        private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly System.Text.StringBuilder _output = new();

        public ServeProcess(string model, string data)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
                     {
                         Path.Combine(AppContext.BaseDirectory, "Scalpel.Cli.dll"), "serve", "--model", model, "--port", "0", "--data", data,
                         "--checkpoint-interval", CheckpointInterval.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     })
                psi.ArgumentList.Add(arg);
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, e) =>
            {
                lock (_output) _output.AppendLine(e.Data);
                if (e.Data?.StartsWith("listening on ", StringComparison.Ordinal) == true) _listening.TrySetResult(new Uri(e.Data["listening on ".Length..] + "/"));
            };
            _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            _process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException($"scalpel serve exited: {Output}"));
            _process.EnableRaisingEvents = true;
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output { get { lock (_output) return _output.ToString(); } }

        public Uri WaitUntilListening()
        {
            Assert.True(_listening.Task.Wait(TimeSpan.FromSeconds(60)), $"scalpel serve did not print 'listening on': {Output}");
            return _listening.Task.Result;
        }

        public bool HasExited => _process.HasExited;

        public int Id => _process.Id;

        /// <summary>Waits for the process to end on its own; its exit code.</summary>
        public int WaitForExit(TimeSpan timeout)
        {
            Assert.True(_process.WaitForExit(timeout), $"scalpel serve did not exit: {Output}");
            _process.WaitForExit();
            return _process.ExitCode;
        }

        /// <summary>SIGKILL: no shutdown code runs, as when the machine loses power or the OOM killer strikes.</summary>
        public void KillHard()
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        public void Dispose()
        {
            if (!_process.HasExited) KillHard();
            _process.Dispose();
        }
    }

    [Fact]
    public void KilledServerResumesTheJobToTheSameAdapter()
    {
        using var kit = new JobsTestKit();
        string data = Path.Combine(kit.Root, "data");
        string trainPath = kit.KeywordData("train.jsonl", 240, seed: 11);
        var options = new FineTuningOptions
        {
            TrainingMethod = FineTuningTrainingMethod.CreateSupervised(batchSize: 4, epochCount: 2),   // 120 steps
            Seed = 1234,
        };

        string killedJob, fileId;
        int killedAt;
        using (var first = new ServeProcess(kit.ModelDirectory, data))
        {
            var client = JobsTestKit.Client(first.WaitUntilListening());
            using (var stream = File.OpenRead(trainPath))
                fileId = client.GetOpenAIFileClient().UploadFile(stream, "train.jsonl", FileUploadPurpose.FineTune).Value.Id;
            killedJob = client.GetFineTuningClient().FineTune(JobsTestKit.BaseModel, fileId, waitUntilCompleted: false, options).JobId;

            // Kill as soon as the run has a checkpoint: mid-run, with everything after it lost.
            var store = new CheckpointStore(Path.Combine(data, "jobs", killedJob), 3);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (store.Latest is null && !first.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(5);
            Assert.False(first.HasExited, first.Output);
            first.KillHard();
            killedAt = store.Latest?.Step ?? 0;
        }
        Assert.InRange(killedAt, CheckpointInterval, 119);
        using (var db = SqliteJobStore.Open(Path.Combine(data, JobStores.DefaultFileName)))
            Assert.Equal(JobStatus.Running, db.GetJob(killedJob)!.Status);   // killed mid-run: nobody marked it

        using var second = new ServeProcess(kit.ModelDirectory, data);
        var tuning = JobsTestKit.Client(second.WaitUntilListening()).GetFineTuningClient();
        var resumed = JobsTestKit.WaitFor(tuning, killedJob, JobsTestKit.Finished, TimeSpan.FromSeconds(90));
        Assert.True(resumed.Status == FineTuningStatus.Succeeded, JobsTestKit.Json(resumed).ToJsonString());
        var all = resumed.GetEvents(new GetEventsOptions { PageSize = 100 }).ToList();
        var events = all.Select(e => e.Message).ToList();
        // Resumed, not restarted: step 1 ran once; the steps after the checkpoint ran again.
        var steps = all.Where(e => e.Kind == FineTuningJobEventKind.Metrics && e.Message.Contains("training loss", StringComparison.Ordinal))
            .Select(e => (int)System.Text.Json.Nodes.JsonNode.Parse(e.Data.ToString())!["step"]!).ToList();
        Assert.Single(steps, s => s == 1);
        Assert.Single(steps, s => s == 120);
        Assert.Contains(steps, s => s == killedAt + 1);
        var resumeEvent = Assert.Single(events, m => m.StartsWith("The server restarted: resuming from the checkpoint at step", StringComparison.Ordinal));
        Assert.EndsWith($"step {killedAt}", resumeEvent);
        Assert.Equal(1, events.Count(m => m.StartsWith("Fine-tuning job started", StringComparison.Ordinal)));

        // The same job again, uninterrupted, on the restarted server.
        var straight = tuning.FineTune(JobsTestKit.BaseModel, fileId, waitUntilCompleted: false, options);
        straight = JobsTestKit.WaitFor(tuning, straight.JobId, JobsTestKit.Finished, TimeSpan.FromSeconds(90));
        Assert.True(straight.Status == FineTuningStatus.Succeeded, JobsTestKit.Json(straight).ToJsonString());

        var a = JobsTestKit.AdapterTensors(Path.Combine(data, "jobs", killedJob, "adapter"));
        var b = JobsTestKit.AdapterTensors(Path.Combine(data, "jobs", straight.JobId, "adapter"));
        Assert.Equal(b.Keys.Order(), a.Keys.Order());
        Assert.NotEmpty(a);
        foreach (var (name, x) in a)
        {
            var y = b[name];
            Assert.Equal(y.Length, x.Length);
            for (int i = 0; i < x.Length; i++)
                Assert.True(Math.Abs(x[i] - y[i]) <= 1e-6f, $"{name}[{i}]: resumed {x[i]} vs uninterrupted {y[i]}");
        }
    }

    /// <summary>SIGTERM (what systemd and docker stop send): the server stops cleanly, the running job checkpoints and
    /// stays running in the store, paused; the next start takes it over and finishes it.</summary>
    [Fact]
    public void SigtermPausesTheJobAndTheNextStartFinishesIt()
    {
        using var kit = new JobsTestKit();
        string data = Path.Combine(kit.Root, "data");
        string trainPath = kit.KeywordData("train.jsonl", 200, seed: 12);
        string jobId;
        using (var first = new ServeProcess(kit.ModelDirectory, data))
        {
            var client = JobsTestKit.Client(first.WaitUntilListening());
            string fileId;
            using (var stream = File.OpenRead(trainPath))
                fileId = client.GetOpenAIFileClient().UploadFile(stream, "train.jsonl", FileUploadPurpose.FineTune).Value.Id;
            jobId = client.GetFineTuningClient().FineTune(JobsTestKit.BaseModel, fileId, waitUntilCompleted: false, new FineTuningOptions
            {
                TrainingMethod = FineTuningTrainingMethod.CreateSupervised(batchSize: 2, epochCount: 10),   // 1000 steps: it will not finish first
            }).JobId;
            var store = new CheckpointStore(Path.Combine(data, "jobs", jobId), 3);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (store.Latest is null && !first.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(5);
            using (var term = Process.Start("kill", ["-TERM", first.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) term.WaitForExit();
            Assert.Equal(0, first.WaitForExit(TimeSpan.FromSeconds(30)));
        }
        using (var db = SqliteJobStore.Open(Path.Combine(data, JobStores.DefaultFileName)))
        {
            var job = db.GetJob(jobId)!;
            Assert.Equal(JobStatus.Running, job.Status);
            Assert.Null(job.Worker);   // paused: free for the next worker at once
            Assert.StartsWith("The server is stopping: the job paused at step", db.ListEvents(jobId, null, 1).Items[0].Message);
        }

        using var second = new ServeProcess(kit.ModelDirectory, data);
        var tuning = JobsTestKit.Client(second.WaitUntilListening()).GetFineTuningClient();
        var resumed = JobsTestKit.WaitFor(tuning, jobId, j => j.Status != FineTuningStatus.Running || j.GetEvents(new GetEventsOptions { PageSize = 5 })
            .Any(e => e.Message.StartsWith("The server restarted: resuming from the checkpoint at step", StringComparison.Ordinal)), TimeSpan.FromSeconds(60));
        Assert.Equal(FineTuningStatus.Running, resumed.Status);
        resumed.CancelAndUpdate();   // no need to train the other steps
    }
}
