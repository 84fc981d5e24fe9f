using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace Scalpel.Generation.Constraints;

/// <summary>
/// Limits what one sequence may generate. Generation calls <see cref="MaskLogits"/> before sampling each token and
/// <see cref="Accept"/> with the token sampled. One instance per sequence; not thread-safe.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>
    /// Sets −∞ on every token the grammar cannot take next; stop tokens stay open only when <see cref="IsComplete"/>.
    /// Logits past the vocabulary are masked too; a shorter span covers the ids it has.
    /// </summary>
    void MaskLogits(Span<float> logits);

    /// <summary>Moves past <paramref name="tokenId"/>; throws <see cref="InvalidOperationException"/> when it was not allowed.</summary>
    void Accept(int tokenId);

    /// <summary>The output so far is a complete, valid answer: a stop token may come now.</summary>
    bool IsComplete { get; }

    /// <summary>Complete and nothing more can follow (or a stop token was accepted): generation should end now.</summary>
    bool MustStop { get; }
}

/// <summary>
/// A grammar compiled for one vocabulary: immutable and shareable across sequences and threads. Compile once per
/// schema and call <see cref="Start"/> for each sequence; <see cref="TokenConstraints"/> does both in one call.
/// </summary>
public sealed class TokenGrammar
{
    /// <summary>Default nesting limit of free-form JSON (objects without properties, arrays without items, json_object mode).</summary>
    public const int DefaultFreeFormDepth = 4;

    /// <summary>Largest automaton a grammar may compile to (NFA states); beyond it the constructor throws.</summary>
    public const int MaxStates = 1_000_000;

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Memory the allowed-token sets of visited states may take (beyond it they are recomputed each time).</summary>
    public const long MaskCacheBytes = 64L << 20;

    internal readonly ByteDfa Dfa;

    // The allowed-token bit set of each state met so far: a state's set never changes, and a few states (inside a
    // string above all) come back at almost every step.
    private readonly ConcurrentDictionary<int, ulong[]> _masks = new();
    private long _maskBytes;

    private TokenGrammar(TokenVocabulary vocabulary, ByteDfa dfa)
    {
        Vocabulary = vocabulary;
        Dfa = dfa;
    }

    /// <summary>
    /// The tokens (stop tokens aside) the automaton can read from <paramref name="state"/>, as bits by id: from the cache,
    /// or by walking the vocabulary's trie into <paramref name="scratch"/>.
    /// </summary>
    internal ReadOnlySpan<ulong> AllowedTokens(int state, ulong[] scratch, Span<int> stateAtDepth, bool useCache = true)
    {
        if (useCache && _masks.TryGetValue(state, out var cached)) return cached;
        Array.Clear(scratch);
        Vocabulary.AllowedTokens(Dfa, state, scratch, stateAtDepth);
        if (useCache && Interlocked.Add(ref _maskBytes, scratch.Length * 8L) <= MaskCacheBytes) _masks.TryAdd(state, (ulong[])scratch.Clone());
        return scratch;
    }

    public TokenVocabulary Vocabulary { get; }

    /// <summary>States of the compiled automaton (a measure of its size).</summary>
    public int StateCount => Dfa.StateCount;

    /// <summary>Output exactly one of <paramref name="choices"/> (raw text, compared as UTF-8 bytes).</summary>
    public static TokenGrammar Choice(TokenVocabulary vocabulary, IReadOnlyList<string> choices)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(choices);
        if (choices.Count == 0) throw new ArgumentException("at least one choice is needed", nameof(choices));
        var nfa = new Nfa(MaxStates);
        var f = nfa.Choice(choices.Select(c => nfa.Literal(StrictUtf8.GetBytes(c ?? throw new ArgumentException("a choice is null", nameof(choices))))).ToList());
        return new TokenGrammar(vocabulary, ByteDfa.Build(nfa, f.Start, f.End));
    }

    /// <summary>
    /// Output one JSON value valid under <paramref name="schema"/>, compact (at most one space before it, after ':' and
    /// after ','), object
    /// properties in the schema's order with optional ones possibly left out and no others (additionalProperties is
    /// taken as false). Unsupported keywords throw <see cref="NotSupportedException"/> naming them; see
    /// <see cref="JsonGrammar"/> for the subset.
    /// </summary>
    public static TokenGrammar JsonSchema(TokenVocabulary vocabulary, JsonNode schema, int freeFormDepth = DefaultFreeFormDepth)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(schema);
        CheckDepth(freeFormDepth);
        return new TokenGrammar(vocabulary, JsonGrammar.Compile(schema, freeFormDepth, MaxStates));
    }

    /// <summary>Output any JSON object (OpenAI's json_object mode), nested at most <paramref name="freeFormDepth"/> containers deep.</summary>
    public static TokenGrammar JsonObject(TokenVocabulary vocabulary, int freeFormDepth = DefaultFreeFormDepth)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        CheckDepth(freeFormDepth);
        return new TokenGrammar(vocabulary, JsonGrammar.CompileAnyObject(freeFormDepth, MaxStates));
    }

    private static void CheckDepth(int depth)
    {
        if (depth is < 1 or > 12) throw new ArgumentOutOfRangeException(nameof(depth), depth, "free-form JSON depth must be 1..12");
    }

    /// <summary>A fresh constraint at the start of the output.</summary>
    public ITokenConstraint Start() => new GrammarConstraint(this);
}

