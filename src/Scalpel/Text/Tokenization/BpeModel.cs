using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// Merge rules keyed by the pair of symbol ids: rank (lower merges first) and the merged id. Open addressing with
/// one 8-byte word per slot (pair ids in 22 bits each, rank in 20; the merged id sits in an array by rank), so the
/// table of a 280k-merge vocabulary is 4 MB and a lookup touches one cache line.
/// </summary>
internal sealed class PairMap
{
    public const int MaxId = (1 << 22) - 2;
    public const int MaxRank = (1 << 20) - 1;
    private const ulong Empty = ulong.MaxValue;

    private readonly ulong[] _slots;
    private readonly int[] _mergedByRank;
    private readonly int _shift;

    public PairMap(int count)
    {
        int capacity = 16;
        while (capacity < count + count / 2 + 1) capacity <<= 1;
        _slots = new ulong[capacity];
        Array.Fill(_slots, Empty);
        _mergedByRank = new int[Math.Max(count, 1)];
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Pair(int a, int b) => ((ulong)(uint)a << 22) | (uint)b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Slot(ulong pair) => (int)((pair * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>Sets the rule for (a, b); a later rule for the same pair replaces an earlier one (as a Rust HashMap built from the list).</summary>
    public void Set(int a, int b, int rank, int merged)
    {
        ulong pair = Pair(a, b);
        int mask = _slots.Length - 1;
        int i = Slot(pair);
        while (_slots[i] != Empty && _slots[i] >> 20 != pair) i = (i + 1) & mask;
        _slots[i] = (pair << 20) | (uint)rank;
        _mergedByRank[rank] = merged;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGet(int a, int b, out int rank, out int merged)
    {
        ulong pair = Pair(a, b);
        var slots = _slots;
        int mask = slots.Length - 1;
        int i = Slot(pair);
        while (true)
        {
            ulong v = slots[i];
            if (v >> 20 == pair)
            {
                rank = (int)(v & MaxRank);
                merged = _mergedByRank[rank];
                return true;
            }
            if (v == Empty)
            {
                rank = int.MaxValue;
                merged = -1;
                return false;
            }
            i = (i + 1) & mask;
        }
    }
}

/// <summary>Options of a tokenizer.json BPE model that change how words are cut.</summary>
internal sealed record BpeOptions(bool ByteLevel, bool ByteFallback, bool FuseUnk, bool IgnoreMerges, string? UnkToken);

/// <summary>
/// Byte-pair encoding as Hugging Face's tokenizers does it (models/bpe: merge_word and Word::merge_all): a word's
/// initial symbols are its characters (for byte-level models: its UTF-8 bytes, each standing for GPT-2's printable
/// stand-in character), unknown characters fall back to &lt;0xNN&gt; byte tokens or to the unknown token (consecutive
/// ones fused when asked), then the lowest-ranked adjacent pair merges, leftmost first, until no rule applies.
/// Words up to 256 characters are cached per thread (<see cref="WordCache"/>); the hot path allocates nothing.
/// </summary>
[SkipLocalsInit]
internal sealed class BpeModel
{
    private const int MaxCachedLength = WordCache.MaxKeyLength;
    private const int LinearMergeLimit = 100;   // fits the sbyte links
    private const char Metaspace = '\u2581';

    public readonly Dictionary<string, int> Vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    private readonly PairMap _merges;
    private readonly BpeOptions _options;
    private readonly int _unkId = -1;
    /// <summary>Byte-level: id of each byte's token; byte fallback: id of &lt;0xNN&gt;; -1 when missing.</summary>
    private readonly int[] _byteIds = new int[256];
    private readonly bool _allByteFallbackIds;
    private readonly Dictionary<int, int> _charIds = new();
    /// <summary>Length in input bytes of each token as the model produces it (for offsets of cached words).</summary>
    private readonly int[] _tokenBytes;
    /// <summary>SentencePiece-style vocabularies where no token has ▁ after another character: words split before such ▁.</summary>
    private readonly bool _splitAtMetaspace;
    private readonly ThreadLocal<WordCache> _cache = new(() => new WordCache());

    public static readonly char[] ByteToChar = BuildByteToChar();
    public static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(x => x.c, x => x.Item2);

    /// <summary>GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.</summary>
    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    /// <param name="vocab">token → id</param>
    /// <param name="merges">merge rules in rank order, as token strings; a pair whose parts or result are missing is an error</param>
    /// <param name="error">builds the exception for a bad rule</param>
    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, BpeOptions options, Func<string, Exception> error)
    {
        Vocab = vocab;
        _vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _options = options;
        if (options.UnkToken is not null)
        {
            if (!vocab.TryGetValue(options.UnkToken, out _unkId))
                throw error($"unk_token '{options.UnkToken}' is not in the vocabulary");
        }

        if (merges.Count > PairMap.MaxRank) throw error($"{merges.Count} merges: more than {PairMap.MaxRank} are not supported");
        if (vocab.Count > 0 && vocab.Values.Max() > PairMap.MaxId) throw error($"token ids above {PairMap.MaxId} are not supported");
        _merges = new PairMap(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            if (!vocab.TryGetValue(a, out int ia)) throw error($"merge {rank} ('{a} {b}'): '{a}' is not in the vocabulary");
            if (!vocab.TryGetValue(b, out int ib)) throw error($"merge {rank} ('{a} {b}'): '{b}' is not in the vocabulary");
            if (!vocab.TryGetValue(a + b, out int merged)) throw error($"merge {rank} ('{a} {b}'): '{a + b}' is not in the vocabulary");
            _merges.Set(ia, ib, rank, merged);
        }

        int maxId = vocab.Count == 0 ? -1 : vocab.Values.Max();
        _tokenBytes = new int[maxId + 1];
        Array.Fill(_byteIds, -1);
        if (options.ByteLevel)
        {
            for (int b = 0; b < 256; b++)
                if (vocab.TryGetValue(ByteToChar[b].ToString(), out int id)) _byteIds[b] = id;
            foreach (var (token, id) in vocab)
            {
                bool mapped = true;
                foreach (char c in token)
                    if (!CharToByte.ContainsKey(c)) { mapped = false; break; }
                _tokenBytes[id] = mapped ? token.Length : Encoding.UTF8.GetByteCount(token);
            }
        }
        else
        {
            foreach (var (token, id) in vocab)
            {
                _tokenBytes[id] = Encoding.UTF8.GetByteCount(token);
                if (token.Length == 1) _charIds[token[0]] = id;
                else if (token.Length == 2 && char.IsSurrogatePair(token[0], token[1])) _charIds[char.ConvertToUtf32(token[0], token[1])] = id;
            }
            if (options.ByteFallback)
            {
                bool all = true;
                for (int b = 0; b < 256; b++)
                {
                    if (vocab.TryGetValue($"<0x{b:X2}>", out int id))
                    {
                        _byteIds[b] = id;
                        _tokenBytes[id] = 1;
                    }
                    else all = false;
                }
                _allByteFallbackIds = all;
            }
            // Splitting words before a ▁ that follows another character is exact when no merge can create a token
            // with ▁ after another character (then no merge crosses such a point) and ▁ itself is a known symbol.
            _splitAtMetaspace = vocab.ContainsKey(Metaspace.ToString()) && merges.All(m => !CrossesMetaspace(m.A, m.B));
        }
        if (_unkId >= 0) _tokenBytes[_unkId] = -1;
    }

    private static bool CrossesMetaspace(string a, string b)
    {
        string s = a + b;
        for (int i = 1; i < s.Length; i++)
            if (s[i] == Metaspace && s[i - 1] != Metaspace) return true;
        return false;
    }

    public bool IsByteLevel => _options.ByteLevel;

    /// <summary>Tokenizes one pre-tokenized piece into the sink.</summary>
    public void Tokenize(Piece piece, TokenSink sink)
    {
        if (piece.IsEmpty) return;
        var cache = _cache.Value!;
        if (!_splitAtMetaspace)
        {
            TokenizeWord(piece.Source, piece.Start, piece.End, sink, cache);
            return;
        }
        string text = piece.Source.Text;
        int start = piece.Start;
        for (int i = piece.Start + 1; i < piece.End; i++)
        {
            if (text[i] == Metaspace && text[i - 1] != Metaspace)
            {
                TokenizeWord(piece.Source, start, i, sink, cache);
                start = i;
            }
        }
        TokenizeWord(piece.Source, start, piece.End, sink, cache);
    }

    private void TokenizeWord(NormText src, int start, int end, TokenSink sink, WordCache cache)
    {
        var word = src.Text.AsSpan(start, end - start);
        if (word.Length <= MaxCachedLength)
        {
            Span<int> inline = stackalloc int[3];
            int count = cache.TryGet(word, inline, out var longIds);
            if (count >= 0)
            {
                Emit(src, start, end, longIds ?? inline[..count], default, sink);
                return;
            }
        }

        int maxSymbols = _options.ByteLevel ? word.Length * 3 : word.Length * 4;
        int[]? rentedIds = null, rentedLens = null;
        Span<int> ids = maxSymbols <= 512 ? stackalloc int[maxSymbols] : (rentedIds = ArrayPool<int>.Shared.Rent(maxSymbols));
        Span<int> lens = maxSymbols <= 512 ? stackalloc int[maxSymbols] : (rentedLens = ArrayPool<int>.Shared.Rent(maxSymbols));
        try
        {
            int n;
            bool variable;
            if (_options.IgnoreMerges && TryWholeWord(word, out int wholeId, out int wholeBytes))
            {
                ids[0] = wholeId;
                lens[0] = wholeBytes;
                n = 1;
                variable = false;
            }
            else
            {
                n = _options.ByteLevel ? ByteSymbols(word, ids, lens, out variable) : CharSymbols(word, ids, lens, out variable);
                n = n <= LinearMergeLimit ? MergeLinear(ids, lens, n) : MergeHeap(ids, lens, n);
            }
            var resultIds = ids[..n];
            Emit(src, start, end, resultIds, lens[..n], sink);

            if (word.Length <= MaxCachedLength && !variable)
            {
                bool lengthsMatch = true;
                for (int k = 0; k < n && lengthsMatch; k++) lengthsMatch = _tokenBytes[resultIds[k]] == lens[k];
                if (lengthsMatch) cache.Add(word, resultIds);
            }
        }
        finally
        {
            if (rentedIds is not null) ArrayPool<int>.Shared.Return(rentedIds);
            if (rentedLens is not null) ArrayPool<int>.Shared.Return(rentedLens);
        }
    }

    /// <summary>ignore_merges: the whole word when it is a token.</summary>
    private bool TryWholeWord(ReadOnlySpan<char> word, out int id, out int bytes)
    {
        if (!_options.ByteLevel)
        {
            bytes = Encoding.UTF8.GetByteCount(word);
            return _vocabLookup.TryGetValue(word, out id);
        }
        int count = Encoding.UTF8.GetByteCount(word);
        bytes = count;
        if (count > 1024) { id = -1; return false; }
        Span<byte> utf8 = stackalloc byte[count];
        Encoding.UTF8.GetBytes(word, utf8);
        Span<char> mapped = stackalloc char[count];
        for (int i = 0; i < count; i++) mapped[i] = ByteToChar[utf8[i]];
        return _vocabLookup.TryGetValue(mapped, out id);
    }

    private int ByteSymbols(ReadOnlySpan<char> word, Span<int> ids, Span<int> lens, out bool variable)
    {
        int count = Encoding.UTF8.GetByteCount(word);
        byte[]? rented = null;
        Span<byte> utf8 = count <= 1024 ? stackalloc byte[count] : (rented = ArrayPool<byte>.Shared.Rent(count));
        try
        {
            Encoding.UTF8.GetBytes(word, utf8);
            int n = 0;
            variable = false;
            int unkLen = 0;
            for (int i = 0; i < count; i++)
            {
                int id = _byteIds[utf8[i]];
                if (id >= 0)
                {
                    if (unkLen > 0) { ids[n] = _unkId; lens[n++] = unkLen; unkLen = 0; }
                    ids[n] = id;
                    lens[n++] = 1;
                }
                else if (_unkId >= 0)
                {
                    variable = true;
                    if (unkLen > 0 && !_options.FuseUnk) { ids[n] = _unkId; lens[n++] = unkLen; unkLen = 0; }
                    unkLen += 1;
                }
            }
            if (unkLen > 0) { ids[n] = _unkId; lens[n++] = unkLen; }
            return n;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private int CharSymbols(ReadOnlySpan<char> word, Span<int> ids, Span<int> lens, out bool variable)
    {
        int n = 0;
        variable = false;
        int unkLen = 0;
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int cp = CharClass.CodePointAt(word, i, out int w);
            if (w == 1 && char.IsSurrogate((char)cp)) cp = 0xFFFD;   // a lone surrogate reads as U+FFFD
            int byteLen = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            i += w;
            if (_charIds.TryGetValue(cp, out int id))
            {
                if (unkLen > 0) { ids[n] = _unkId; lens[n++] = unkLen; unkLen = 0; }
                ids[n] = id;
                lens[n++] = byteLen;
                continue;
            }
            if (_options.ByteFallback)
            {
                new Rune(cp).EncodeToUtf8(utf8);
                bool all = _allByteFallbackIds;
                if (!all)
                {
                    all = true;
                    for (int k = 0; k < byteLen; k++) all &= _byteIds[utf8[k]] >= 0;
                }
                if (all)
                {
                    if (unkLen > 0) { ids[n] = _unkId; lens[n++] = unkLen; unkLen = 0; }
                    for (int k = 0; k < byteLen; k++)
                    {
                        ids[n] = _byteIds[utf8[k]];
                        lens[n++] = 1;
                    }
                    continue;
                }
            }
            if (_unkId >= 0)
            {
                variable = true;
                if (unkLen > 0 && !_options.FuseUnk) { ids[n] = _unkId; lens[n++] = unkLen; unkLen = 0; }
                unkLen += byteLen;
            }
        }
        if (unkLen > 0) { ids[n] = _unkId; lens[n++] = unkLen; }
        return n;
    }

    /// <summary>
    /// Merges by repeatedly taking the lowest-ranked adjacent pair (leftmost on ties); for short words. Symbols form a
    /// linked list over the arrays, so a merge moves nothing; ranks[i] is the rank of the pair starting at symbol i
    /// (int.MaxValue for none or a merged-away symbol), so the leftmost lowest pair is the first minimum of the array,
    /// found by plain (vectorizable) scans. Only the two pairs around a merge are looked up again.
    /// </summary>
    private int MergeLinear(Span<int> ids, Span<int> lens, int n)
    {
        if (n < 2) return n;
        Span<int> ranks = stackalloc int[n];
        Span<int> merged = stackalloc int[n];
        Span<sbyte> next = stackalloc sbyte[n];
        Span<sbyte> prev = stackalloc sbyte[n];
        for (int i = 0; i < n - 1; i++)
        {
            _merges.TryGet(ids[i], ids[i + 1], out ranks[i], out merged[i]);
            next[i] = (sbyte)(i + 1);
            prev[i] = (sbyte)(i - 1);
        }
        ranks[n - 1] = int.MaxValue;
        next[n - 1] = -1;
        prev[n - 1] = (sbyte)(n - 2);
        while (true)
        {
            int best;
            if (n <= 16)
            {
                best = 0;
                int bestRank = ranks[0];
                for (int i = 1; i < n; i++)
                {
                    if (ranks[i] < bestRank)
                    {
                        bestRank = ranks[i];
                        best = i;
                    }
                }
                if (bestRank == int.MaxValue) break;
            }
            else
            {
                int min = System.Numerics.Tensors.TensorPrimitives.Min<int>(ranks);
                if (min == int.MaxValue) break;
                best = ranks.IndexOf(min);
            }
            int right = next[best];
            ids[best] = merged[best];
            lens[best] += lens[right];
            ranks[right] = int.MaxValue;
            int after = next[right];
            next[best] = (sbyte)after;
            if (after >= 0)
            {
                prev[after] = (sbyte)best;
                _merges.TryGet(ids[best], ids[after], out ranks[best], out merged[best]);
            }
            else ranks[best] = int.MaxValue;
            int before = prev[best];
            if (before >= 0) _merges.TryGet(ids[before], ids[best], out ranks[before], out merged[before]);
        }
        int w = 0;
        for (int i = 0; i >= 0; i = next[i])
        {
            ids[w] = ids[i];
            lens[w++] = lens[i];
        }
        return w;
    }

    /// <summary>Merges with a priority queue of (rank, position) as Word::merge_all does; for long words.</summary>
    private int MergeHeap(Span<int> ids, Span<int> lens, int n)
    {
        var prev = new int[n];
        var next = new int[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        var queue = new PriorityQueue<int, long>(n);
        for (int i = 0; i < n - 1; i++)
            if (_merges.TryGet(ids[i], ids[i + 1], out int r, out _)) queue.Enqueue(i, ((long)r << 32) | (uint)i);
        while (queue.TryDequeue(out int pos, out long priority))
        {
            int rank = (int)(priority >> 32);
            if (lens[pos] == 0) continue;
            int right = next[pos];
            if (right < 0) continue;
            if (!_merges.TryGet(ids[pos], ids[right], out int current, out int mergedId) || current != rank) continue;
            ids[pos] = mergedId;
            lens[pos] += lens[right];
            lens[right] = 0;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;
            int before = prev[pos];
            if (before >= 0 && _merges.TryGet(ids[before], ids[pos], out int r1, out _)) queue.Enqueue(before, ((long)r1 << 32) | (uint)before);
            if (after >= 0 && _merges.TryGet(ids[pos], ids[after], out int r2, out _)) queue.Enqueue(pos, ((long)r2 << 32) | (uint)pos);
        }
        int w = 0;
        for (int i = 0; i < n; i++)
        {
            if (lens[i] == 0) continue;
            ids[w] = ids[i];
            lens[w++] = lens[i];
        }
        return w;
    }

    /// <summary>Adds the tokens; with offsets, maps each token's byte range in the word back to the original text.</summary>
    private void Emit(NormText src, int start, int end, ReadOnlySpan<int> ids, ReadOnlySpan<int> lens, TokenSink sink)
    {
        if (!sink.Track)
        {
            sink.AddRange(ids);
            return;
        }
        string text = src.Text;
        int u = start, b = 0;      // unit u starts at byte b of the word
        int tokenStart = 0;
        for (int k = 0; k < ids.Length; k++)
        {
            int len = lens.IsEmpty ? _tokenBytes[ids[k]] : lens[k];
            int t0 = tokenStart, t1 = tokenStart + len;
            tokenStart = t1;
            // the code point holding byte t0
            while (u < end)
            {
                int cb = Utf8Width(text, u, end, out int w);
                if (b + cb > t0) break;
                b += cb;
                u += w;
            }
            int us = u;
            // the code point holding byte t1 - 1
            int u2 = u, b2 = b;
            while (u2 < end)
            {
                int cb = Utf8Width(text, u2, end, out int w);
                u2 += w;
                if (b2 + cb >= t1) break;
                b2 += cb;
            }
            var (os, oe) = src.OriginalRange(us, u2);
            sink.Add(ids[k], os, oe);
        }
    }

    private static int Utf8Width(string s, int i, int end, out int units)
    {
        char c = s[i];
        units = 1;
        if (c < 0x80) return 1;
        if (c < 0x800) return 2;
        if (char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(s[i + 1]))
        {
            units = 2;
            return 4;
        }
        return 3;
    }
}
