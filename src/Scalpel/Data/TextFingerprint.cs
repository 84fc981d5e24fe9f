using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalpel.Data;

/// <summary>
/// One pass over an example's text that yields: a hash of the normalised text (lower case, whitespace runs
/// collapsed; for exact duplicates), a MinHash signature over word 3-shingles (for near-duplicates), and word counts.
/// Words are runs of letters and digits; each CJK ideograph or kana counts as a word of its own.
/// The signature is one-permutation MinHash (Li, Owen, Zhang 2012): each shingle's 64-bit hash picks one of
/// <see cref="NumHashes"/> bins by its top bits and competes for that bin's minimum with its low 32 bits, so a
/// shingle costs O(1) instead of O(NumHashes); empty bins (short texts) borrow from a filled bin found by a fixed
/// probe sequence (optimal densification, Shrivastava 2017), which keeps the estimate of Jaccard similarity unbiased.
/// </summary>
internal sealed class TextFingerprinter
{
    /// <summary>Signature length (bins); 64 so that a bin is the top 6 bits of a shingle hash and a filled-bin mask is one ulong.</summary>
    public const int NumHashes = 64;
    private const ulong FnvOffset = 14695981039346656037UL;

    private const ulong SpaceToken = 0x2020202020202020UL, SegmentToken = 0x1F1F1F1F1F1F1F1FUL;

    private readonly uint[] _mins = new uint[NumHashes];
    private ulong _exact, _segment, _w0, _w1;
    private int _shingleWords;   // words seen in the shingled stream
    private int _shingles;
    private ulong _filled;   // bins that received a shingle
    private char[] _wordBuffer = new char[256];

    /// <summary>Words in the example so far.</summary>
    public int Words { get; private set; }
    public ulong ExactHash => Finish64(_exact);
    /// <summary>The hash of the last segment alone (normalised like <see cref="ExactHash"/>, without its tag).</summary>
    public ulong SegmentHash => Finish64(_segment);
    /// <summary>Whether the near-duplicate text had at least one word (otherwise there is no signature).</summary>
    public bool HasSignature => _shingles > 0;
    public ReadOnlySpan<uint> Signature => _mins;

    public void Begin()
    {
        _exact = FnvOffset;
        _w0 = _w1 = 0;
        _shingleWords = _shingles = 0;
        _filled = 0;
        Words = 0;
        _mins.AsSpan().Fill(uint.MaxValue);
    }

    /// <summary>
    /// Adds a segment (a message's text, a tool call); <paramref name="tag"/> separates and labels it in the exact hash.
    /// The exact hash is over the segment's tokens (words lower-cased, other characters, and whether whitespace
    /// separated them), so it is the hash of the text lower-cased with whitespace runs collapsed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(string tag, ReadOnlySpan<char> text, bool nearDuplicate)
    {
        // The state lives in locals for the loop (fields would be reloaded around every call).
        ulong exact = Mix(Mix(_exact, SegmentToken), HashChars(tag, 0)), segment = SegmentToken, w0 = _w0, w1 = _w1, filled = _filled;
        int words = Words, shingleWords = _shingleWords, shingles = _shingles;
        Span<uint> mins = _mins;
        bool space = false, any = false;
        int i = 0;
        while (i < text.Length)
        {
            ulong hash;
            bool isWord;
            char c = text[i];
            if (c < 0x80)
            {
                if (char.IsAsciiLetterOrDigit(c))
                {
                    int end = i + 1;
                    while (end < text.Length && char.IsAsciiLetterOrDigit(text[end])) end++;
                    if (end < text.Length && text[end] >= 0x80 && IsWordChar(text[end]))
                        hash = SlowWord(text[i..], out end, i);   // a word with non-ASCII letters (café)
                    else hash = HashChars(text[i..end], 0x0020_0020_0020_0020UL);
                    isWord = true;
                    i = end;
                }
                else if (c is ' ' or '\n' or '\t' or '\r' or '\f' or '\v') { space = true; i++; continue; }
                else { hash = c + 1UL; isWord = false; i++; }
            }
            else if (char.IsWhiteSpace(c)) { space = true; i++; continue; }
            else if (IsStandalone(c))
            {
                hash = HashChars(new ReadOnlySpan<char>(in c), 0);
                isWord = true;
                i++;
            }
            else if (char.IsLetterOrDigit(c))
            {
                hash = SlowWord(text[i..], out int end, i);
                isWord = true;
                i = end;
            }
            else { hash = char.ToLowerInvariant(c) + 1UL; isWord = false; i++; }

            // The token: into the exact and segment hashes, then (words) into the shingles.
            if (space && any)
            {
                exact = Mix(exact, SpaceToken);
                segment = Mix(segment, SpaceToken);
            }
            exact = Mix(exact, hash);
            segment = Mix(segment, hash);
            space = false;
            any = true;
            if (!isWord) continue;
            words++;
            if (!nearDuplicate) continue;
            if (++shingleWords >= 3)
            {
                ulong shingle = Combine(w0, w1, hash);
                shingles++;
                int bin = (int)(shingle >> 58);   // NumHashes = 64 bins
                uint value = (uint)shingle;
                if (value < mins[bin]) mins[bin] = value;
                filled |= 1UL << bin;
            }
            w0 = w1;
            w1 = hash;
        }
        (_exact, _segment, _w0, _w1, _filled) = (exact, segment, w0, w1, filled);
        (Words, _shingleWords, _shingles) = (words, shingleWords, shingles);
    }

