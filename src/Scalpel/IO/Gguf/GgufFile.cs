using System.Text;

namespace Scalpel.IO.Gguf;

/// <summary>A GGUF file Scalpel cannot read; the message names the file and what is wrong.</summary>
public sealed class GgufFormatException(string message) : Exception(message);

/// <summary>ggml tensor types Scalpel writes and reads (the numbers are ggml's).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q8_0 = 8,
    BF16 = 30,
}

/// <summary>GGUF metadata value types (the numbers are the format's).</summary>
public enum GgufValueType : uint
{
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
}

/// <summary>Constants and helpers shared by <see cref="GgufWriter"/> and <see cref="GgufReader"/>.</summary>
public static class Gguf
{
    public const uint Magic = 0x46554747;   // "GGUF" little-endian
    public const uint Version = 3;
    public const int DefaultAlignment = 32;
    public const int BlockSize = 32;

    /// <summary>Bytes of <paramref name="elements"/> values of <paramref name="type"/> (quantized: whole blocks of 32).</summary>
    public static long ByteSize(GgmlType type, long elements) => type switch
    {
        GgmlType.F32 => elements * 4,
        GgmlType.F16 or GgmlType.BF16 => elements * 2,
        GgmlType.Q8_0 => elements / BlockSize * 34,
        GgmlType.Q4_0 => elements / BlockSize * 18,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported ggml type"),
    };

    public static bool IsQuantized(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>F32 values in the ggml encoding of <paramref name="type"/> (row length must be a multiple of 32 when quantized).</summary>
    public static byte[] Encode(GgmlType type, ReadOnlySpan<float> values)
    {
        if (IsQuantized(type) && values.Length % BlockSize != 0)
            throw new ArgumentException($"{type} needs a multiple of {BlockSize} values, got {values.Length}");
        var bytes = new byte[ByteSize(type, values.Length)];
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), values[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), BitConverter.HalfToUInt16Bits((Half)values[i]));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 2), ToBF16(values[i]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < values.Length / BlockSize; b++) QuantizeQ8_0(values.Slice(b * BlockSize, BlockSize), bytes.AsSpan(b * 34, 34));
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < values.Length / BlockSize; b++) QuantizeQ4_0(values.Slice(b * BlockSize, BlockSize), bytes.AsSpan(b * 18, 18));
                break;
        }
        return bytes;
    }

    /// <summary>ggml-encoded bytes back to F32.</summary>
    public static float[] Decode(GgmlType type, ReadOnlySpan<byte> bytes, long elements)
    {
        var values = new float[elements];
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToSingle(bytes.Slice(i * 4, 4));
                break;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++) values[i] = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(bytes.Slice(i * 2, 2)));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(bytes.Slice(i * 2, 2)) << 16);
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < values.Length / BlockSize; b++)
                {
                    var block = bytes.Slice(b * 34, 34);
                    float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(block));
                    for (int j = 0; j < BlockSize; j++) values[b * BlockSize + j] = d * (sbyte)block[2 + j];
                }
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < values.Length / BlockSize; b++)
                {
                    var block = bytes.Slice(b * 18, 18);
                    float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(block));
                    for (int j = 0; j < BlockSize / 2; j++)
                    {
                        values[b * BlockSize + j] = d * ((block[2 + j] & 0x0F) - 8);
                        values[b * BlockSize + j + 16] = d * ((block[2 + j] >> 4) - 8);
                    }
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported ggml type");
        }
        return values;
    }

    private static ushort ToBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    // llama.cpp's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d).
    private static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0;
        foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)d));
        for (int j = 0; j < BlockSize; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    // llama.cpp's quantize_row_q4_0_ref: d = (value of largest magnitude) / -8, nibble = min(15, (int)(x/d + 8.5));
    // elements 0..15 in the low nibbles, 16..31 in the high nibbles.
    private static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
            if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
        float d = max / -8f, id = d != 0 ? 1f / d : 0f;
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)d));
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int hi = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
            block[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    internal static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}

