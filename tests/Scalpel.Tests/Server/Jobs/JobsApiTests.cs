#pragma warning disable OPENAI001   // the fine-tuning client is marked experimental by its authors
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Files;
using OpenAI.FineTuning;
using Scalpel.Server;
using Scalpel.Server.Jobs;
using Xunit;

namespace Scalpel.Tests.Server.Jobs;

/// <summary>A server in this process on a free port, over a tiny model; jobs checkpoint every 2 steps.</summary>
public sealed class JobsServerFixture : IAsyncLifetime
{
    public JobsTestKit Kit { get; } = new();
    public ScalpelServer Server { get; private set; } = null!;
    public OpenAIClient Client { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = ScalpelServer.Create(new ServerOptions
        {
            ModelDirectory = Kit.ModelDirectory, Port = 0, DataDirectory = Path.Combine(Kit.Root, "data"), JobCheckpointInterval = 2,
        }, ServerFeatures.All());
        await Server.StartAsync();
        Client = JobsTestKit.Client(Server.Address!);
        Http = new HttpClient { BaseAddress = Server.Address };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Kit.Dispose();
    }

    /// <summary>Uploads a file with purpose fine-tune through the official client.</summary>
    public OpenAIFile Upload(string path, string? name = null)
    {
        using var stream = File.OpenRead(path);
        return Client.GetOpenAIFileClient().UploadFile(stream, name ?? Path.GetFileName(path), FileUploadPurpose.FineTune).Value;
    }
}

/// <summary>
/// /v1/files and /v1/fine_tuning/jobs driven by the official OpenAI .NET client, unchanged, against an in-process
/// server: upload, list, content, check report and delete; a job from validating_files to succeeded with its events
/// (paginated, newest first) and checkpoints (with step metrics); cancel; a bad line failing the job with the file and
/// line; DPO and other bad requests refused with the field named.
/// </summary>
[Collection("jobs-server")]
public sealed class JobsApiTests(JobsServerFixture fx) : IClassFixture<JobsServerFixture>
{
    private FineTuningClient Tuning => fx.Client.GetFineTuningClient();
    private OpenAIFileClient Files => fx.Client.GetOpenAIFileClient();

