using System.Runtime.CompilerServices;
namespace Scalpel.Data;

/// <summary>Open-addressing map from 64-bit hashes to ints (12 bytes a slot): the per-example memory of duplicate checks.</summary>
internal sealed class HashIntMap
{
    private ulong[] _keys = new ulong[1024];
    private int[] _values = new int[1024];
    private int _count;

    public int Count => _count;

    private static ulong Key(ulong hash) => hash == 0 ? 1 : hash;   // 0 marks an empty slot

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryGetValue(ulong hash, out int value)
    {
        ulong key = Key(hash);
        int mask = _keys.Length - 1;
        for (int i = (int)(key & (ulong)mask); ; i = (i + 1) & mask)
        {
            if (_keys[i] == key) { value = _values[i]; return true; }
            if (_keys[i] == 0) { value = 0; return false; }
        }
    }

    /// <summary>The value slot for a key, added with <paramref name="initial"/> when missing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref int GetOrAdd(ulong hash, int initial, out bool existed)
    {
        if ((_count + 1) * 4 > _keys.Length * 3) Grow();
        ulong key = Key(hash);
        int mask = _keys.Length - 1;
        int i = (int)(key & (ulong)mask);
        while (_keys[i] != 0 && _keys[i] != key) i = (i + 1) & mask;
        existed = _keys[i] == key;
        if (!existed)
        {
            _keys[i] = key;
            _values[i] = initial;
            _count++;
        }
        return ref _values[i];
    }

    private void Grow()
    {
        var (keys, values) = (_keys, _values);
        _keys = new ulong[keys.Length * 2];
        _values = new int[keys.Length * 2];
        _count = 0;
        for (int j = 0; j < keys.Length; j++)
            if (keys[j] != 0) GetOrAdd(keys[j], values[j], out _) = values[j];
    }
}

/// <summary>
/// Near-duplicate search by MinHash with LSH banding. Each stored item keeps a b-bit (8-bit) signature of
/// <see cref="TextFingerprinter.NumHashes"/> values and, per band, one int slot in that band's open-addressing table
/// (buckets are compared by the stored bytes themselves, so no keys are kept): ~64 + 4 + ~7·bands bytes per item,
/// whatever the text length. Bands × rows are chosen so that a pair at the threshold becomes a candidate with
/// probability ≥ 0.97; candidates are then confirmed by their estimated Jaccard similarity.
/// </summary>
internal sealed class NearDuplicateIndex
{
    private const int K = TextFingerprinter.NumHashes;
    private const int ChunkItems = 1 << 14;
    private readonly List<byte[]> _signatures = [];
    private readonly List<int[]> _ids = [];
    private readonly int[][] _bands;   // per band: item + 1, or 0 for an empty slot
    private int _bandCount;            // items in each band table (the same for all)
    private readonly int[] _candidates;
    private readonly byte[] _query = new byte[K];

    public NearDuplicateIndex(double threshold)
    {
        Threshold = threshold;
        Rows = 1;
        for (int r = 16; r >= 1; r--)
        {
            int b = K / r;
            double p = 1 - Math.Pow(1 - Math.Pow(threshold, r), b);
            if (p >= 0.97) { Rows = r; break; }
        }
        Bands = K / Rows;
        _candidates = new int[Bands];
        _bands = new int[Bands][];
        for (int b = 0; b < Bands; b++) _bands[b] = new int[1024];
    }

    public double Threshold { get; }
    public int Rows { get; }
    public int Bands { get; }
    public int Count { get; private set; }

    /// <summary>
    /// The stored item most similar to a signature among those sharing a band with it, when its estimated
    /// Jaccard similarity reaches the threshold.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryFind(ReadOnlySpan<uint> signature, out int id, out double similarity)
    {
        id = -1;
        similarity = 0;
        for (int i = 0; i < K; i++) _query[i] = (byte)signature[i];
        int found = 0;
        for (int band = 0; band < Bands; band++)
        {
            int item = Lookup(band, _query);
            if (item < 0 || _candidates.AsSpan(0, found).Contains(item)) continue;
            _candidates[found++] = item;
            double s = Similarity(_query, item);
            if (s > similarity) { similarity = s; id = _ids[item / ChunkItems][item % ChunkItems]; }
        }
        return id >= 0 && similarity >= Threshold;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(ReadOnlySpan<uint> signature, int id)
    {
        int item = Count++;
        if (item % ChunkItems == 0)
        {
            _signatures.Add(new byte[ChunkItems * K]);
            _ids.Add(new int[ChunkItems]);
        }
        var sig = Stored(item);
        for (int i = 0; i < K; i++) sig[i] = (byte)signature[i];
        _ids[item / ChunkItems][item % ChunkItems] = id;
        if ((_bandCount + 1) * 4 > _bands[0].Length * 3) GrowBands();
        _bandCount++;
        for (int band = 0; band < Bands; band++) Insert(_bands[band], band, item);
    }

    private Span<byte> Stored(int item) => _signatures[item / ChunkItems].AsSpan(item % ChunkItems * K, K);

    /// <summary>Estimated Jaccard similarity from b-bit (8-bit) MinHash: corrected for chance matches of 1/256.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double Similarity(ReadOnlySpan<byte> query, int item)
    {
        var stored = Stored(item);
        int same = 0;
        for (int i = 0; i < K; i++)
            if (query[i] == stored[i]) same++;
        const double chance = 1.0 / 256;
        return Math.Clamp(((double)same / K - chance) / (1 - chance), 0, 1);
    }

    /// <summary>Estimated Jaccard similarity of two full signatures (for tests and reports).</summary>
    public static double Estimate(ReadOnlySpan<uint> a, ReadOnlySpan<uint> b)
    {
        int same = 0;
        for (int i = 0; i < K; i++)
            if (a[i] == b[i]) same++;
        return (double)same / K;
    }

    private int Slot(ReadOnlySpan<byte> signature, int band, int mask)
    {
        ulong h = (ulong)(band + 1) * 0x9E3779B97F4A7C15UL;
        foreach (byte v in signature.Slice(band * Rows, Rows)) h = (h ^ v) * 0x100000001B3UL;
        return (int)(TextFingerprinter.Finish64(h) & (uint)mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Lookup(int band, ReadOnlySpan<byte> query)
    {
        var table = _bands[band];
        int mask = table.Length - 1;
        var rows = query.Slice(band * Rows, Rows);
        for (int i = Slot(query, band, mask); ; i = (i + 1) & mask)
        {
            int entry = table[i];
            if (entry == 0) return -1;
            if (Stored(entry - 1).Slice(band * Rows, Rows).SequenceEqual(rows)) return entry - 1;
        }
    }

    /// <summary>Keeps the first item of each band bucket (a later similar item finds it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Insert(int[] table, int band, int item)
    {
        int mask = table.Length - 1;
        var sig = Stored(item);
        var rows = sig.Slice(band * Rows, Rows);
        for (int i = Slot(sig, band, mask); ; i = (i + 1) & mask)
        {
            int entry = table[i];
            if (entry == 0) { table[i] = item + 1; return; }
            if (Stored(entry - 1).Slice(band * Rows, Rows).SequenceEqual(rows)) return;
        }
    }

    private void GrowBands()
    {
        for (int band = 0; band < Bands; band++)
        {
            var old = _bands[band];
            var table = _bands[band] = new int[old.Length * 2];
            foreach (int entry in old)
                if (entry != 0) Insert(table, band, entry - 1);
        }
    }
}
