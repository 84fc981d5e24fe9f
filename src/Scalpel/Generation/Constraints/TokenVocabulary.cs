using Scalpel.Text;

namespace Scalpel.Generation.Constraints;

/// <summary>
/// The bytes each token id stands for, with the stop (EOS / end-of-turn) ids, and a byte trie over them: what every
/// constraint of one tokenizer shares. Build it once per tokenizer and keep it; it is immutable and thread-safe.
/// </summary>
/// <remarks>
/// Constraints assume every byte a grammar may need can be spelled by some token, as byte-level BPE (all 256 bytes are
/// tokens) and SentencePiece with byte fallback (&lt;0x00&gt;..&lt;0xFF&gt;) guarantee; <see cref="SpellsEveryByte"/> says whether that holds.
/// </remarks>
public sealed class TokenVocabulary
{
    private readonly byte[][] _bytes;
    private readonly bool[] _stop;
    private readonly Lazy<TokenGrammar> _jsonObject;

    // The trie, nodes in depth-first (preorder) order, so a node's subtree is the range [i, Nodes[i].End).
    // Node 0 is the root (the empty prefix).
    internal readonly TrieNode[] Nodes;
    /// <summary>Longest token in bytes (the deepest trie node).</summary>
    internal readonly int MaxDepth;
    /// <summary>Next token id with the same bytes as this one (-1 at the end of the chain).</summary>
    internal readonly int[] NextSameBytes;

    /// <summary>A trie node: the byte on the edge into it, its depth, where its subtree ends, the first token spelled exactly by its path.</summary>
    internal readonly record struct TrieNode(byte Byte, int Depth, int End, int FirstToken);

    /// <summary>
    /// A vocabulary from each id's bytes (empty: a token that can never be generated under a constraint, such as a
    /// special token) and the ids that end generation.
    /// </summary>
    public TokenVocabulary(IReadOnlyList<byte[]> tokenBytes, IEnumerable<int> stopTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        ArgumentNullException.ThrowIfNull(stopTokenIds);
        int count = tokenBytes.Count;
        _bytes = new byte[count][];
        _stop = new bool[count];
        for (int id = 0; id < count; id++) _bytes[id] = tokenBytes[id] ?? [];
        foreach (int id in stopTokenIds)
        {
            if ((uint)id >= (uint)count) throw new ArgumentOutOfRangeException(nameof(stopTokenIds), $"stop token id {id} is outside the vocabulary (0..{count - 1})");
            _stop[id] = true;
        }
        StopIds = Enumerable.Range(0, count).Where(id => _stop[id]).ToArray();
        (Nodes, MaxDepth, NextSameBytes) = BuildTrie(_bytes, _stop);
        SpellsEveryByte = Nodes.Count(n => n.Depth == 1 && n.FirstToken >= 0) == 256;
        _jsonObject = new Lazy<TokenGrammar>(() => TokenGrammar.JsonObject(this));
    }

    /// <summary>
    /// The vocabulary of <paramref name="tokenizer"/> (<see cref="Tokenizer.TokenBytes"/> for each id). Stop ids are
    /// usually the EOS and end-of-turn tokens of the chat template (e.g. &lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;|end|&gt;).
    /// </summary>
    public static TokenVocabulary FromTokenizer(Tokenizer tokenizer, IEnumerable<int> stopTokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var bytes = new byte[tokenizer.VocabSize][];
        for (int id = 0; id < bytes.Length; id++) bytes[id] = tokenizer.TokenBytes(id);
        return new TokenVocabulary(bytes, stopTokenIds);
    }

    /// <summary>Number of token ids (logits beyond it are always masked).</summary>
    public int Count => _bytes.Length;

    /// <summary>The bytes a token adds to the output; empty for special/control tokens and ids outside the vocabulary.</summary>
    public ReadOnlySpan<byte> Bytes(int id) => (uint)id < (uint)_bytes.Length ? _bytes[id] : [];

