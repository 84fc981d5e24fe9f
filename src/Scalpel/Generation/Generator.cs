using System.Text;
using Scalpel.Generation.Constraints;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.Generation;

/// <summary>A generation request that cannot run (prompt too long, bad settings); the message says why.</summary>
public sealed class GenerationException(string message) : Exception(message);

/// <summary>
/// Generates text with a KV cache: each prompt is prefilled in one pass, then every running sequence advances one token
/// per step, all in one batch. Up to <c>maxBatch</c> sequences run at once; a finished sequence's slot goes to the next
/// waiting request in the same step (continuous batching), so short answers never wait for long ones.
/// The model's LoRA adapter, when it has one, applies unmerged.
/// </summary>
public sealed class Generator
{
    private readonly HashSet<int> _stopTokens;

    public Generator(DecoderModel model, Tokenizer tokenizer, IEnumerable<int> stopTokenIds)
    {
        Model = model;
        Tokenizer = tokenizer;
        _stopTokens = [.. stopTokenIds];
    }

    public DecoderModel Model { get; }
    public Tokenizer Tokenizer { get; }
    /// <summary>Tokens that end a sequence (EOS and end-of-turn); they never appear in the output.</summary>
    public IReadOnlySet<int> StopTokens => _stopTokens;

    public GenerationResult Generate(GenerationRequest request) => Generate([request])[0];

    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<GenerationRequest> requests, int maxBatch = 8)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatch);
        if (requests.Count == 0) return [];
        int maxLength = 0;
        foreach (var r in requests) maxLength = Math.Max(maxLength, CheckedLength(r));
        int slots = Math.Min(maxBatch, requests.Count);
        using var cache = Model.CreateKvCache(slots, maxLength);
        var results = new GenerationResult[requests.Count];
        var waiting = new Queue<int>(Enumerable.Range(0, requests.Count));
        var active = new SequenceRun?[slots];
        (int, SequenceRun)? Next()
        {
            if (!waiting.TryDequeue(out int index)) return null;
            return (index, new SequenceRun(this, requests[index], cachedPrefix: 0));
        }
        Run(cache, active, Next, (index, result) => results[index] = result);
        return results;
    }

    /// <summary>Cache rows a request needs; throws when its prompt cannot fit the model's positions.</summary>
    internal int CheckedLength(GenerationRequest r)
    {
        if (r.PromptIds.Length == 0) throw new GenerationException("the prompt is empty: at least one token is needed");
        if (r.MaxNewTokens < 1) throw new GenerationException($"max tokens must be ≥ 1 (got {r.MaxNewTokens})");
        if (r.Sampling.Problem() is { } problem) throw new GenerationException(problem);
        int positions = Model.Spec.MaxPositions;
        if (r.PromptIds.Length >= positions)
            throw new GenerationException($"the prompt has {r.PromptIds.Length} tokens; the model reads at most {positions} (max_position_embeddings) and needs room to answer");
        return (int)Math.Min((long)r.PromptIds.Length + r.MaxNewTokens, positions);
    }

    /// <summary>
    /// The decoding loop over a cache: fills free slots from <paramref name="next"/> (which also says how many of the
    /// request's prompt tokens are already cached in that slot), feeds every active slot, samples, retires finished runs.
    /// </summary>
    internal void Run(KvCache cache, SequenceRun?[] active, Func<(int Index, SequenceRun Run)?> next, Action<int, GenerationResult> finished)
    {
        int vocab = Model.Spec.VocabSize;
        var indexOf = new int[active.Length];
        var logits = new float[active.Length * vocab];
        var appends = new List<CacheAppend>(active.Length);
        var adapters = new List<AdapterWeights?>(active.Length);
        var slotOf = new List<int>(active.Length);
        while (true)
        {
            for (int slot = 0; slot < active.Length; slot++)
            {
                if (active[slot] is not null) continue;
                if (next() is not { } item) break;
                active[slot] = item.Run;
                indexOf[slot] = item.Index;
                cache.Truncate(slot, item.Run.CachedPrefix);
            }
            appends.Clear();
            adapters.Clear();
            slotOf.Clear();
            // Sequences of the same adapter next to each other: each adapter then runs once over a block of rows.
            foreach (int slot in Enumerable.Range(0, active.Length).Where(s => active[s] is not null)
                         .OrderBy(s => active[s]!.Adapter?.Name, StringComparer.Ordinal))
            {
                var run = active[slot]!;
                appends.Add(new CacheAppend(slot, run.TakePending()));
                adapters.Add(run.Adapter);
                slotOf.Add(slot);
            }
            if (appends.Count == 0) return;
            var rows = logits.AsSpan(0, appends.Count * vocab);
            Model.ForwardCached(cache, appends, rows, adapters.Any(a => a is not null) ? adapters : null);
            for (int i = 0; i < appends.Count; i++)
            {
                int slot = slotOf[i];
                var run = active[slot]!;
                if (run.Step(rows.Slice(i * vocab, vocab)) is { } result)
                {
                    finished(indexOf[slot], result);
                    active[slot] = null;
                }
            }
        }
    }

    /// <summary>One sequence being generated: sampling, constraint, stop conditions, streamed text.</summary>
    internal sealed class SequenceRun
    {
        private readonly Generator _generator;
        private readonly GenerationRequest _request;
        private readonly Sampler _sampler;
        private readonly ITokenConstraint? _constraint;
        private readonly StreamingDecoder _decoder;
        private readonly List<int> _history;
        private readonly List<int> _output = [];
        private readonly StringBuilder _text = new();
        private readonly List<TokenLogprob>? _logprobs;
        private readonly int _maxNew;
        private readonly int _longestStop;
        private int _emitted;
        private int[] _pending;
        private float[] _scratch = [];

        public SequenceRun(Generator generator, GenerationRequest request, int cachedPrefix)
        {
            _generator = generator;
            _request = request;
            _sampler = new Sampler(request.Sampling);
            _constraint = request.Constraint?.Invoke();
            _decoder = generator.Tokenizer.CreateStreamingDecoder(skipSpecialTokens: true);
            _history = [.. request.PromptIds];
            _logprobs = request.Logprobs || request.TopLogprobs > 0 ? [] : null;
            _maxNew = generator.CheckedLength(request) - request.PromptIds.Length;
            _longestStop = request.StopStrings.Count == 0 ? 0 : request.StopStrings.Max(s => s.Length);
            CachedPrefix = cachedPrefix;
            _pending = request.PromptIds[cachedPrefix..];
        }

        public AdapterWeights? Adapter => _request.Adapter;

        /// <summary>Prompt tokens whose keys and values are already in this run's cache slot.</summary>
        public int CachedPrefix { get; }

        public int[] TakePending() => _pending;

        /// <summary>Chooses the next token from this step's logits; returns the result when the sequence has ended.</summary>
        public GenerationResult? Step(Span<float> logits)
        {
            if (_request.Cancellation.IsCancellationRequested) return Finish(FinishReason.Cancelled, null);
            int token = Choose(logits);
            _logprobs?.Add(Logprob(logits, token));
            return Accept(token);
        }

        private int Choose(Span<float> logits)
        {
            if (_scratch.Length < logits.Length) _scratch = new float[logits.Length];
            var working = _scratch.AsSpan(0, logits.Length);
            logits.CopyTo(working);
            // A grammar owns when the answer may end: its mask keeps stop tokens closed until the output is complete.
            _constraint?.MaskLogits(working);
            return _sampler.Sample(working, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_history));
        }

        private GenerationResult? Accept(int token)
        {
            if (_generator._stopTokens.Contains(token)) return Finish(FinishReason.Stop, null);
            _constraint?.Accept(token);
            _output.Add(token);
            _history.Add(token);
            _pending = [token];
            _text.Append(_decoder.Append(token));
            if (FindStop() is { } cut) return Finish(FinishReason.Stop, cut);
            if (_constraint is { MustStop: true }) return Finish(FinishReason.Stop, null);
            if (_output.Count >= _maxNew) return Finish(FinishReason.Length, null);
            EmitUpTo(_text.Length - HeldBack());
            return null;
        }

        /// <summary>Where the earliest stop string starts, searching only where a new one can have appeared.</summary>
        private int? FindStop()
        {
            if (_longestStop == 0) return null;
            int from = Math.Max(0, _emitted - _longestStop);
            string tail = _text.ToString(from, _text.Length - from);
            int best = -1;
            foreach (var stop in _request.StopStrings)
            {
                int at = tail.IndexOf(stop, StringComparison.Ordinal);
                if (at >= 0 && (best < 0 || at < best)) best = at;
            }
            return best < 0 ? null : from + best;
        }

        /// <summary>Characters at the end that might begin a stop string, held back from streaming until they cannot.</summary>
        private int HeldBack()
        {
            int held = 0;
            foreach (var stop in _request.StopStrings)
            {
                for (int k = Math.Min(stop.Length - 1, _text.Length); k > held; k--)
                {
                    bool match = true;
                    for (int j = 0; j < k && match; j++) match = _text[_text.Length - k + j] == stop[j];
                    if (match) { held = k; break; }
                }
            }
            return held;
        }

        private void EmitUpTo(int end)
        {
            if (end <= _emitted) return;
            _request.OnText?.Invoke(_text.ToString(_emitted, end - _emitted));
            _emitted = end;
        }

        /// <param name="cut">where a stop string starts, or null to end with everything the decoder still holds</param>
        private GenerationResult Finish(FinishReason reason, int? cut)
        {
            if (cut is null)
            {
                _text.Append(_decoder.Flush());
                // The flushed tail may complete a stop string.
                if (FindStop() is { } late) (reason, cut) = (FinishReason.Stop, late);
            }
            int end = cut ?? _text.Length;
            EmitUpTo(end);
            _text.Length = end;
            return new GenerationResult([.. _output], _text.ToString(), reason, _request.PromptIds.Length, _logprobs);
        }

        private TokenLogprob Logprob(ReadOnlySpan<float> logits, int token)
        {
            float max = float.NegativeInfinity;
            foreach (float l in logits) if (l > max) max = l;
            double sum = 0;
            foreach (float l in logits) sum += Math.Exp(l - max);
            float logZ = max + (float)Math.Log(sum);
            // The n best by one pass keeping a small sorted list (n ≤ 20), not a sort of the whole vocabulary per token.
            var top = new List<(int Token, float Logprob)>(_request.TopLogprobs + 1);
            for (int i = 0; i < logits.Length && _request.TopLogprobs > 0; i++)
            {
                if (top.Count == _request.TopLogprobs && logits[i] <= top[^1].Logprob + logZ) continue;
                int at = top.Count;
                while (at > 0 && top[at - 1].Logprob + logZ < logits[i]) at--;
                top.Insert(at, (i, logits[i] - logZ));
                if (top.Count > _request.TopLogprobs) top.RemoveAt(top.Count - 1);
            }
            return new TokenLogprob(token, logits[token] - logZ, top);
        }
    }
}
