using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Scalpel.Tensors;

/// <summary>
/// llama.cpp's Q8_0 (ggml-quants.c, quantize_row_q8_0_ref): each block of 32 consecutive elements has one scale
/// d = absmax / 127, stored as f16, and 32 int8 values round(x / d) (d computed in f32; the f16 copy is what
/// dequantization uses). Value of element i: q_i · d_b.
/// </summary>
/// <remarks>Layout of n elements (n a multiple of 32): n sbyte values, then n / 32 f16 scales.</remarks>
public static class Q8_0
{
    public const int BlockSize = 32;

    public static long StorageBytes(long length)
    {
        CheckLength(length);
        return length + length / BlockSize * 2;
    }

    public static void CheckLength(long length)
    {
        if (length % BlockSize != 0)
            throw new ArgumentException($"Q8_0 stores whole blocks of {BlockSize} elements; {length} is not a multiple", nameof(length));
    }

    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        long n = source.Length;
        if (destination.Length != StorageBytes(n)) throw new ArgumentException($"Q8_0 of {n} elements takes {StorageBytes(n)} bytes, not {destination.Length}", nameof(destination));
        var scales = MemoryMarshal.Cast<byte, Half>(destination[(int)n..]);
        for (int b = 0; b < n / BlockSize; b++)
        {
            var block = source.Slice(b * BlockSize, BlockSize);
            float max = 0f;
            foreach (float x in block) max = MathF.Max(max, MathF.Abs(x));
            float d = max / 127f, id = d == 0f ? 0f : 1f / d;
            scales[b] = (Half)d;
            for (int i = 0; i < BlockSize; i++) destination[b * BlockSize + i] = (byte)(sbyte)MathF.Round(block[i] * id, MidpointRounding.AwayFromZero); // C roundf
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float BlockScale(byte* data, long length, long block) => (float)((Half*)(data + length))[block];

    /// <summary>
    /// Elements [start, start + count) of a Q8_0 tensor of <paramref name="length"/> elements, as f32: whole blocks
    /// widen int8 → int32 → f32 in vectors (AVX-512 or AVX2), the rest as <see cref="DequantizeReference"/>. Same bits.
    /// </summary>
    public static unsafe void Dequantize(byte* data, long length, long start, int count, float* destination)
    {
        bool avx512 = Avx512F.IsSupported, avx2 = Avx2.IsSupported;
        long i = start, end = start + count;
        while (i < end)
        {
            long block = i / BlockSize, blockStart = block * BlockSize;
            long blockEnd = Math.Min(end, blockStart + BlockSize);
            float d = BlockScale(data, length, block);
            if (i == blockStart && blockEnd == blockStart + BlockSize && (avx512 || avx2))
            {
                sbyte* q = (sbyte*)(data + i);
                if (avx512)
                {
                    var s = Vector512.Create(d);
                    Vector512.Store(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q))) * s, destination);
                    Vector512.Store(Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(q + 16))) * s, destination + 16);
                }
                else Block256(q, d, destination);
                destination += BlockSize;
                i = blockEnd;
                continue;
            }
            for (; i < blockEnd; i++) *destination++ = (sbyte)data[i] * d;
        }
    }

    /// <summary>One whole block with AVX2, 8 bytes at a time (never reads past the block); internal for tests.</summary>
    internal static unsafe void Block256(sbyte* q, float d, float* destination)
    {
        var s = Vector256.Create(d);
        for (int j = 0; j < BlockSize; j += 8)
            Vector256.Store(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.CreateScalar(*(long*)(q + j)).AsSByte())) * s, destination + j);
    }

    /// <summary>The plain twin of <see cref="Dequantize(byte*, long, long, int, float*)"/>: one element at a time.</summary>
    public static unsafe void DequantizeReference(byte* data, long length, long start, int count, float* destination)
    {
        for (long i = start; i < start + count; i++) *destination++ = (sbyte)data[i] * BlockScale(data, length, i / BlockSize);
    }

    public static unsafe void Dequantize(ReadOnlySpan<byte> data, Span<float> destination)
    {
        long n = destination.Length;
        if (data.Length != StorageBytes(n)) throw new ArgumentException($"Q8_0 of {n} elements takes {StorageBytes(n)} bytes, not {data.Length}", nameof(data));
        fixed (byte* d = data)
        fixed (float* f = destination)
            Dequantize(d, n, 0, (int)n, f);
    }
}
