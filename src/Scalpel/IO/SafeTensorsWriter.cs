using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>
/// Writes a .safetensors file: tensors are stored in the order added, 8-byte aligned header, written to a temp file
/// and renamed so a failure never leaves a half-written file.
/// </summary>
/// <remarks>
/// The header lists tensors in the order added. In the data section, 4-byte tensors (F32) come before 2-byte ones
/// (BF16, F16), each group in the order added, so that every tensor starts aligned to its element size, as the
/// reference writer arranges it. The header is padded with spaces to a multiple of 8 bytes.
/// Data is held by reference and read when <see cref="Save"/> runs: do not change it in between.
/// </remarks>
public sealed class SafeTensorsWriter
{
    private const int ConversionChunk = 1 << 16;

    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Elements a range fill writes at a time (whole rows of the tensor).</summary>
    private const long FillChunkElements = 4 << 20;

    private float[]? _fillBuffer;

    private sealed record Entry(string Name, DType StoreAs, int[] Shape, ReadOnlyMemory<float> F32, ReadOnlyMemory<ushort> BF16,
        Func<ReadOnlyMemory<float>>? Producer = null, Action<long, Span<float>>? Fill = null)
    {
        public long ElementCount => Producer is null && Fill is null ? Math.Max(F32.Length, BF16.Length) : Shape.Aggregate(1L, (a, b) => a * b);
        public long ByteLength => ElementCount * StoreAs.SizeOf();
    }

