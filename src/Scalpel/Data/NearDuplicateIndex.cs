namespace Scalpel.Data;

/// <summary>Open-addressing map from 64-bit hashes to ints (12 bytes a slot): the per-example memory of duplicate checks.</summary>
internal sealed class HashIntMap
{
    private ulong[] _keys = new ulong[1024];
    private int[] _values = new int[1024];
    private int _count;

    public int Count => _count;

    private static ulong Key(ulong hash) => hash == 0 ? 1 : hash;   // 0 marks an empty slot

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
/// <see cref="TextFingerprinter.NumHashes"/> values and one 8-byte slot per band, so memory is ~64 + 16·bands bytes per
/// item, whatever the text length. Bands × rows are chosen so that a pair at the threshold becomes a candidate with
/// probability ≥ 0.97; candidates are then confirmed by their estimated Jaccard similarity.
/// </summary>
internal sealed class NearDuplicateIndex
{
    private const int K = TextFingerprinter.NumHashes;
    private const int ChunkItems = 1 << 14;
    private readonly List<byte[]> _signatures = [];
    private readonly List<int[]> _ids = [];
    private uint[] _bandKeys = new uint[1024];
    private int[] _bandItems = new int[1024];
    private int _bandCount;
    private readonly int[] _candidates;

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
    }

    public double Threshold { get; }
    public int Rows { get; }
    public int Bands { get; }
    public int Count { get; private set; }

    /// <summary>
    /// The stored item most similar to a signature among those sharing a band with it, when its estimated
    /// Jaccard similarity reaches the threshold.
    /// </summary>
    public bool TryFind(ReadOnlySpan<uint> signature, out int id, out double similarity)
    {
        id = -1;
        similarity = 0;
        int found = 0;
        for (int band = 0; band < Bands; band++)
        {
            int item = Lookup(BandKey(signature, band));
            if (item < 0 || _candidates.AsSpan(0, found).Contains(item)) continue;
            _candidates[found++] = item;
            double s = Similarity(signature, item);
            if (s > similarity) { similarity = s; id = _ids[item / ChunkItems][item % ChunkItems]; }
        }
        return id >= 0 && similarity >= Threshold;
    }

    public void Add(ReadOnlySpan<uint> signature, int id)
    {
        int item = Count++;
        if (item % ChunkItems == 0)
        {
            _signatures.Add(new byte[ChunkItems * K]);
            _ids.Add(new int[ChunkItems]);
        }
        var sig = _signatures[item / ChunkItems].AsSpan(item % ChunkItems * K, K);
        for (int i = 0; i < K; i++) sig[i] = (byte)signature[i];
        _ids[item / ChunkItems][item % ChunkItems] = id;
        for (int band = 0; band < Bands; band++) Insert(BandKey(signature, band), item);
    }

    /// <summary>Estimated Jaccard similarity from b-bit (8-bit) MinHash: corrected for chance matches of 1/256.</summary>
    private double Similarity(ReadOnlySpan<uint> signature, int item)
    {
        var stored = _signatures[item / ChunkItems].AsSpan(item % ChunkItems * K, K);
        int same = 0;
        for (int i = 0; i < K; i++)
            if ((byte)signature[i] == stored[i]) same++;
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

    private uint BandKey(ReadOnlySpan<uint> signature, int band)
    {
        ulong h = (ulong)(band + 1) * 0x9E3779B97F4A7C15UL;
        foreach (uint v in signature.Slice(band * Rows, Rows)) h = TextFingerprinter.Finish64(h ^ v);
        uint key = (uint)(h ^ (h >> 32));
        return key == 0 ? 1 : key;
    }

    private int Lookup(uint key)
    {
        int mask = _bandKeys.Length - 1;
        for (int i = (int)(key & (uint)mask); ; i = (i + 1) & mask)
        {
            if (_bandKeys[i] == key) return _bandItems[i];
            if (_bandKeys[i] == 0) return -1;
        }
    }

    /// <summary>Keeps the first item of each band bucket (a later similar item finds it).</summary>
    private void Insert(uint key, int item)
    {
        if ((_bandCount + 1) * 4 > _bandKeys.Length * 3) GrowBands();
        int mask = _bandKeys.Length - 1;
        int i = (int)(key & (uint)mask);
        while (_bandKeys[i] != 0)
        {
            if (_bandKeys[i] == key) return;
            i = (i + 1) & mask;
        }
        _bandKeys[i] = key;
        _bandItems[i] = item;
        _bandCount++;
    }

    private void GrowBands()
    {
        var (keys, items) = (_bandKeys, _bandItems);
        _bandKeys = new uint[keys.Length * 2];
        _bandItems = new int[keys.Length * 2];
        _bandCount = 0;
        for (int j = 0; j < keys.Length; j++)
            if (keys[j] != 0) Insert(keys[j], items[j]);
    }
}
