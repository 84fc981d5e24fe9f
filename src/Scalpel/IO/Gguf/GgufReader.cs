using System.Text;

namespace Scalpel.IO.Gguf;

/// <summary>One tensor's entry in a GGUF file: dims in ggml order (innermost first), type, offset into the data section.</summary>
public sealed record GgufTensorInfo(string Name, long[] Dims, GgmlType Type, long Offset)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);
    /// <summary>Row-major shape (outermost first), as PyTorch would write it.</summary>
    public long[] Shape => Dims.Reverse().ToArray();
}

/// <summary>
/// Reads a GGUF v2/v3 file: metadata (arrays become typed C# arrays; strings as string) and tensor infos; tensor
/// data on demand, decoded to F32. Truncated or malformed files give a <see cref="GgufFormatException"/>.
/// </summary>
public sealed class GgufReader
{
    private readonly string _path;

    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public uint Version { get; }
    public long DataOffset { get; }

    private GgufReader(string path, uint version, Dictionary<string, object> metadata, List<GgufTensorInfo> tensors, long dataOffset)
    {
        _path = path;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataOffset = dataOffset;
    }

    public static GgufReader Open(string path)
    {
        using var stream = File.OpenRead(path);
        using var r = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            if (stream.Length < 24 || r.ReadUInt32() != Gguf.Magic) throw new GgufFormatException($"{path}: not a GGUF file (no 'GGUF' magic)");
            uint version = r.ReadUInt32();
            if (version is not (2 or 3)) throw new GgufFormatException($"{path}: GGUF version {version} is not supported (2 or 3)");
            ulong tensorCount = r.ReadUInt64(), kvCount = r.ReadUInt64();
            if (tensorCount > 1_000_000 || kvCount > 1_000_000) throw new GgufFormatException($"{path}: implausible header counts");
            var metadata = new Dictionary<string, object>();
            for (ulong i = 0; i < kvCount; i++)
            {
                string key = ReadString(r, path);
                metadata[key] = ReadValue(r, (GgufValueType)r.ReadUInt32(), path);
            }
            var tensors = new List<GgufTensorInfo>();
            for (ulong i = 0; i < tensorCount; i++)
            {
                string name = ReadString(r, path);
                uint nDims = r.ReadUInt32();
                if (nDims is 0 or > 4) throw new GgufFormatException($"{path}: tensor '{name}' has {nDims} dims");
                var dims = new long[nDims];
                for (int d = 0; d < nDims; d++) dims[d] = (long)r.ReadUInt64();
                var type = (GgmlType)r.ReadUInt32();
                long offset = (long)r.ReadUInt64();
                tensors.Add(new GgufTensorInfo(name, dims, type, offset));
            }
            long alignment = metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt64(a) : Gguf.DefaultAlignment;
            long dataOffset = (stream.Position + alignment - 1) / alignment * alignment;
            foreach (var t in tensors)
            {
                long size = Enum.IsDefined(t.Type) ? Gguf.ByteSize(t.Type, t.ElementCount) : 0;
                if (dataOffset + t.Offset + size > stream.Length)
                    throw new GgufFormatException($"{path}: truncated: tensor '{t.Name}' ends at byte {dataOffset + t.Offset + size}, the file has {stream.Length}");
            }
            return new GgufReader(path, version, metadata, tensors, dataOffset);
        }
        catch (EndOfStreamException)
        {
            throw new GgufFormatException($"{path}: truncated GGUF header");
        }
    }

    public GgufTensorInfo Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name) ?? throw new GgufFormatException($"{_path}: no tensor '{name}'");

    public T Get<T>(string key) =>
        Metadata.TryGetValue(key, out var v) ? (T)v : throw new GgufFormatException($"{_path}: no metadata key '{key}'");

    /// <summary>A tensor's values decoded to F32, in row-major order.</summary>
    public float[] ReadF32(string name)
    {
        var t = Tensor(name);
        if (!Enum.IsDefined(t.Type)) throw new GgufFormatException($"{_path}: tensor '{name}' has ggml type {(uint)t.Type}, which Scalpel does not read");
        var bytes = new byte[Gguf.ByteSize(t.Type, t.ElementCount)];
        using var stream = File.OpenRead(_path);
        stream.Position = DataOffset + t.Offset;
        stream.ReadExactly(bytes);
        return Gguf.Decode(t.Type, bytes, t.ElementCount);
    }

    private static string ReadString(BinaryReader r, string path)
    {
        ulong length = r.ReadUInt64();
        if (length > (ulong)(r.BaseStream.Length - r.BaseStream.Position)) throw new GgufFormatException($"{path}: truncated string");
        return Encoding.UTF8.GetString(r.ReadBytes((int)length));
    }

    private static object ReadValue(BinaryReader r, GgufValueType type, string path) => type switch
    {
        GgufValueType.U8 => r.ReadByte(),
        GgufValueType.I8 => r.ReadSByte(),
        GgufValueType.U16 => r.ReadUInt16(),
        GgufValueType.I16 => r.ReadInt16(),
        GgufValueType.U32 => r.ReadUInt32(),
        GgufValueType.I32 => r.ReadInt32(),
        GgufValueType.F32 => r.ReadSingle(),
        GgufValueType.Bool => r.ReadByte() != 0,
        GgufValueType.String => ReadString(r, path),
        GgufValueType.U64 => r.ReadUInt64(),
        GgufValueType.I64 => r.ReadInt64(),
        GgufValueType.F64 => r.ReadDouble(),
        GgufValueType.Array => ReadArray(r, path),
        _ => throw new GgufFormatException($"{path}: unknown metadata value type {(uint)type}"),
    };

    private static Array ReadArray(BinaryReader r, string path)
    {
        var elementType = (GgufValueType)r.ReadUInt32();
        ulong count = r.ReadUInt64();
        if (count > (ulong)(r.BaseStream.Length - r.BaseStream.Position)) throw new GgufFormatException($"{path}: truncated array");
        var items = new object[count];
        for (ulong i = 0; i < count; i++) items[i] = ReadValue(r, elementType, path);
        if (count == 0) return Array.Empty<object>();
        var typed = Array.CreateInstance(items[0].GetType(), (int)count);
        Array.Copy(items, typed, (int)count);
        return typed;
    }
}
