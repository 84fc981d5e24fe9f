namespace Scalpel.Tensors;

/// <summary>
/// Element types a tensor can hold. Compute is F32; BF16/F16 are storage formats widened on use; NF4 and Q8_0 are
/// block-quantized storage for frozen base weights (<see cref="Nf4"/>, <see cref="Q8_0"/>), dequantized on use.
/// </summary>
public enum DType
{
    F32,
    BF16,
    F16,
    /// <summary>4-bit NormalFloat in blocks of 64 with double-quantized block scales (QLoRA): see <see cref="Nf4"/>.</summary>
    NF4,
    /// <summary>llama.cpp's Q8_0: blocks of 32 int8 values with one f16 scale: see <see cref="Tensors.Q8_0"/>.</summary>
    Q8_0,
}

public static class DTypeInfo
{
    /// <summary>Bytes per element of an element-wise type; block-quantized types have none (use <see cref="StorageBytes"/>).</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.BF16 => 2,
        DType.F16 => 2,
        DType.NF4 or DType.Q8_0 => throw new ArgumentException($"{dtype} is block-quantized: it has no size per element", nameof(dtype)),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    public static bool IsQuantized(this DType dtype) => dtype is DType.NF4 or DType.Q8_0;

    /// <summary>Bytes that <paramref name="length"/> elements take, quantization blocks and scales included.</summary>
    public static long StorageBytes(this DType dtype, long length) => dtype switch
    {
        DType.NF4 => Nf4.StorageBytes(length),
        DType.Q8_0 => Q8_0.StorageBytes(length),
        _ => length * dtype.SizeOf(),
    };
}
