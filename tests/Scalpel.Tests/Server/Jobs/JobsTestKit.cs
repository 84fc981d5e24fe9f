#pragma warning disable OPENAI001   // the fine-tuning client is marked experimental by its authors
using System.ClientModel;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.FineTuning;
using Scalpel.IO;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Server.Jobs;

/// <summary>The server tests of this folder train on the CPU: they run one class at a time, never side by side.</summary>
[CollectionDefinition("jobs-server")]
public sealed class JobsServerCollection;

/// <summary>
/// What the job tests share: a tiny Llama model with a tokenizer and chat template (its folder name, tiny-llama, is the
/// base model id), keyword-task chat JSONL files, the official OpenAI client pointed at a server, and polling.
/// </summary>
public sealed class JobsTestKit : IDisposable
{
    public const string BaseModel = "tiny-llama";
    private readonly TinyCheckpoint.TempDir _dir = new();

    public JobsTestKit()
    {
        PipelineCheck.WriteTinyModel(ModelDirectory, seed: 1234);
        Directory.CreateDirectory(DataFiles);
    }

    public string Root => _dir.Path;
    public string ModelDirectory => Path.Combine(Root, BaseModel);
    public string DataFiles => Path.Combine(Root, "inputs");

    /// <summary>A keyword-task chat file (one JSON object per line) of <paramref name="count"/> examples.</summary>
    public string KeywordData(string name, int count, int seed)
    {
        string path = Path.Combine(DataFiles, name);
        if (!File.Exists(path)) PipelineCheck.WriteData(path, count, seed);
        return path;
    }

    public static OpenAIClient Client(Uri server) =>
        new(new ApiKeyCredential("sk-unused-by-a-loopback-server"), new OpenAIClientOptions { Endpoint = new Uri(server, "v1") });

    /// <summary>The job's JSON as the server last sent it (fields the typed client does not expose, e.g. error).</summary>
    public static JsonObject Json(FineTuningJob job) => JsonNode.Parse(job.GetRawResponse().Content.ToString())!.AsObject();

    /// <summary>Polls the job until <paramref name="done"/> holds; fails with the job's JSON on timeout.</summary>
    public static FineTuningJob WaitFor(FineTuningClient client, string jobId, Func<FineTuningJob, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var job = client.GetJob(jobId);
        while (!done(job))
        {
            Assert.True(DateTime.UtcNow < deadline, $"gave up after {timeout.TotalSeconds:0} s waiting for {jobId}: {Json(job).ToJsonString()}");
            Thread.Sleep(50);
            job = client.GetJob(jobId);
        }
        return job;
    }

    public static bool Finished(FineTuningJob job) =>
        job.Status == FineTuningStatus.Succeeded || job.Status == FineTuningStatus.Failed || job.Status == FineTuningStatus.Cancelled;

    /// <summary>Every tensor of a PEFT adapter folder, by name.</summary>
    public static Dictionary<string, float[]> AdapterTensors(string adapterDirectory)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(adapterDirectory, "adapter_model.safetensors"));
        return file.Tensors.Keys.ToDictionary(name => name, name =>
        {
            var values = new float[file.Tensors[name].ElementCount];
            file.ReadAsF32(name, values);
            return values;
        });
    }

    public void Dispose() => _dir.Dispose();
}
