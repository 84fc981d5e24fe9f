using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>
/// Element conversions between the storage dtypes, vectorised with <see cref="Vector{T}"/> and bit-for-bit equal to the
/// scalar definitions in <see cref="BFloat16Bits"/> and <see cref="Half"/>. Sources may be unaligned (a mapped file).
/// </summary>
internal static unsafe class SafeTensorsConversions
{
    /// <summary>Above this many elements a conversion is split over the thread pool; below it the fork costs more than it saves.</summary>
    private const int ParallelThreshold = 1 << 21;
    private const int ChunkElements = 1 << 18;

    /// <summary>Reads <paramref name="count"/> elements of <paramref name="source"/> dtype into F32.</summary>
    public static void ToF32(DType source, byte* src, float* dst, int count) => Split(count, (start, length) =>
    {
        switch (source)
        {
            case DType.F32:
                Buffer.MemoryCopy(src + (long)start * 4, dst + start, (long)length * 4, (long)length * 4);
                break;
            case DType.BF16:
                Bf16ToF32(new ReadOnlySpan<ushort>(src + (long)start * 2, length), new Span<float>(dst + start, length));
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src + (long)start * 2, length), new Span<float>(dst + start, length));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(source), source, null);
        }
    });

    /// <summary>Reads <paramref name="count"/> elements of <paramref name="source"/> dtype into BF16 bits (round to nearest-even).</summary>
    public static void ToBF16(DType source, byte* src, ushort* dst, int count) => Split(count, (start, length) =>
    {
        switch (source)
        {
            case DType.BF16:
                Buffer.MemoryCopy(src + (long)start * 2, dst + start, (long)length * 2, (long)length * 2);
                break;
            case DType.F32:
                F32ToBf16(new ReadOnlySpan<float>(src + (long)start * 4, length), new Span<ushort>(dst + start, length));
                break;
            case DType.F16:
            {
                // F16 → F32 is exact, so going through F32 rounds only once.
                const int Block = 1024;
                float* widened = stackalloc float[Block];
                for (int done = 0; done < length; done += Block)
                {
                    int n = Math.Min(Block, length - done);
                    var f32 = new Span<float>(widened, n);
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src + (long)(start + done) * 2, n), f32);
                    F32ToBf16(f32, new Span<ushort>(dst + start + done, n));
                }
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(source), source, null);
        }
    });

    /// <summary>BF16 → F32: the 16 bits become the top half of the float.</summary>
    public static void Bf16ToF32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<ushort>.Count)
        {
            ref ushort s = ref MemoryMarshal.GetReference(source);
            ref float d = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
            {
                var bits = Vector.LoadUnsafe(ref s, (nuint)i);
                Vector.Widen(bits, out Vector<uint> low, out Vector<uint> high);
                Vector.AsVectorSingle(Vector.ShiftLeft(low, 16)).StoreUnsafe(ref d, (nuint)i);
                Vector.AsVectorSingle(Vector.ShiftLeft(high, 16)).StoreUnsafe(ref d, (nuint)(i + Vector<uint>.Count));
            }
        }
        for (; i < source.Length; i++) destination[i] = BFloat16Bits.ToSingle(source[i]);
    }

    /// <summary>F32 → BF16 rounding to nearest-even; NaN stays a quiet NaN with its sign (as <see cref="BFloat16Bits.FromSingle"/>).</summary>
    public static void F32ToBf16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<ushort>.Count)
        {
            ref float s = ref MemoryMarshal.GetReference(source);
            ref ushort d = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
            {
                Vector<uint> low = RoundToBf16(Vector.LoadUnsafe(ref s, (nuint)i));
                Vector<uint> high = RoundToBf16(Vector.LoadUnsafe(ref s, (nuint)(i + Vector<float>.Count)));
                Vector.Narrow(low, high).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < source.Length; i++) destination[i] = BFloat16Bits.FromSingle(source[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> RoundToBf16(Vector<float> value)
    {
        Vector<uint> u = Vector.AsVectorUInt32(value);
        Vector<uint> upper = Vector.ShiftRightLogical(u, 16);
        Vector<uint> rounded = Vector.ShiftRightLogical(u + new Vector<uint>(0x7FFFu) + (upper & Vector<uint>.One), 16);
        Vector<uint> quietNaN = upper | new Vector<uint>(0x0040u);
        Vector<uint> isNaN = ~Vector.AsVectorUInt32(Vector.Equals(value, value));
        return Vector.ConditionalSelect(isNaN, quietNaN, rounded);
    }

    /// <summary>F32 → F16 rounding to nearest-even (IEEE; overflow to ±∞).</summary>
    public static void F32ToF16(ReadOnlySpan<float> source, Span<ushort> destination) =>
        TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));

    private static void Split(int count, Action<int, int> body)
    {
        if (count < ParallelThreshold)
        {
            body(0, count);
            return;
        }
        int chunks = (count + ChunkElements - 1) / ChunkElements;
        Parallel.For(0, chunks, c =>
        {
            int start = c * ChunkElements;
            body(start, Math.Min(ChunkElements, count - start));
        });
    }
}
