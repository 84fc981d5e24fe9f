using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Generation;
using Scalpel.Generation.Constraints;

namespace Scalpel.Server.Inference;

/// <summary>A model folder the server cannot serve (it does not load, or an adapter given with --adapters is broken).</summary>
public sealed class ServerStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// What every inference request shares: the base model (loaded once, at start), the continuous-batching scheduler that
/// decodes all requests' sequences together, the served model ids with their adapters, and the compiled grammars.
/// </summary>
public sealed class InferenceService : IDisposable
{
    /// <summary>Distinct response_format / tool schemas kept compiled.</summary>
    private const int GrammarCapacity = 64;

    public InferenceService(ServerOptions options)
    {
        string directory = Path.GetFullPath(options.ModelDirectory);
        try
        {
            Model = InferenceModel.Load(directory);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ServerStartException($"--model {options.ModelDirectory}: cannot load the model: {e.Message}", e);
        }
        try
        {
            int context = Math.Min(options.ContextLength ?? 4096, Model.Model.Spec.MaxPositions);
            Scheduler = new BatchScheduler(Model.Generator, options.MaxBatch, options.MaxQueue, context);
            string baseId = Path.GetFileName(directory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
            Models = new ModelRegistry(Model.Model,
                new ServedModel(baseId, null, new DateTimeOffset(Directory.GetLastWriteTimeUtc(directory), TimeSpan.Zero), "scalpel"),
                options.MaxLoadedAdapters);
            foreach (var adapter in options.Adapters)
            {
                string name = Path.GetFileName(Path.GetFullPath(adapter).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
                try
                {
                    PeftAdapter.ReadConfig(adapter);              // a broken adapter fails the start, not its first request
                    Models.Register(name, adapter, ownedBy: "scalpel");
                }
                catch (Exception e) when (e is AdapterFormatException or IOException or ArgumentException)
                {
                    throw new ServerStartException($"--adapters {adapter}: {e.Message}", e);
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        DefaultSampling = Model.Defaults.Sampling.IsGreedy
            ? new SamplingOptions { Temperature = 1f, RepetitionPenalty = Model.Defaults.Sampling.RepetitionPenalty }
            : Model.Defaults.Sampling;
    }

    public InferenceModel Model { get; }
    public BatchScheduler Scheduler { get; } = null!;
    public ModelRegistry Models { get; } = null!;
    internal GrammarCache Grammars { get; } = new(GrammarCapacity);

    /// <summary>
    /// Settings for the sampling fields a request leaves out: the model's generation_config.json when it samples
    /// (do_sample), otherwise OpenAI's defaults (temperature 1, top_p 1), with the folder's repetition penalty either way.
    /// </summary>
    public SamplingOptions DefaultSampling { get; }

    /// <summary>A grammar for a JSON schema, compiled once per distinct schema text.</summary>
    internal TokenGrammar SchemaGrammar(JsonNode schema) =>
        Grammars.Get("schema:" + schema.ToJsonString(), () => TokenGrammar.JsonSchema(Model.Vocabulary, schema));

    internal TokenGrammar JsonObjectGrammar => Model.Vocabulary.JsonObjectGrammar;

    /// <summary>The text of one token for logprobs: its UTF-8 bytes (a piece of a character when it is one) and those bytes as a string.</summary>
    internal (string Text, byte[] Bytes) TokenText(int id)
    {
        var bytes = Model.Tokenizer.TokenBytes(id);
        if (bytes.Length == 0 && Model.Tokenizer.IdToToken(id) is { } special) return (special, Encoding.UTF8.GetBytes(special));
        return (Encoding.UTF8.GetString(bytes), bytes);
    }

    private long _cancelled;

    /// <summary>Sequences ended early because their client went away (or their request failed part way).</summary>
    public long CancelledSequences => Interlocked.Read(ref _cancelled);

    internal void CountCancelled(int count) => Interlocked.Add(ref _cancelled, count);

    public void Dispose()
    {
        Scheduler?.Dispose();
        Models?.Dispose();
        Model.Dispose();
    }
}
