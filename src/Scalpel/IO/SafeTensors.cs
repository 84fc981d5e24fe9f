using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record TensorInfo(string Name, DType DType, int[] Shape, long DataOffset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A safetensors file or checkpoint that cannot be trusted; the message names the file and, where known, the tensor.</summary>
public sealed class SafeTensorsFormatException(string message) : Exception(message);

/// <summary>
/// A memory-mapped .safetensors file. The header is validated before anything is trusted: size limit, JSON shape,
/// known dtypes, offsets inside the data section, no overlaps, shape × dtype size = byte length.
/// Tensor bytes are read lazily from the mapping.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation's limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public string Path => throw new NotImplementedException();
    public IReadOnlyDictionary<string, TensorInfo> Tensors => throw new NotImplementedException();
    public IReadOnlyDictionary<string, string> Metadata => throw new NotImplementedException();

    public static SafeTensorsFile Open(string path) => throw new NotImplementedException();

    /// <summary>Reads a tensor as F32 (BF16/F16 widened). destination.Length must equal the element count.</summary>
    public void ReadAsF32(string name, Span<float> destination) => throw new NotImplementedException();

    /// <summary>Reads a tensor as BF16 bits (F32/F16 rounded to nearest-even).</summary>
    public void ReadAsBF16(string name, Span<ushort> destination) => throw new NotImplementedException();

    public void Dispose() => throw new NotImplementedException();
}

/// <summary>
/// Writes a .safetensors file: tensors are stored in the order added, 8-byte aligned header, written to a temp file
/// and renamed so a failure never leaves a half-written file.
/// </summary>
public sealed class SafeTensorsWriter
{
    public void Add(string name, DType storeAs, int[] shape, ReadOnlyMemory<float> data) => throw new NotImplementedException();
    public void AddBF16(string name, int[] shape, ReadOnlyMemory<ushort> data) => throw new NotImplementedException();
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) => throw new NotImplementedException();
}

/// <summary>
/// The weights of a Hugging Face checkpoint folder: model.safetensors, or shards listed by model.safetensors.index.json.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    public string Directory => throw new NotImplementedException();
    public IEnumerable<string> TensorNames => throw new NotImplementedException();
    public static CheckpointReader Open(string directory) => throw new NotImplementedException();
    public bool Contains(string name) => throw new NotImplementedException();
    /// <summary>Throws SafeTensorsFormatException naming the checkpoint and the tensor when it is missing.</summary>
    public TensorInfo Info(string name) => throw new NotImplementedException();
    public void ReadAsF32(string name, Span<float> destination) => throw new NotImplementedException();
    public void ReadAsBF16(string name, Span<ushort> destination) => throw new NotImplementedException();
    public void Dispose() => throw new NotImplementedException();
}
