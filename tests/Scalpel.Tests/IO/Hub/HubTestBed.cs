using System.Text;
using Scalpel.IO.Hub;
using static Scalpel.Tests.IO.Hub.FakeHub;

namespace Scalpel.Tests.IO.Hub;

/// <summary>A fake hub holding one small model repository (two commits) and a private cache folder, per test.</summary>
internal sealed class HubTestBed : IDisposable
{
    public const string RepoId = "acme/tiny-llama";
    public const int WeightBytes = 1_500_000;

    public HubTestBed()
    {
        var rng = new Random(7);
        Weights = new byte[WeightBytes];
        rng.NextBytes(Weights);
        var vocab = string.Join(", ", Enumerable.Range(0, 2000).Select(i => $"\"tok{i}\": {i}"));
        V1Files = new Dictionary<string, FakeFile>
        {
            ["config.json"] = FakeFile.Text("""{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32}"""),
            ["tokenizer.json"] = FakeFile.Text("{\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}}}"),
            ["model.safetensors"] = new FakeFile(Weights, lfs: true),
        };
        MainFiles = new Dictionary<string, FakeFile>
        {
            ["config.json"] = FakeFile.Text("""{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}"""),
            ["generation_config.json"] = FakeFile.Text("""{"bos_token_id": 1, "eos_token_id": 2}"""),
            ["tokenizer.json"] = V1Files["tokenizer.json"],
            ["tokenizer_config.json"] = FakeFile.Text("""{"bos_token": "<s>", "eos_token": "</s>"}"""),
            ["model.safetensors"] = V1Files["model.safetensors"],
            ["original/params.json"] = FakeFile.Text("""{"dim": 64}"""),
            ["docs/read me ü.md"] = FakeFile.Text("# an awkward name\n"),
        };
        V1 = Hub.AddCommit(RepoId, V1Files, "v1", "v1.0");
        Main = Hub.AddCommit(RepoId, MainFiles, "main");
    }

    public FakeHub Hub { get; } = new();
    public TempDir Dir { get; } = new();
    public byte[] Weights { get; }
    public Dictionary<string, FakeFile> MainFiles { get; }
    public Dictionary<string, FakeFile> V1Files { get; }
    public string Main { get; }
    public string V1 { get; }

    public string Cache => Path.Combine(Dir.Path, "hub");
    public string RepoFolder => Path.Combine(Cache, "models--acme--tiny-llama");
    public string Snapshot(string commit) => Path.Combine(RepoFolder, "snapshots", commit);
    public string Blob(FakeFile file) => Path.Combine(RepoFolder, "blobs", file.Etag);

    /// <summary>An environment with nothing set but HOME (a folder of this test), plus <paramref name="vars"/>.</summary>
    public HubEnvironment Env(params (string Name, string Value)[] vars)
    {
        var map = vars.ToDictionary(v => v.Name, v => v.Value);
        map.TryAdd("HOME", Path.Combine(Dir.Path, "home"));
        return new HubEnvironment(name => map.GetValueOrDefault(name));
    }

    public HubDownloadOptions Options(string revision = "main", string[]? include = null, string? token = null, bool? symlinks = null,
                                      double timeoutSeconds = 5, int attempts = 3, int parallel = 4, bool? offline = null) => new()
    {
        Revision = revision,
        Include = include,
        CacheDir = Cache,
        Endpoint = Hub.Endpoint,
        Token = token,
        UseSymlinks = symlinks,
        Timeout = TimeSpan.FromSeconds(timeoutSeconds),
        MaxAttempts = attempts,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        MaxParallelDownloads = parallel,
        Offline = offline,
    };

    /// <summary>One pull with a fresh client, bounded to 20 s.</summary>
    public async Task<string> Pull(HubDownloadOptions? options = null, HubEnvironment? env = null, IProgress<HubProgress>? progress = null,
                                   CancellationToken ct = default)
    {
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(ct);
        guard.CancelAfter(TimeSpan.FromSeconds(20));
        using var client = new HubClient(environment: env ?? Env());
        return await client.DownloadSnapshotAsync(RepoId, options ?? Options(), progress, guard.Token);
    }

    public static string Read(string path) => Encoding.UTF8.GetString(File.ReadAllBytes(path));

    public void Dispose()
    {
        Hub.Dispose();
        Dir.Dispose();
    }
}

/// <summary>Collects progress events from any thread.</summary>
internal sealed class ProgressLog : IProgress<HubProgress>
{
    private readonly List<HubProgress> _events = [];
    public Action<HubProgress>? OnReport { get; init; }
    public void Report(HubProgress value)
    {
        lock (_events) _events.Add(value);
        OnReport?.Invoke(value);
    }
    public List<HubProgress> Events { get { lock (_events) return [.. _events]; } }
}