    [Fact]
    public async Task FilesUploadListDownloadCheckAndDelete()
    {
        string path = fx.Kit.KeywordData("small.jsonl", 20, seed: 5);
        var uploaded = fx.Upload(path);
        Assert.Matches("^file-[A-Za-z0-9]{24}$", uploaded.Id);
        Assert.Equal("small.jsonl", uploaded.Filename);
        Assert.Equal(new FileInfo(path).Length, uploaded.SizeInBytesLong);
        Assert.Equal(FilePurpose.FineTune, uploaded.Purpose);
        Assert.Equal(uploaded.Id, Files.GetFile(uploaded.Id).Value.Id);
        Assert.Contains(Files.GetFiles().Value, f => f.Id == uploaded.Id);
        Assert.Equal(File.ReadAllBytes(path), Files.DownloadFile(uploaded.Id).Value.ToArray());
        // Stored under DATA/files/<id>.jsonl: the id, never the client's name, names the file on disk.
        Assert.True(File.Exists(Path.Combine(fx.Kit.Root, "data", "files", uploaded.Id + ".jsonl")));

        var check = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/files/{uploaded.Id}/check"))!;
        Assert.Equal(0, (long)check["error_count"]!);
        Assert.Equal(20, (long)check["report"]!["examples"]!);
        Assert.Equal("small.jsonl", (string?)check["report"]!["file"]);
        Assert.NotNull(check["report"]!["stats"]!["tokens"]);   // counted with the base model's tokenizer

        Assert.True(Files.DeleteFile(uploaded.Id).Value.Deleted);
        var gone = Assert.Throws<ClientResultException>(() => Files.GetFile(uploaded.Id));
        Assert.Equal(404, gone.Status);
        Assert.False(File.Exists(Path.Combine(fx.Kit.Root, "data", "files", uploaded.Id + ".jsonl")));

        // Ids that do not have the id shape never reach the disk.
        var bad = await fx.Http.GetAsync("/v1/files/..%2F..%2Fscalpel.db/content");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("is not a file id", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task JobRunsToSucceededWithEventsAndCheckpoints()
    {
        var train = fx.Upload(fx.Kit.KeywordData("train.jsonl", 160, seed: 1));
        var validation = fx.Upload(fx.Kit.KeywordData("val.jsonl", 24, seed: 2));
        var job = Tuning.FineTune(JobsTestKit.BaseModel, train.Id, waitUntilCompleted: false, new FineTuningOptions
        {
            TrainingMethod = FineTuningTrainingMethod.CreateSupervised(batchSize: 8, epochCount: 1, learningRate: 3.0),
            Suffix = "kw",
            Seed = 7,
            ValidationFile = validation.Id,
        });
        Assert.Matches("^ftjob-[A-Za-z0-9]{24}$", job.JobId);
        Assert.Equal(FineTuningStatus.ValidatingFiles, job.Status);

        job = JobsTestKit.WaitFor(Tuning, job.JobId, JobsTestKit.Finished, TimeSpan.FromSeconds(60));
        var json = JobsTestKit.Json(job);
        Assert.True(job.Status == FineTuningStatus.Succeeded, json.ToJsonString());
        string model = $"ft:{JobsTestKit.BaseModel}:kw:{job.JobId}";
        Assert.Equal(model, (string?)json["fine_tuned_model"]);
        Assert.NotNull((long?)json["finished_at"]);
        Assert.True((long)json["trained_tokens"]! > 0);
        Assert.Equal(1, (int)json["hyperparameters"]!["n_epochs"]!);
        Assert.Equal(8, (int)json["hyperparameters"]!["batch_size"]!);
        Assert.Equal(3.0, (double)json["method"]!["supervised"]!["hyperparameters"]!["learning_rate_multiplier"]!);
        Assert.Equal(7, job.Seed);

        // The adapter is servable: the inference side finds it through IFineTunedModels.
        var models = fx.Server.Services.GetRequiredService<IFineTunedModels>();
        var adapter = models.AdapterDirectoryOf(model);
        Assert.NotNull(adapter);
        Assert.True(File.Exists(Path.Combine(adapter!, "adapter_model.safetensors")));
        Assert.Contains(models.List(), m => m.Id == model);

        // Events: newest first, in pages; the official client walks every page.
        var events = job.GetEvents(new GetEventsOptions { PageSize = 4 }).ToList();
        Assert.True(events.Count > 20, $"{events.Count} events");
        Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());
        Assert.StartsWith("The job has successfully completed", events[0].Message);
        Assert.Equal($"Created fine-tuning job: {job.JobId}", events[^1].Message);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.CreatedAt >= p.Second.CreatedAt));
        var metrics = events.Where(e => e.Kind == FineTuningJobEventKind.Metrics && e.Message.Contains("training loss")).ToList();
        Assert.Equal(20, metrics.Count);   // 160 examples / 8 per step, one epoch: a metrics event a step
        Assert.Equal(20, (int)JsonNode.Parse(metrics[0].Data.ToString())!["step"]!);
        var firstPage = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{job.JobId}/events?limit=4"))!;
        Assert.True((bool)firstPage["has_more"]!);
        string lastId = (string)firstPage["data"]![3]!["id"]!;
        var secondPage = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/fine_tuning/jobs/{job.JobId}/events?limit=4&after={lastId}"))!;
        Assert.Equal(events[4].Id, (string?)secondPage["data"]![0]!["id"]);