    /// <summary>True for the ids that end generation (allowed only when the output is complete).</summary>
    public bool IsStop(int id) => (uint)id < (uint)_stop.Length && _stop[id];

    /// <summary>The stop token ids, ascending.</summary>
    internal int[] StopIds { get; }

    /// <summary>Every byte value 0..255 is some token on its own, so any byte string can be spelled.</summary>
    public bool SpellsEveryByte { get; }

    /// <summary>The compiled any-JSON-object grammar, built on first use.</summary>
    /// <summary>Any JSON object (OpenAI json_object mode), compiled once per vocabulary.</summary>
    public TokenGrammar JsonObjectGrammar => _jsonObject.Value;

    private static (TrieNode[] Nodes, int MaxDepth, int[] NextSame) BuildTrie(byte[][] bytes, bool[] stop)
    {
        var ids = Enumerable.Range(0, bytes.Length).Where(id => bytes[id].Length > 0 && !stop[id]).ToArray();
        Array.Sort(ids, (a, b) =>
        {
            int c = bytes[a].AsSpan().SequenceCompareTo(bytes[b]);
            return c != 0 ? c : a.CompareTo(b);
        });
        int maxDepth = ids.Length == 0 ? 0 : ids.Max(id => bytes[id].Length);
        var nextSame = new int[bytes.Length];
        Array.Fill(nextSame, -1);

        // Sorted order is preorder: each token adds the nodes for its bytes past the prefix it shares with the previous one.
        var nodes = new List<(byte Byte, int Depth, int FirstToken)> { (0, 0, -1) };
        var ends = new List<int> { 0 };
        var path = new int[maxDepth + 1];   // node index at each depth on the current path
        var lastOnNode = new Dictionary<int, int>();
        byte[] prev = [];
        foreach (int id in ids)
        {
            byte[] b = bytes[id];
            int shared = 0;
            while (shared < prev.Length && shared < b.Length && prev[shared] == b[shared]) shared++;
            // nodes deeper than the shared prefix are finished
            for (int d = shared + 1; d <= prev.Length; d++) ends[path[d]] = nodes.Count;
            for (int d = shared + 1; d <= b.Length; d++)
            {
                path[d] = nodes.Count;
                nodes.Add((b[d - 1], d, -1));
                ends.Add(0);
            }
            int node = path[b.Length];
            if (nodes[node].FirstToken < 0) nodes[node] = nodes[node] with { FirstToken = id };
            else nextSame[lastOnNode[node]] = id;
            lastOnNode[node] = id;
            prev = b;
        }
        for (int d = 1; d <= prev.Length; d++) ends[path[d]] = nodes.Count;
        ends[0] = nodes.Count;

        var result = new TrieNode[nodes.Count];
        for (int i = 0; i < result.Length; i++) result[i] = new TrieNode(nodes[i].Byte, nodes[i].Depth, ends[i], nodes[i].FirstToken);
        return (result, maxDepth, nextSame);
    }

    /// <summary>
    /// Sets the bit of every token whose bytes <paramref name="dfa"/> can read from <paramref name="state"/> without
    /// rejecting (stop tokens are not in the trie; the caller decides them). Walks the trie in preorder, skipping a whole
    /// subtree at the first rejected byte.
    /// </summary>
    internal void AllowedTokens(ByteDfa dfa, int state, Span<ulong> allowed, Span<int> stateAtDepth)
    {
        var nodes = Nodes;
        var next = dfa.Next;
        var classOf = dfa.ClassOf;
        int classes = dfa.ClassCount;
        stateAtDepth[0] = state;
        int i = 1;
        while (i < nodes.Length)
        {
            ref readonly var node = ref nodes[i];
            int s = next[stateAtDepth[node.Depth - 1] * classes + classOf[node.Byte]];
            if (s < 0)
            {
                i = node.End;
                continue;
            }
            stateAtDepth[node.Depth] = s;
            for (int t = node.FirstToken; t >= 0; t = NextSameBytes[t]) allowed[t >> 6] |= 1UL << t;
            i++;
        }
    }
}
