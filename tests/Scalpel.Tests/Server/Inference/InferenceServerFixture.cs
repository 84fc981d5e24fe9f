using System.ClientModel;
using System.Text.Json.Nodes;
using OpenAI;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Generation;
using Scalpel.Models;
using Scalpel.Server;
using Scalpel.Server.Inference;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Server.Inference;

/// <summary>
/// A tiny model folder ("tiny-base": byte-level BPE, ChatML template, random weights, 4096 positions) with two random
/// LoRA adapters ("adapter-a" on every linear, "adapter-b" on q/v), served by <c>scalpel serve</c>'s features in this
/// process on a free loopback port; and the same folders loaded separately as references.
/// </summary>
public sealed class InferenceServerFixture : IAsyncLifetime
{
    private readonly TinyCheckpoint.TempDir _dir = new();
    private readonly Dictionary<string, InferenceModel> _references = new();

    public string ModelDirectory => Path.Combine(_dir.Path, "tiny-base");
    public string AdapterA => Path.Combine(_dir.Path, "adapter-a");
    public string AdapterB => Path.Combine(_dir.Path, "adapter-b");
    public ScalpelServer Server { get; private set; } = null!;
    public InferenceService Service => (InferenceService)Server.Services.GetService(typeof(InferenceService))!;

    public async Task InitializeAsync()
    {
        WriteModel(ModelDirectory);
        WriteAdapter(ModelDirectory, AdapterA, ["all-linear"], seed: 0);
        WriteAdapter(ModelDirectory, AdapterB, ["q_proj", "v_proj"], seed: 1);
        Server = await Start(new ServerOptions
        {
            ModelDirectory = ModelDirectory,
            Adapters = [AdapterA, AdapterB],
            Port = 0,
            DataDirectory = Path.Combine(_dir.Path, "data"),
            MaxBatch = 8,
            MaxQueue = 256,
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var m in _references.Values) m.Dispose();
        _dir.Dispose();
    }

    /// <summary>A server with every feature of <c>scalpel serve</c>, started on a free port.</summary>
    public static async Task<ScalpelServer> Start(ServerOptions options)
    {
        var server = ScalpelServer.Create(options, ServerFeatures.All());
        await server.StartAsync();
        return server;
    }

    /// <summary>The pipeline check's tiny model with room for 4096 positions (long answers for the disconnect and queue tests).</summary>
    public static void WriteModel(string directory)
    {
        PipelineCheck.WriteTinyModel(directory, seed: 21);
        string config = Path.Combine(directory, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(config))!;
        json["max_position_embeddings"] = 4096;
        File.WriteAllText(config, json.ToJsonString());
    }

    public static void WriteAdapter(string baseDirectory, string adapterDirectory, string[] targets, int seed)
    {
        using var trained = DecoderModel.Load(baseDirectory, new CpuBackend());
        trained.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, TargetModules = targets }, seed: seed);
        DecoderOracle.RandomizeLoraB(trained, 10 + seed);
        PeftAdapter.Save(trained, adapterDirectory);
    }

    public static OpenAIClient Client(Uri address, string key = "no-key-needed", OpenAIClientOptions? options = null)
    {
        options ??= new OpenAIClientOptions();
        options.Endpoint = new Uri(address, "v1");
        return new OpenAIClient(new ApiKeyCredential(key), options);
    }

    public OpenAIClient Client() => Client(Server.Address!);

    public HttpClient Http() => new() { BaseAddress = Server.Address };

    /// <summary>The base model, or the base with an adapter applied (PeftAdapter.Load: merged into the model's own LoRA), loaded apart from the server.</summary>
    public InferenceModel Reference(string? adapterDirectory = null)
    {
        lock (_references)
        {
            string key = adapterDirectory ?? "";
            if (!_references.TryGetValue(key, out var model))
                _references[key] = model = InferenceModel.Load(ModelDirectory, adapterDirectory);
            return model;
        }
    }

    /// <summary>What the reference generator answers to one user message.</summary>
    public GenerationResult Generate(string user, int maxTokens, SamplingOptions? sampling = null, string? adapterDirectory = null,
        bool logprobs = false, int topLogprobs = 0, IReadOnlyList<string>? stop = null)
    {
        var model = Reference(adapterDirectory);
        var prompt = model.EncodeConversation(new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = user }));
        lock (model)
        {
            return model.Generator.Generate(new GenerationRequest
            {
                PromptIds = prompt,
                MaxNewTokens = maxTokens,
                Sampling = sampling ?? SamplingOptions.Greedy,
                Logprobs = logprobs,
                TopLogprobs = topLogprobs,
                StopStrings = stop ?? [],
            });
        }
    }
}