    /// <summary>A word that is not all ASCII, lower-cased into a buffer and hashed as the ASCII path would hash it; <paramref name="end"/> = start + its length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private ulong SlowWord(ReadOnlySpan<char> text, out int end, int start)
    {
        int len = 0;
        while (len < text.Length && IsWordChar(text[len])) len++;
        if (_wordBuffer.Length < len) _wordBuffer = new char[Math.Max(len, _wordBuffer.Length * 2)];
        var lower = _wordBuffer.AsSpan(0, len);
        text[..len].ToLowerInvariant(lower);
        end = start + len;
        return HashChars(lower, 0);
    }

    /// <summary>Letters and digits that continue a word (CJK ideographs and kana are words of their own).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsWordChar(char c) => c < 0x80 ? char.IsAsciiLetterOrDigit(c) : !IsStandalone(c) && char.IsLetterOrDigit(c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsStandalone(char c) => c is >= '\u3040' and <= '\u30FF' or >= '\u3400' and <= '\u9FFF' or >= '\uF900' and <= '\uFAFF';

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Mix(ulong h, ulong v) => (RotateLeft(h, 23) ^ v) * 0x9E3779B97F4A7C15UL;

    /// <summary>
    /// Hash of a lower-case word. <paramref name="orMask"/> lower-cases ASCII letters on the fly (0x20 per char); it
    /// leaves digits and already lower-case letters alone, so both paths agree on the same word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ulong HashChars(ReadOnlySpan<char> word, ulong orMask)
    {
        ulong h = (ulong)word.Length * 0xC2B2AE3D27D4EB4FUL;
        var blocks = MemoryMarshal.Cast<char, ulong>(word);
        foreach (ulong v in blocks) h = (RotateLeft(h, 29) ^ (v | orMask)) * 0x9FB21C651E98DF25UL;
        for (int i = blocks.Length * 4; i < word.Length; i++) h = (RotateLeft(h, 29) ^ (word[i] | (orMask & 0xFFFF))) * 0x9FB21C651E98DF25UL;
        return h ^ (h >> 32);   // Combine finalises shingles; the exact hash only needs distinct inputs
    }

    /// <summary>Call after the last segment: texts of one or two words still get a signature; empty bins are filled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void End()
    {
        if (_shingles == 0 && _shingleWords > 0)
            AddShingle(_shingleWords == 1 ? _w1 : Combine(0, _w0, _w1));
        if (_filled == ulong.MaxValue || _filled == 0) return;
        ulong filled = _filled;
        for (int bin = 0; bin < NumHashes; bin++)
        {
            if ((filled >> bin & 1) != 0) continue;
            // The same probe sequence for every text: bin i borrows from the first filled bin it reaches.
            for (uint attempt = 0; ; attempt++)
            {
                int from = (int)(Finish64(((ulong)bin << 32 | attempt) + 0x9E3779B97F4A7C15UL) >> 58);
                if ((filled >> from & 1) != 0) { _mins[bin] = _mins[from]; break; }
            }
        }
    }

    private static ulong Combine(ulong a, ulong b, ulong c) => Finish64(a * 0x9E3779B97F4A7C15UL ^ RotateLeft(b, 21) * 0xC2B2AE3D27D4EB4FUL ^ c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddShingle(ulong shingle)
    {
        _shingles++;
        int bin = (int)(shingle >> 58);             // NumHashes = 64 bins
        uint value = (uint)shingle;
        if (value < _mins[bin]) _mins[bin] = value;
        _filled |= 1UL << bin;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>A 64-bit finaliser (murmur3's fmix64).</summary>
    internal static ulong Finish64(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        h ^= h >> 33;
        return h;
    }

    /// <summary>Lower case, trimmed, whitespace runs collapsed to one space (how answers are compared as labels).</summary>
    public static string Normalize(string text)
    {
        var sb = new System.Text.StringBuilder(text.Length);
        bool space = false;
        foreach (char c in text.AsSpan().Trim())
        {
            if (char.IsWhiteSpace(c)) { space = true; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}