    /// <summary>Adds F32 data to be stored as <paramref name="storeAs"/> (F32 as is, BF16/F16 rounded to nearest-even).</summary>
    public void Add(string name, DType storeAs, int[] shape, ReadOnlyMemory<float> data)
    {
        if (storeAs is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentOutOfRangeException(nameof(storeAs), storeAs, "tensors are stored as F32, BF16 or F16");
        int[] checkedShape = CheckNew(name, shape, data.Length);
        _entries.Add(new Entry(name, storeAs, checkedShape, data, default));
        _names.Add(name);
    }

    /// <summary>
    /// Adds a tensor whose F32 data <paramref name="produce"/> makes when <see cref="Save"/> reaches it, so only one
    /// such tensor is in memory at a time (optimizer moments and full fine-tuning's weights are as large as the model).
    /// </summary>
    public void Add(string name, DType storeAs, int[] shape, Func<ReadOnlyMemory<float>> produce)
    {
        ArgumentNullException.ThrowIfNull(produce);
        AddDeferred(new Entry(name, storeAs, shape, default, default, Producer: produce));
    }

    /// <summary>
    /// Adds a tensor written a band of rows at a time: <paramref name="fill"/>(start, destination) puts elements
    /// [start, start + destination.Length) into destination when <see cref="Save"/> reaches them. No copy of the
    /// whole tensor is ever made (see <see cref="Backends.BackendExtensions.RangeDownloader"/>).
    /// </summary>
    public void Add(string name, DType storeAs, int[] shape, Action<long, Span<float>> fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        AddDeferred(new Entry(name, storeAs, shape, default, default, Fill: fill));
    }

    /// <summary>Checks and adds an entry whose data comes when it is written (its element count is its shape's).</summary>
    private void AddDeferred(Entry entry)
    {
        if (entry.StoreAs is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentOutOfRangeException("storeAs", entry.StoreAs, "tensors are stored as F32, BF16 or F16");
        long elements = (entry.Shape ?? throw new ArgumentNullException("shape")).Aggregate(1L, (a, b) => checked(a * b));
        if (elements > int.MaxValue) throw new ArgumentException($"tensor '{entry.Name}' has {elements} elements, over a single array's limit", "shape");
        _entries.Add(entry with { Shape = CheckNew(entry.Name, entry.Shape, (int)elements) });
        _names.Add(entry.Name);
    }

    /// <summary>Adds BF16 bits, stored as BF16 unchanged.</summary>
    public void AddBF16(string name, int[] shape, ReadOnlyMemory<ushort> data)
    {
        int[] checkedShape = CheckNew(name, shape, data.Length);
        _entries.Add(new Entry(name, DType.BF16, checkedShape, default, data));
        _names.Add(name);
    }

    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = Path.GetFullPath(path);

        // Data layout: wider elements first (stable), contiguous, no gaps.
        var placed = _entries.Select((e, i) => (Entry: e, Index: i))
            .OrderByDescending(p => p.Entry.StoreAs.SizeOf()).ThenBy(p => p.Index)
            .Select(p => p.Entry).ToList();
        var offsets = new Dictionary<string, (long Begin, long End)>(StringComparer.Ordinal);
        long dataLength = 0;
        foreach (Entry e in placed)
        {
            offsets[e.Name] = (dataLength, dataLength + e.ByteLength);
            dataLength += e.ByteLength;
        }
        byte[] header = BuildHeader(offsets, metadata);

        string temp = $"{path}.tmp-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (Entry e in placed) WriteData(stream, e);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private int[] CheckNew(string name, int[] shape, int dataLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafeTensorsHeader.MetadataKey)
            throw new ArgumentException($"'{SafeTensorsHeader.MetadataKey}' is reserved for the header's metadata", nameof(name));
        if (_names.Contains(name))
            throw new ArgumentException($"a tensor named '{name}' was already added", nameof(name));
        long elements = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] has a negative dimension", nameof(shape));
            elements = checked(elements * d);
        }
        if (elements != dataLength)
            throw new ArgumentException(
                $"tensor '{name}': shape [{string.Join(", ", shape)}] holds {elements} elements but the data has {dataLength}", nameof(shape));
        return (int[])shape.Clone();
    }

    private byte[] BuildHeader(Dictionary<string, (long Begin, long End)> offsets, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps names such as "a+b" readable; the header is never embedded in HTML.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is not null)
            {
                json.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(key, nameof(metadata));
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            foreach (Entry e in _entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", SafeTensorsDTypes.Name(e.StoreAs));
                json.WriteStartArray("shape");
                foreach (int d in e.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offsets[e.Name].Begin);
                json.WriteNumberValue(offsets[e.Name].End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private void WriteData(FileStream stream, Entry e)
    {
        if (e.Fill is not null)
        {
            long total = e.ElementCount, columns = e.Shape.Length > 1 ? e.Shape[^1] : Math.Max(1, total);   // a vector is one band
            long band = Math.Max(columns, FillChunkElements / Math.Max(columns, 1) * columns);
            if (_fillBuffer is null || _fillBuffer.Length < Math.Min(band, total)) _fillBuffer = new float[Math.Max(1, Math.Min(band, total))];
            for (long start = 0; start < total; start += band)
            {
                int n = (int)Math.Min(band, total - start);
                e.Fill(start, _fillBuffer.AsSpan(0, n));
                WriteData(stream, e with { F32 = _fillBuffer.AsMemory(0, n), Fill = null, Shape = [n] });
            }
            return;
        }
        if (e.Producer is not null)
        {
            var data = e.Producer();
            if (data.Length != e.ElementCount)
                throw new InvalidOperationException($"tensor '{e.Name}': produced {data.Length} elements, its shape holds {e.ElementCount}");
            WriteData(stream, e with { F32 = data, Producer = null });
            return;
        }
        if (e.F32.IsEmpty) // BF16 bits from AddBF16, or an empty tensor
        {
            stream.Write(MemoryMarshal.AsBytes(e.BF16.Span));
            return;
        }
        ReadOnlySpan<float> source = e.F32.Span;
        if (e.StoreAs == DType.F32)
        {
            stream.Write(MemoryMarshal.AsBytes(source));
            return;
        }
        ushort[] chunk = ArrayPool<ushort>.Shared.Rent(ConversionChunk);
        try
        {
            for (int start = 0; start < source.Length; start += ConversionChunk)
            {
                int n = Math.Min(ConversionChunk, source.Length - start);
                Span<ushort> bits = chunk.AsSpan(0, n);
                if (e.StoreAs == DType.BF16) SafeTensorsConversions.F32ToBf16(source.Slice(start, n), bits);
                else SafeTensorsConversions.F32ToF16(source.Slice(start, n), bits);
                stream.Write(MemoryMarshal.AsBytes((ReadOnlySpan<ushort>)bits));
            }
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(chunk);
        }
    }
}
