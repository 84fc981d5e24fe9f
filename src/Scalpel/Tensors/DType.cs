namespace Scalpel.Tensors;

/// <summary>Element types a tensor can hold. Compute is F32; BF16/F16 are storage formats widened on use.</summary>
public enum DType
{
    F32,
    BF16,
    F16,
}

public static class DTypeInfo
{
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.BF16 => 2,
        DType.F16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };
}