/// <summary>One tensor to write: name, row-major shape (outermost first, as PyTorch), ggml type and a producer of its F32 values.</summary>
public sealed record GgufTensor(string Name, long[] Shape, GgmlType Type, Func<float[]> Values)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Writes a GGUF v3 file: header, typed metadata, tensor infos (dims in ggml order, innermost first), data aligned to
/// 32 bytes. Written to a temp file next to the target and renamed, so the output is never half-written.
/// Metadata values are typed by their C# type: byte, sbyte, ushort, short, uint, int, float, bool, string, ulong,
/// long, double, or arrays of those.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<(string Key, object Value)> _metadata = [];
    private readonly List<GgufTensor> _tensors = [];

    public GgufWriter Add(string key, object value)
    {
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"metadata key '{key}' added twice");
        _ = TypeOf(value);
        _metadata.Add((key, value));
        return this;
    }

    public GgufWriter AddTensor(GgufTensor tensor)
    {
        if (Gguf.IsQuantized(tensor.Type) && tensor.Shape[^1] % Gguf.BlockSize != 0)
            throw new ArgumentException($"tensor '{tensor.Name}': rows of {tensor.Shape[^1]} cannot be stored as {tensor.Type} (needs a multiple of {Gguf.BlockSize})");
        _tensors.Add(tensor);
        return this;
    }

    public void Write(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                var metadata = _metadata.ToList();
                if (!metadata.Any(m => m.Key == "general.alignment")) metadata.Insert(1, ("general.alignment", (uint)Gguf.DefaultAlignment));
                w.Write(Gguf.Magic);
                w.Write(Gguf.Version);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)metadata.Count);
                foreach (var (key, value) in metadata)
                {
                    Gguf.WriteString(w, key);
                    w.Write((uint)TypeOf(value));
                    WriteValue(w, value);
                }
                long offset = 0;
                foreach (var t in _tensors)
                {
                    Gguf.WriteString(w, t.Name);
                    w.Write((uint)t.Shape.Length);
                    for (int i = t.Shape.Length - 1; i >= 0; i--) w.Write((ulong)t.Shape[i]);
                    w.Write((uint)t.Type);
                    w.Write((ulong)offset);
                    offset = Align(offset + Gguf.ByteSize(t.Type, t.ElementCount));
                }
                Pad(w);
                foreach (var t in _tensors)
                {
                    var values = t.Values();
                    if (values.LongLength != t.ElementCount)
                        throw new InvalidOperationException($"tensor '{t.Name}': {values.LongLength} values for shape [{string.Join(", ", t.Shape)}]");
                    w.Write(Gguf.Encode(t.Type, values));
                    Pad(w);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static long Align(long n) => (n + Gguf.DefaultAlignment - 1) / Gguf.DefaultAlignment * Gguf.DefaultAlignment;

    private static void Pad(BinaryWriter w)
    {
        w.Flush();
        long pos = w.BaseStream.Position;
        for (long i = pos; i < Align(pos); i++) w.Write((byte)0);
    }

    private static GgufValueType TypeOf(object value) => value switch
    {
        byte => GgufValueType.U8, sbyte => GgufValueType.I8, ushort => GgufValueType.U16, short => GgufValueType.I16,
        uint => GgufValueType.U32, int => GgufValueType.I32, float => GgufValueType.F32, bool => GgufValueType.Bool,
        string => GgufValueType.String, ulong => GgufValueType.U64, long => GgufValueType.I64, double => GgufValueType.F64,
        Array a => CheckedArray(a),
        _ => throw new ArgumentException($"GGUF metadata cannot hold a {value.GetType().Name}"),
    };

    private static GgufValueType CheckedArray(Array a)
    {
        _ = ElementTypeOf(a);
        return GgufValueType.Array;
    }

    // By exact type: the runtime lets an int[] pass as a uint[] (and byte[]/sbyte[], ...), so no pattern matching here.
    private static GgufValueType ElementTypeOf(Array a)
    {
        var t = a.GetType().GetElementType();
        return t == typeof(byte) ? GgufValueType.U8 : t == typeof(sbyte) ? GgufValueType.I8
            : t == typeof(ushort) ? GgufValueType.U16 : t == typeof(short) ? GgufValueType.I16
            : t == typeof(uint) ? GgufValueType.U32 : t == typeof(int) ? GgufValueType.I32
            : t == typeof(float) ? GgufValueType.F32 : t == typeof(bool) ? GgufValueType.Bool
            : t == typeof(string) ? GgufValueType.String : t == typeof(ulong) ? GgufValueType.U64
            : t == typeof(long) ? GgufValueType.I64 : t == typeof(double) ? GgufValueType.F64
            : throw new ArgumentException($"GGUF metadata cannot hold a {a.GetType().Name}");
    }

    private static void WriteValue(BinaryWriter w, object value)
    {
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case string v: Gguf.WriteString(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case Array a:
                var elementType = ElementTypeOf(a);
                w.Write((uint)elementType);
                w.Write((ulong)a.Length);
                foreach (var item in a) WriteValue(w, item!);
                break;
        }
    }
}
