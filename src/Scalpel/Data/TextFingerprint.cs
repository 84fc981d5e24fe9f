using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalpel.Data;

/// <summary>
/// One pass over an example's text that yields: a hash of the normalised text (lower case, whitespace runs
/// collapsed; for exact duplicates), a MinHash signature over word 3-shingles (for near-duplicates), and word counts.
/// Words are runs of letters and digits; each CJK ideograph or kana counts as a word of its own.
/// </summary>
internal sealed class TextFingerprinter
{
    public const int NumHashes = 64;
    private const ulong FnvOffset = 14695981039346656037UL, FnvPrime = 1099511628211UL;

    // The MinHash "permutations": h_i(x) = fmix(a_i * x + b_i), a_i odd. Fixed, so signatures are comparable across runs.
    private static readonly uint[] A = new uint[NumHashes], B = new uint[NumHashes];

    static TextFingerprinter()
    {
        ulong s = 0x9E3779B97F4A7C15UL;
        for (int i = 0; i < NumHashes; i++)
        {
            A[i] = (uint)SplitMix(ref s) | 1u;
            B[i] = (uint)SplitMix(ref s);
        }
    }

    private readonly uint[] _mins = new uint[NumHashes];
    private ulong _exact, _word, _w0, _w1;
    private bool _inWord, _pendingSpace, _anyChar, _shingling;
    private int _shingleWords;   // words seen in the shingled stream
    private int _shingles;

    /// <summary>Words in the example so far.</summary>
    public int Words { get; private set; }
    public ulong ExactHash => Finish64(_exact);
    /// <summary>Whether the near-duplicate text had at least one word (otherwise there is no signature).</summary>
    public bool HasSignature => _shingles > 0;
    public ReadOnlySpan<uint> Signature => _mins;

    public void Begin()
    {
        _exact = FnvOffset;
        _word = FnvOffset;
        _w0 = _w1 = 0;
        _inWord = _pendingSpace = _anyChar = false;
        _shingleWords = _shingles = 0;
        Words = 0;
        _mins.AsSpan().Fill(uint.MaxValue);
    }

    /// <summary>Adds a segment (a message's text, a tool call); <paramref name="tag"/> separates and labels it in the exact hash.</summary>
    public void Add(string tag, ReadOnlySpan<char> text, bool nearDuplicate)
    {
        EndWord();
        _exact = (_exact ^ 0x1F) * FnvPrime;   // a separator no text contains
        foreach (char c in tag) _exact = (_exact ^ c) * FnvPrime;
        _exact = (_exact ^ 0x1E) * FnvPrime;
        _pendingSpace = false;
        _anyChar = false;
        _shingling = nearDuplicate;
        ulong exact = _exact, word = _word;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            char lower;
            bool wordChar, standalone = false;
            if (c < 0x80)
            {
                if (c <= ' ')
                {
                    if (c is ' ' or '\n' or '\t' or '\r' or '\f' or '\v')
                    {
                        _pendingSpace = true;
                        if (_inWord) { _exact = exact; _word = word; EndWord(); word = _word; }
                        continue;
                    }
                }
                lower = c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
                wordChar = char.IsAsciiLetterOrDigit(c);
            }
            else
            {
                if (char.IsWhiteSpace(c))
                {
                    _pendingSpace = true;
                    if (_inWord) { _exact = exact; _word = word; EndWord(); word = _word; }
                    continue;
                }
                lower = char.ToLowerInvariant(c);
                standalone = c is >= '\u3040' and <= '\u30FF' or >= '\u3400' and <= '\u9FFF' or >= '\uF900' and <= '\uFAFF';
                wordChar = standalone || char.IsLetterOrDigit(c);
            }
            if (_pendingSpace && _anyChar) exact = (exact ^ ' ') * FnvPrime;
            _pendingSpace = false;
            _anyChar = true;
            exact = (exact ^ lower) * FnvPrime;
            if (wordChar && !standalone)
            {
                word = (word ^ lower) * FnvPrime;
                _inWord = true;
            }
            else
            {
                if (_inWord) { _word = word; EndWord(); word = _word; }
                if (standalone)
                {
                    _word = (FnvOffset ^ lower) * FnvPrime;
                    _inWord = true;
                    EndWord();
                    word = _word;
                }
            }
        }
        _exact = exact;
        _word = word;
        EndWord();
    }

    /// <summary>Call after the last segment: texts of one or two words still get a signature.</summary>
    public void End()
    {
        EndWord();
        if (_shingles == 0 && _shingleWords > 0)
            AddShingle(_shingleWords == 1 ? _w1 : Combine(0, _w0, _w1));
    }

    private void EndWord()
    {
        if (!_inWord) return;
        _inWord = false;
        Words++;
        ulong h = Finish64(_word);
        _word = FnvOffset;
        if (!_shingling) return;
        _shingleWords++;
        if (_shingleWords >= 3) AddShingle(Combine(_w0, _w1, h));
        _w0 = _w1;
        _w1 = h;
    }

    private static ulong Combine(ulong a, ulong b, ulong c) => Finish64(a * 0x9E3779B97F4A7C15UL ^ RotateLeft(b, 21) * 0xC2B2AE3D27D4EB4FUL ^ c);

    private void AddShingle(ulong shingle)
    {
        _shingles++;
        uint x = (uint)(shingle ^ (shingle >> 32));
        var xv = new Vector<uint>(x);
        var c1 = new Vector<uint>(0x85EBCA6Bu);
        var c2 = new Vector<uint>(0xC2B2AE35u);
        ref uint a = ref MemoryMarshal.GetArrayDataReference(A);
        ref uint b = ref MemoryMarshal.GetArrayDataReference(B);
        ref uint m = ref MemoryMarshal.GetArrayDataReference(_mins);
        for (int i = 0; i < NumHashes; i += Vector<uint>.Count)
        {
            var v = xv * Vector.LoadUnsafe(ref a, (nuint)i) + Vector.LoadUnsafe(ref b, (nuint)i);
            v ^= Vector.ShiftRightLogical(v, 16);
            v *= c1;
            v ^= Vector.ShiftRightLogical(v, 13);
            v *= c2;
            v ^= Vector.ShiftRightLogical(v, 16);
            Vector.Min(Vector.LoadUnsafe(ref m, (nuint)i), v).StoreUnsafe(ref m, (nuint)i);
        }
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

    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Words in a text, counted as the fingerprint counts them.</summary>
    public static int CountWords(ReadOnlySpan<char> text)
    {
        int words = 0;
        bool inWord = false;
        foreach (char c in text)
        {
            bool standalone = c is >= '\u3040' and <= '\u30FF' or >= '\u3400' and <= '\u9FFF' or >= '\uF900' and <= '\uFAFF';
            if (standalone) { words++; inWord = false; }
            else if (c < 0x80 ? char.IsAsciiLetterOrDigit(c) : char.IsLetterOrDigit(c))
            {
                if (!inWord) words++;
                inWord = true;
            }
            else inWord = false;
        }
        return words;
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