/// <summary>Shortcuts that compile a grammar and start one constraint (compile with <see cref="TokenGrammar"/> to reuse it).</summary>
public static class TokenConstraints
{
    /// <inheritdoc cref="TokenGrammar.Choice"/>
    public static ITokenConstraint Choice(TokenVocabulary vocabulary, IReadOnlyList<string> choices) =>
        TokenGrammar.Choice(vocabulary, choices).Start();

    /// <inheritdoc cref="TokenGrammar.JsonSchema"/>
    public static ITokenConstraint JsonSchema(TokenVocabulary vocabulary, JsonNode schema) =>
        TokenGrammar.JsonSchema(vocabulary, schema).Start();

    /// <summary>Any JSON object (OpenAI's json_object mode); the grammar is compiled once per vocabulary.</summary>
    public static ITokenConstraint JsonObject(TokenVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return vocabulary.JsonObjectGrammar.Start();
    }
}

/// <summary>A position in a <see cref="TokenGrammar"/>: one automaton state, plus whether a stop token was taken.</summary>
internal sealed class GrammarConstraint : ITokenConstraint
{
    private readonly TokenGrammar _grammar;
    private readonly ulong[] _scratch;
    private readonly int[] _stateAtDepth;
    private int _state;
    private bool _stopped;

    public GrammarConstraint(TokenGrammar grammar)
    {
        _grammar = grammar;
        _scratch = new ulong[(grammar.Vocabulary.Count + 63) / 64];
        _stateAtDepth = new int[grammar.Vocabulary.MaxDepth + 1];
    }

    /// <summary>The automaton state (for tests that look inside).</summary>
    internal int State => _state;

    public bool IsComplete => _stopped || _grammar.Dfa.Accepting[_state];

    public bool MustStop => _stopped || (_grammar.Dfa.Accepting[_state] && !_grammar.Dfa.HasNext[_state]);

    public void MaskLogits(Span<float> logits) => MaskLogits(logits, useCache: true);

    /// <summary><see cref="MaskLogits(Span{float})"/>, optionally without the grammar's per-state cache (to time the trie walk).</summary>
    internal void MaskLogits(Span<float> logits, bool useCache)
    {
        var vocab = _grammar.Vocabulary;
        int n = Math.Min(logits.Length, vocab.Count);
        ReadOnlySpan<ulong> allowed = _stopped ? [] : _grammar.AllowedTokens(_state, _scratch, _stateAtDepth, useCache);
        // stop tokens are not in the trie: keep their logits to put back when the output is complete
        var stops = vocab.StopIds;
        Span<float> stopLogits = stops.Length <= 16 ? stackalloc float[stops.Length] : new float[stops.Length];
        for (int k = 0; k < stops.Length; k++) stopLogits[k] = stops[k] < n ? logits[stops[k]] : 0;

        for (int w = 0, start = 0; start < n; w++, start += 64)
        {
            ulong bits = w < allowed.Length ? allowed[w] : 0;
            if (bits == ulong.MaxValue) continue;
            int len = Math.Min(64, n - start);
            if (bits == 0)
            {
                logits.Slice(start, len).Fill(float.NegativeInfinity);
                continue;
            }
            for (int k = 0; k < len; k++)
            {
                if ((bits & (1UL << k)) == 0) logits[start + k] = float.NegativeInfinity;
            }
        }
        if (logits.Length > n) logits[n..].Fill(float.NegativeInfinity);
        if (IsComplete)
        {
            for (int k = 0; k < stops.Length; k++)
            {
                if (stops[k] < n) logits[stops[k]] = stopLogits[k];
            }
        }
    }

    public void Accept(int tokenId)
    {
        var vocab = _grammar.Vocabulary;
        if (_stopped) throw new InvalidOperationException($"token {tokenId} after the stop token: the output has ended");
        if (vocab.IsStop(tokenId))
        {
            if (!IsComplete) throw new InvalidOperationException($"stop token {tokenId} before the output is complete");
            _stopped = true;
            return;
        }
        var bytes = vocab.Bytes(tokenId);
        if (bytes.IsEmpty) throw new InvalidOperationException($"token {tokenId} has no text and is never allowed under a constraint");
        int next = _grammar.Dfa.Walk(_state, bytes);
        if (next < 0) throw new InvalidOperationException($"token {tokenId} ({Describe(bytes)}) is not allowed here");
        _state = next;
    }

    private static string Describe(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder("\"");
        foreach (byte b in bytes) sb.Append(b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:X2}");
        return sb.Append('"').ToString();
    }
}
