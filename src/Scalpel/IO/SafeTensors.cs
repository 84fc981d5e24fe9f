using Scalpel.Tensors;

namespace Scalpel.IO;

// The safetensors format: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}?}, then the data section.
// Reader: SafeTensorsFile.cs (header checks in SafeTensorsHeader.cs); writer: SafeTensorsWriter.cs;
// sharded checkpoint folders: CheckpointReader.cs; element conversions: SafeTensorsConversions.cs.

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="DataOffset">Start of the tensor's bytes, counted from the start of the data section (as in the header).</param>
public sealed record TensorInfo(string Name, DType DType, int[] Shape, long DataOffset, long ByteLength)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A safetensors file or checkpoint that cannot be trusted; the message names the file and, where known, the tensor.</summary>
public sealed class SafeTensorsFormatException(string message) : Exception(message);
