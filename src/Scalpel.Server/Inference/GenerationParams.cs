using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Generation;

namespace Scalpel.Server.Inference;

/// <summary>
/// The fields chat and legacy completions share: sampling (temperature, top_p, seed, and the common extensions top_k,
/// min_p, repetition_penalty), n, max tokens, stop, stream. Parameters that cannot be honoured are refused with a 400
/// naming them rather than ignored: presence_penalty and frequency_penalty other than 0, logit_bias.
/// </summary>
internal sealed record GenerationParams(
    SamplingOptions Sampling,
    int N,
    int MaxTokens,
    IReadOnlyList<string> Stop,
    bool Stream,
    bool IncludeUsage)
{
    public const int MaxN = 32;
    public const int MaxStopStrings = 16;

    /// <param name="defaultMaxTokens">max tokens when the request gives none (chat: the room left in the context; legacy completions: 16, as OpenAI)</param>
    public static GenerationParams Parse(RequestFields f, SamplingOptions defaults, int defaultMaxTokens, params string[] maxTokenFields)
    {
        f.Unsupported("presence_penalty", RequestFields.IsZero, "only 0 (use the 'repetition_penalty' extension, a multiplicative penalty on every token seen, instead)");
        f.Unsupported("frequency_penalty", RequestFields.IsZero, "only 0 (use the 'repetition_penalty' extension, a multiplicative penalty on every token seen, instead)");
        f.Unsupported("logit_bias", RequestFields.IsEmpty, "token biases are not implemented");

        var sampling = defaults;
        if (f.Number("temperature", 0, 2) is { } t) sampling = sampling with { Temperature = (float)t };
        if (f.Number("top_p", 0, 1) is { } p)
        {
            if (p == 0) throw ApiException.BadParam("top_p", "'top_p' must be greater than 0.");
            sampling = sampling with { TopP = (float)p };
        }
        if (f.Integer("top_k", -1, 1_000_000) is { } k) sampling = sampling with { TopK = (int)Math.Max(0, k) };     // -1 = off (vLLM)
        if (f.Number("min_p", 0, 1) is { } minP) sampling = sampling with { MinP = (float)minP };
        if (f.Number("repetition_penalty", 0, 100) is { } rp)
        {
            if (rp == 0) throw ApiException.BadParam("repetition_penalty", "'repetition_penalty' must be greater than 0 (1 = off).");
            sampling = sampling with { RepetitionPenalty = (float)rp };
        }
        // No seed: a fresh one per request; choice i of n uses seed + i.
        long seed = f.Integer("seed", long.MinValue, long.MaxValue) ?? RandomNumberGenerator.GetInt32(int.MaxValue);
        sampling = sampling with { Seed = unchecked((ulong)seed) };

        int n = (int)(f.Integer("n", 1, MaxN) ?? 1);
        int maxTokens = defaultMaxTokens;
        foreach (var field in maxTokenFields)
        {
            if (f.Integer(field, 1, int.MaxValue) is { } m)
            {
                maxTokens = (int)m;
                break;
            }
        }

        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = false;
        if (f["stream_options"] is { } options)
        {
            if (!stream) throw ApiException.BadParam("stream_options", "'stream_options' is only allowed when 'stream' is true.");
            if (options is not JsonObject o) throw ApiException.BadParam("stream_options", "'stream_options' must be an object.");
            includeUsage = new RequestFields(o).Bool("include_usage") ?? false;
        }
        return new GenerationParams(sampling, n, maxTokens, Stops(f), stream, includeUsage);
    }

    private static List<string> Stops(RequestFields f)
    {
        var stops = new List<string>();
        switch (f["stop"])
        {
            case null:
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                stops.Add(v.GetValue<string>());
                break;
            case JsonArray list:
                if (list.Count > MaxStopStrings) throw ApiException.BadParam("stop", $"'stop' takes at most {MaxStopStrings} strings.");
                foreach (var item in list)
                {
                    if (item is not JsonValue s || s.GetValueKind() != JsonValueKind.String)
                        throw ApiException.BadParam("stop", "'stop' must be a string or a list of strings.");
                    stops.Add(s.GetValue<string>());
                }
                break;
            default:
                throw ApiException.BadParam("stop", "'stop' must be a string or a list of strings.");
        }
        if (stops.Any(s => s.Length == 0)) throw ApiException.BadParam("stop", "'stop' strings must not be empty.");
        return stops;
    }

    /// <summary>The n requests for one prompt: the same settings, seeds seed, seed + 1, …</summary>
    public IEnumerable<GenerationRequest> Requests(int[] promptIds, Func<Generation.Constraints.ITokenConstraint>? constraint, int topLogprobs, bool logprobs) =>
        Enumerable.Range(0, N).Select(i => new GenerationRequest
        {
            PromptIds = promptIds,
            MaxNewTokens = MaxTokens,
            Sampling = Sampling with { Seed = unchecked(Sampling.Seed + (ulong)i) },
            StopStrings = Stop,
            Constraint = constraint,
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
        });
}

/// <summary>
/// One HTTP request's sequences in the scheduler, with the model lease they use. Submitting is all or nothing: when the
/// queue fills part way (HTTP 429) or a prompt does not fit (400), the sequences already queued are cancelled. Disposing
/// cancels whatever still runs (a client that went away), waits until the decoder has let go of every sequence, and
/// only then releases the lease, so an adapter is never unloaded under a running batch.
/// </summary>
internal sealed class Submission : IAsyncDisposable
{
    private readonly InferenceService _service;
    private readonly CancellationTokenSource _cancel;
    private readonly ModelRegistry.Lease _lease;

    private Submission(InferenceService service, CancellationTokenSource cancel, ModelRegistry.Lease lease, Task<GenerationResult>[] tasks)
    {
        _service = service;
        _cancel = cancel;
        _lease = lease;
        Tasks = tasks;
    }

    public Task<GenerationResult>[] Tasks { get; }

    /// <summary>Queues every request (the lease's adapter, cancelled when <paramref name="aborted"/> fires); takes ownership of the lease.</summary>
    public static async Task<Submission> Start(InferenceService service, ModelRegistry.Lease lease, IReadOnlyList<GenerationRequest> requests, CancellationToken aborted)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var tasks = new List<Task<GenerationResult>>(requests.Count);
        try
        {
            foreach (var r in requests) tasks.Add(service.Scheduler.Submit(r with { Cancellation = cancel.Token, Adapter = lease.Adapter }));
        }
        catch (Exception e) when (e is QueueFullException or GenerationException)
        {
            cancel.Cancel();
            await Drain(tasks);
            cancel.Dispose();
            lease.Dispose();
            throw e is QueueFullException
                ? new ApiException(429, $"The server is busy: {e.Message}.", code: "rate_limit_exceeded", type: "rate_limit_error") { RetryAfterSeconds = 1 }
                : new ApiException(400, $"This model's context cannot hold the request: {e.Message}.", "messages", "context_length_exceeded");
        }
        catch
        {
            cancel.Cancel();
            await Drain(tasks);
            cancel.Dispose();
            lease.Dispose();
            throw;
        }
        return new Submission(service, cancel, lease, [.. tasks]);
    }

    private static async Task Drain(IEnumerable<Task> tasks)
    {
        foreach (var t in tasks)
        {
            try
            {
                await t;
            }
            catch
            {
                // Cancelled or failed: either way the decoder is done with it.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _cancel.Cancel();
        await Drain(Tasks);
        _service.CountCancelled(Tasks.Count(t => t.IsCanceled));
        _cancel.Dispose();
        _lease.Dispose();
    }
}
