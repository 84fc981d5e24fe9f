using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// The BPE result of recently seen words, one cache per thread (no locks, no shared writes). A 2-way set-associative
/// table of 64-byte slots: words up to 12 UTF-16 units and up to 3 tokens live inside the slot (one cache line per
/// lookup); longer ones keep their key string and id array beside it. The table doubles while it fills up, to 2^18
/// slots (16 MB); past that a full set evicts, so memory stays bounded.
/// </summary>
internal sealed class WordCache
{
    public const int MaxKeyLength = 256;
    private const int InlineChars = 12;
    private const int InlineIds = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct Slot
    {
        public ulong K0, K1, K2;
        public uint Hash;        // 0 = empty
        public int Length;
        public int Count;
        public int Id0, Id1, Id2;
        public string? LongKey;
        public int[]? MoreIds;
    }

    private const int MaxLog2Slots = 18;
    private Slot[] _slots;
    private int _mask;
    private int _filled;
    private int _insertions;

    public WordCache(int log2Slots = 12)
    {
        _slots = new Slot[1 << log2Slots];
        _mask = (1 << log2Slots) - 1;
    }

    private void Grow()
    {
        var old = _slots;
        _slots = new Slot[old.Length * 2];
        _mask = _slots.Length - 1;
        _filled = 0;
        foreach (ref readonly var s in old.AsSpan())
        {
            if (s.Hash == 0) continue;
            int i = (int)(s.Hash & (uint)_mask) & ~1;
            if (_slots[i].Hash != 0) i++;
            if (_slots[i].Hash != 0) continue;
            _slots[i] = s;
            _filled++;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pack(ReadOnlySpan<char> key, out ulong k0, out ulong k1, out ulong k2)
    {
        Span<char> buffer = stackalloc char[InlineChars];
        buffer.Clear();
        key[..Math.Min(key.Length, InlineChars)].CopyTo(buffer);
        var words = MemoryMarshal.Cast<char, ulong>(buffer);
        k0 = words[0];
        k1 = words[1];
        k2 = words[2];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint HashOf(ReadOnlySpan<char> key, ulong k0, ulong k1, ulong k2)
    {
        ulong h = (ulong)key.Length * 0x9E3779B97F4A7C15UL;
        h = BitOperations.RotateLeft((h ^ k0) * 0xBF58476D1CE4E5B9UL, 29);
        h = BitOperations.RotateLeft((h ^ k1) * 0x94D049BB133111EBUL, 31);
        h = (h ^ k2) * 0xBF58476D1CE4E5B9UL;
        if (key.Length > InlineChars)
        {
            foreach (char c in key[InlineChars..]) h = (h ^ c) * 0x100000001B3UL;
        }
        uint r = (uint)(h ^ (h >> 32));
        return r == 0 ? 1u : r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Matches(ref Slot s, uint hash, ReadOnlySpan<char> key, ulong k0, ulong k1, ulong k2) =>
        s.Hash == hash && s.Length == key.Length && s.K0 == k0 && s.K1 == k1 && s.K2 == k2
        && (key.Length <= InlineChars || key.SequenceEqual(s.LongKey));

    /// <summary>Copies the cached ids of <paramref name="key"/> into <paramref name="ids"/> (at least 3 long) and returns their count, or -1.</summary>
    public int TryGet(ReadOnlySpan<char> key, Span<int> ids, out int[]? longIds)
    {
        longIds = null;
        Pack(key, out ulong k0, out ulong k1, out ulong k2);
        uint hash = HashOf(key, k0, k1, k2);
        int i = (int)(hash & (uint)_mask) & ~1;
        ref Slot s = ref _slots[i];
        if (!Matches(ref s, hash, key, k0, k1, k2))
        {
            s = ref _slots[i + 1];
            if (!Matches(ref s, hash, key, k0, k1, k2)) return -1;
        }
        if (s.Count > InlineIds)
        {
            longIds = s.MoreIds;
            return s.Count;
        }
        ids[0] = s.Id0;
        ids[1] = s.Id1;
        ids[2] = s.Id2;
        return s.Count;
    }

    public void Add(ReadOnlySpan<char> key, ReadOnlySpan<int> ids)
    {
        if (key.Length > MaxKeyLength || key.Length == 0) return;
        Pack(key, out ulong k0, out ulong k1, out ulong k2);
        uint hash = HashOf(key, k0, k1, k2);
        if (_filled >= _slots.Length / 4 * 3 && _slots.Length < 1 << MaxLog2Slots) Grow();
        int i = (int)(hash & (uint)_mask) & ~1;
        if (_slots[i].Hash == 0 || _slots[i + 1].Hash == 0) _filled++;
        // an empty way if there is one, else alternate between the two
        if (_slots[i].Hash != 0 && (_slots[i + 1].Hash == 0 || (++_insertions & 1) == 1)) i++;
        ref Slot s = ref _slots[i];
        s.Hash = hash;
        s.Length = key.Length;
        s.K0 = k0;
        s.K1 = k1;
        s.K2 = k2;
        s.Count = ids.Length;
        s.LongKey = key.Length > InlineChars ? key.ToString() : null;
        if (ids.Length > InlineIds)
        {
            s.MoreIds = ids.ToArray();
            s.Id0 = s.Id1 = s.Id2 = 0;
        }
        else
        {
            s.MoreIds = null;
            s.Id0 = ids.Length > 0 ? ids[0] : 0;
            s.Id1 = ids.Length > 1 ? ids[1] : 0;
            s.Id2 = ids.Length > 2 ? ids[2] : 0;
        }
    }
}
