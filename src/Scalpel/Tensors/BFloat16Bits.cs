using System.Runtime.CompilerServices;

namespace Scalpel.Tensors;

/// <summary>
/// BF16 kept as raw <see cref="ushort"/> bits: the upper half of an IEEE binary32.
/// Widening is a shift; narrowing rounds to nearest-even like PyTorch's <c>tensor.to(torch.bfloat16)</c>.
/// </summary>
public static class BFloat16Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((u >> 16) | 0x0040); // keep sign, force a quiet NaN
        uint roundingBias = 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)((u + roundingBias) >> 16);
    }

    public static void Widen(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = ToSingle(source[i]);
    }

    public static void Narrow(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromSingle(source[i]);
    }
}