        // Checkpoints: the last 3 kept (every 2 steps) and the best; newest first, with the metrics of their step.
        var checkpoints = job.GetCheckpoints(new GetCheckpointsOptions { PageSize = 2 }).ToList();
        Assert.InRange(checkpoints.Count, 3, 4);
        Assert.Equal(20, checkpoints[0].StepNumber);
        Assert.True(checkpoints.Zip(checkpoints.Skip(1)).All(p => p.First.StepNumber > p.Second.StepNumber));
        Assert.All(checkpoints, c =>
        {
            Assert.Equal(job.JobId, c.JobId);
            Assert.Equal($"{model}:ckpt-step-{c.StepNumber}", c.ModelId);
            Assert.Equal(c.StepNumber, c.Metrics.StepNumber);
            Assert.NotNull(c.Metrics.TrainLoss);
        });
        Assert.NotNull(checkpoints[0].Metrics.ValidLoss);   // validated at the last step

        // The job list pages with after/limit, newest first.
        var listed = Tuning.GetJobs(new FineTuningJobCollectionOptions { PageSize = 1 }).Select(j => j.JobId).ToList();
        Assert.Contains(job.JobId, listed);
    }

    [Fact]
    public void CancelStopsARunningJob()
    {
        var train = fx.Upload(fx.Kit.KeywordData("long.jsonl", 200, seed: 3));
        var job = Tuning.FineTune(JobsTestKit.BaseModel, train.Id, waitUntilCompleted: false, new FineTuningOptions
        {
            TrainingMethod = FineTuningTrainingMethod.CreateSupervised(batchSize: 2, epochCount: 50),
        });
        job = JobsTestKit.WaitFor(Tuning, job.JobId, j => j.Status == FineTuningStatus.Running || JobsTestKit.Finished(j), TimeSpan.FromSeconds(60));
        Assert.Equal(FineTuningStatus.Running, job.Status);
        // The file a job still needs cannot be deleted from under it.
        var inUse = Assert.Throws<ClientResultException>(() => Files.DeleteFile(train.Id));
        Assert.Equal(409, inUse.Status);
        Assert.Contains(job.JobId, inUse.Message);

        job.CancelAndUpdate();
        Assert.Equal(FineTuningStatus.Cancelled, job.Status);

        // The worker stops the run at its next step and says so; the job never gets a model.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!job.GetEvents(new GetEventsOptions()).Any(e => e.Message.StartsWith("The job was cancelled at step", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the run did not stop after the cancel");
            Thread.Sleep(50);
        }
        var json = JobsTestKit.Json(Tuning.GetJob(job.JobId));
        Assert.Equal("cancelled", (string?)json["status"]);
        Assert.Null((string?)json["fine_tuned_model"]);
        Assert.NotNull((long?)json["finished_at"]);

        // A finished job cannot be cancelled again; its file can go now.
        var again = Assert.Throws<ClientResultException>(() => Tuning.GetJob(job.JobId).CancelAndUpdate());
        Assert.Equal(400, again.Status);
        Assert.True(Files.DeleteFile(train.Id).Value.Deleted);
    }

    [Fact]
    public async Task ABrokenLineFailsTheJobWithFileAndLine()
    {
        string path = Path.Combine(fx.Kit.DataFiles, "broken.jsonl");
        var lines = File.ReadAllLines(fx.Kit.KeywordData("ok.jsonl", 12, seed: 4)).ToList();
        lines[2] = """{"messages": [{"role": "user", "content": "Which class: apple"}, {"role": "assistant", "content": """;
        File.WriteAllLines(path, lines);
        var file = fx.Upload(path);
        var stored = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/files/{file.Id}"))!;
        Assert.Equal("processed", (string?)stored["status"]);   // kept (the report is worth showing), but flagged
        Assert.Contains("line 3", (string?)stored["status_details"]);

        var job = Tuning.FineTune(JobsTestKit.BaseModel, file.Id, waitUntilCompleted: false);
        job = JobsTestKit.WaitFor(Tuning, job.JobId, JobsTestKit.Finished, TimeSpan.FromSeconds(30));
        Assert.Equal(FineTuningStatus.Failed, job.Status);
        var error = JobsTestKit.Json(job)["error"]!;
        Assert.Equal("invalid_training_file", (string?)error["code"]);
        Assert.Equal("training_file", (string?)error["param"]);
        string message = (string)error["message"]!;
        Assert.Contains($"broken.jsonl ({file.Id}), line 3", message);
        Assert.Contains($"/v1/files/{file.Id}/check", message);

        var check = JsonNode.Parse(await fx.Http.GetStringAsync($"/v1/files/{file.Id}/check"))!;
        Assert.Equal(1, (long)check["error_count"]!);
        Assert.Equal(3, (long)check["report"]!["errors"]![0]!["line"]!);
    }

    [Fact]
    public void DpoAndOtherModelsAreRefusedClearly()
    {
        var train = fx.Upload(fx.Kit.KeywordData("small2.jsonl", 10, seed: 6));
        var dpo = Assert.Throws<ClientResultException>(() => Tuning.FineTune(JobsTestKit.BaseModel, train.Id, waitUntilCompleted: false,
            new FineTuningOptions { TrainingMethod = FineTuningTrainingMethod.CreateDirectPreferenceOptimization() }));
        Assert.Equal(400, dpo.Status);
        Assert.Contains("method.type 'dpo' is not supported yet", dpo.Message);

        var model = Assert.Throws<ClientResultException>(() => Tuning.FineTune("gpt-4o-mini-2024-07-18", train.Id, waitUntilCompleted: false));
        Assert.Equal(400, model.Status);
        Assert.Contains($"'{JobsTestKit.BaseModel}'", model.Message);

        var missing = Assert.Throws<ClientResultException>(() => Tuning.FineTune(JobsTestKit.BaseModel, "file-000000000000000000000000", waitUntilCompleted: false));
        Assert.Equal(400, missing.Status);
        Assert.Contains("training_file: no file with id", missing.Message);
    }

    [Theory]
    [InlineData("""{"model": "tiny-llama", "training_file": "FILE", "hyperparameters": {"n_epochs": "lots"}}""", "hyperparameters.n_epochs")]
    [InlineData("""{"model": "tiny-llama", "training_file": "FILE", "method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 0}}}}""", "method.supervised.hyperparameters.batch_size")]
    [InlineData("""{"model": "tiny-llama", "training_file": "FILE", "hyperparameters": {"learning_rate": 0.1}}""", "hyperparameters.learning_rate")]
    [InlineData("""{"model": "tiny-llama", "training_file": "FILE", "suffix": "a:b"}""", "suffix")]
    [InlineData("""{"model": "tiny-llama", "training_file": "../../etc/passwd"}""", "training_file")]
    [InlineData("""{"model": "tiny-llama"}""", "training_file")]
    [InlineData("""{"model": "tiny-llama", "training_file": "FILE", "seed": -1}""", "seed")]
    public async Task BadRequestsNameTheField(string body, string param)
    {
        var train = fx.Upload(fx.Kit.KeywordData("small3.jsonl", 10, seed: 8));
        var response = await fx.Http.PostAsync("/v1/fine_tuning/jobs", new StringContent(body.Replace("FILE", train.Id), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(param, (string?)error["param"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
    }

    [Fact]
    public async Task UploadsOverTheSizeLimitAreRefusedAndLeaveNothingBehind()
    {
        string dataDir = Path.Combine(fx.Kit.Root, "small-limit");
        await using var server = ScalpelServer.Create(new ServerOptions
        {
            ModelDirectory = fx.Kit.ModelDirectory, Port = 0, DataDirectory = dataDir, MaxBodyBytes = 4096,
        }, ServerFeatures.All());
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.Address };
        using var form = new MultipartFormDataContent
        {
            { new StringContent("fine-tune"), "purpose" },
            { new ByteArrayContent(File.ReadAllBytes(fx.Kit.KeywordData("big.jsonl", 200, seed: 9))), "file", "big.jsonl" },
        };
        var response = await http.PostAsync("/v1/files", form);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("4,096 bytes", await response.Content.ReadAsStringAsync());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(dataDir, "files")));   // no temp file, no half file
        Assert.Empty(JsonNode.Parse(await http.GetStringAsync("/v1/files"))!["data"]!.AsArray());
    }
}
