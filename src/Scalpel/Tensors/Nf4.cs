using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Scalpel.Tensors;

/// <summary>
/// 4-bit NormalFloat (QLoRA, Dettmers et al. 2023, §3): each block of 64 consecutive elements is scaled by its
/// absolute maximum into [−1, 1] and every element becomes the index of the nearest of 16 fixed values (the
/// codebook below: quantiles of N(0, 1) normalised to [−1, 1], with an exact 0).
/// Double quantization (§3, "Double Quantization"): the fp32 block absmax values have their mean subtracted and are
/// quantized again, 256 at a time, to 8-bit floats — bitsandbytes' dynamic map (<see cref="DynamicMap"/>: signed,
/// 7 exponent bits, the code QLoRA's compress_statistics uses) with one fp32 absmax per 256 — so a block scale costs
/// 8 + 32/256 bits, not 32.
/// </summary>
/// <remarks>
/// Layout of a tensor of n elements (n a multiple of 64), in order:
/// <code>
/// codes     n / 2 bytes   element 2i in the high nibble, 2i+1 in the low one (bitsandbytes' order)
/// qabsmax   n / 64 byte   index of the DynamicMap value nearest to (absmax_b − offset) / scale2_g, g = b / 256
///           (padding to 4 bytes)
/// scale2    ceil(n / 16384) float   max |absmax_b − offset| over the group of 256 blocks
/// offset    1 float       mean of all block absmax values
/// </code>
/// Dequantized value of element i: Codebook[code_i] · (DynamicMap[qabsmax_b] · scale2_g + offset).
/// </remarks>
public static unsafe class Nf4
{
    public const int BlockSize = 64;
    public const int ScaleGroup = 256;

    /// <summary>The NF4 values, exactly as bitsandbytes' kernels (csrc/kernels.cu, nf4_data) and the QLoRA paper's appendix.</summary>
    public static ReadOnlySpan<float> Codebook =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    public static long Blocks(long length) => length / BlockSize;
    private static long Groups(long length) => (Blocks(length) + ScaleGroup - 1) / ScaleGroup;
    private static long Scale2Offset(long length) => (length / 2 + Blocks(length) + 3) / 4 * 4;

    public static long StorageBytes(long length)
    {
        CheckLength(length);
        return Scale2Offset(length) + 4 * Groups(length) + 4;
    }

    public static void CheckLength(long length)
    {
        if (length % BlockSize != 0)
            throw new ArgumentException($"NF4 stores whole blocks of {BlockSize} elements; {length} is not a multiple", nameof(length));
    }

    /// <summary>Index of the codebook value nearest to x ∈ [−1, 1] (ties to the lower one, as bitsandbytes' decision tree).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestCode(float x)
    {
        ReadOnlySpan<float> c = Codebook;
        int code = 0;
        for (int i = 0; i < 15; i++)
            if (x > (c[i] + c[i + 1]) * 0.5f) code = i + 1;
        return code;
    }

    /// <summary>Quantizes source (length a multiple of 64) into destination (<see cref="StorageBytes"/> bytes).</summary>
    public static void Quantize(ReadOnlySpan<float> source, Span<byte> destination)
    {
        long n = source.Length;
        if (destination.Length != StorageBytes(n)) throw new ArgumentException($"NF4 of {n} elements takes {StorageBytes(n)} bytes, not {destination.Length}", nameof(destination));
        int blocks = (int)Blocks(n);
        var absmax = new float[blocks];
        Span<byte> codes = destination[..(int)(n / 2)];
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * BlockSize, BlockSize);
            float max = 0f;
            foreach (float x in block) max = MathF.Max(max, MathF.Abs(x));
            absmax[b] = max;
            float inv = max == 0f ? 0f : 1f / max;
            for (int i = 0; i < BlockSize; i += 2)
            {
                int hi = NearestCode(block[i] * inv), lo = NearestCode(block[i + 1] * inv);
                codes[(b * BlockSize + i) / 2] = (byte)(hi << 4 | lo);
            }
        }
        DoubleQuantize(absmax, destination[(int)(n / 2)..(int)(n / 2 + blocks)], Scale2(destination, n), out Offset(destination, n));
    }

    /// <summary>
    /// bitsandbytes' signed dynamic 8-bit map (create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)), the
    /// second-level code of QLoRA's double quantization: for i = 0..6, the 2^i midpoints of linspace(0.1, 1, 2^i + 1)
    /// times ±10^(i−6), plus 0 and 1; 256 values sorted, in float32 as torch makes them.
    /// </summary>
    public static ReadOnlySpan<float> DynamicMap => s_dynamicMap;

    private static readonly float[] s_dynamicMap = BuildDynamicMap();

    private static float[] BuildDynamicMap()
    {
        var data = new List<float>(256);
        for (int i = 0; i < 7; i++)
        {
            int items = (1 << i) + 1;
            var boundaries = Linspace(0.1f, 1f, items);
            double power = Math.Pow(10, i - 6);
            for (int j = 0; j + 1 < items; j++)
            {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2f;
                data.Add((float)(power * mean));
                data.Add((float)(-power * mean));
            }
        }
        data.Add(0f);
        data.Add(1f);
        data.Sort();
        return data.ToArray();
    }

    /// <summary>torch.linspace in float32: start + i·step for the first half, end − (steps − 1 − i)·step for the rest.</summary>
    private static float[] Linspace(float start, float end, int steps)
    {
        var values = new float[steps];
        if (steps == 1) { values[0] = start; return values; }
        float step = (end - start) / (steps - 1);
        int half = steps / 2;
        for (int i = 0; i < steps; i++) values[i] = i < half ? start + step * i : end - step * (steps - 1 - i);
        return values;
    }

    /// <summary>Index of the <see cref="DynamicMap"/> value nearest to x (x in [−1, 1]); ties go to the lower value.</summary>
    internal static int NearestDynamicCode(float x)
    {
        var map = s_dynamicMap;
        int lo = 0, hi = map.Length - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) >> 1;
            if (map[mid] <= x) lo = mid; else hi = mid;
        }
        return x - map[lo] <= map[hi] - x ? lo : hi;
    }

    /// <summary>
    /// absmax → offset (their mean), then per group of 256: scale2 = max |absmax − offset| and q = the dynamic-map
    /// index nearest to (absmax − offset) / scale2 (bitsandbytes' quantize_blockwise with blocksize 256).
    /// </summary>
    internal static void DoubleQuantize(ReadOnlySpan<float> absmax, Span<byte> q, Span<float> scale2, out float offset)
    {
        double sum = 0;
        foreach (float a in absmax) sum += a;
        offset = absmax.Length == 0 ? 0f : (float)(sum / absmax.Length);
        for (int g = 0; g < scale2.Length; g++)
        {
            int b0 = g * ScaleGroup, b1 = Math.Min(absmax.Length, b0 + ScaleGroup);
            float max = 0f;
            for (int b = b0; b < b1; b++) max = MathF.Max(max, MathF.Abs(absmax[b] - offset));
            scale2[g] = max;
            float inv = max == 0f ? 0f : 1f / max;
            for (int b = b0; b < b1; b++) q[b] = (byte)NearestDynamicCode((absmax[b] - offset) * inv);
        }
    }

    private static Span<float> Scale2(Span<byte> data, long n) =>
        MemoryMarshal.Cast<byte, float>(data.Slice((int)Scale2Offset(n), (int)(4 * Groups(n))));

    private static ref float Offset(Span<byte> data, long n) =>
        ref MemoryMarshal.Cast<byte, float>(data.Slice((int)(Scale2Offset(n) + 4 * Groups(n)), 4))[0];

    /// <summary>The dequantized absmax of block b: DynamicMap[qabsmax_b] · scale2_g + offset.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float BlockScale(byte* data, long length, long block)
    {
        byte q = data[length / 2 + block];
        float* scale2 = (float*)(data + Scale2Offset(length));
        float offset = scale2[Groups(length)];
        return MathF.FusedMultiplyAdd(s_dynamicMap[q], scale2[block / ScaleGroup], offset);
    }

    /// <summary>
    /// Elements [start, start + count) of an NF4 tensor of <paramref name="length"/> elements, as f32. Whole blocks
    /// take a vector table lookup (AVX-512: one vpermps over the 16 values; AVX2: two and a blend); the rest, and
    /// machines without them, <see cref="DequantizeReference"/>'s scalar loop. Both give the same bits.
    /// </summary>
    public static unsafe void Dequantize(byte* data, long length, long start, int count, float* destination)
    {
        bool avx512 = Avx512F.IsSupported, avx2 = Avx2.IsSupported;
        long i = start, end = start + count;
        while (i < end)
        {
            long block = i / BlockSize, blockStart = block * BlockSize;
            long blockEnd = Math.Min(end, blockStart + BlockSize);
            float scale = BlockScale(data, length, block);
            if (i == blockStart && blockEnd == blockStart + BlockSize && (avx512 || avx2))
            {
                if (avx512) Block512(data + i / 2, scale, destination);
                else Block256(data + i / 2, scale, destination);
                destination += BlockSize;
                i = blockEnd;
                continue;
            }
            ReadOnlySpan<float> book = Codebook;
            for (; i < blockEnd; i++)
            {
                int b = data[i >> 1];
                *destination++ = book[(i & 1) == 0 ? b >> 4 : b & 15] * scale;
            }
        }
    }

    /// <summary>The plain twin of <see cref="Dequantize(byte*, long, long, int, float*)"/>: one element at a time.</summary>
    public static unsafe void DequantizeReference(byte* data, long length, long start, int count, float* destination)
    {
        ReadOnlySpan<float> book = Codebook;
        for (long i = start; i < start + count; i++)
        {
            int b = data[i >> 1];
            *destination++ = book[(i & 1) == 0 ? b >> 4 : b & 15] * BlockScale(data, length, i / BlockSize);
        }
    }

    private static readonly Vector512<float> Book512 = Vector512.Create(Codebook);
    private static readonly Vector256<float> BookLow = Vector256.Create(Codebook[..8]), BookHigh = Vector256.Create(Codebook[8..]);

    /// <summary>16 code bytes → their 32 nibbles in element order (high nibble first), as two vectors of 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> First, Vector128<byte> Second) Nibbles(byte* codes)
    {
        Vector128<byte> b = Vector128.Load(codes), mask = Vector128.Create((byte)15);
        Vector128<byte> hi = Vector128.ShiftRightLogical(b.AsUInt16(), 4).AsByte() & mask, lo = b & mask;
        return (Sse2.UnpackLow(hi, lo), Sse2.UnpackHigh(hi, lo));
    }

    private static void Block512(byte* codes, float scale, float* dst)
    {
        var s = Vector512.Create(scale);
        for (int h = 0; h < 2; h++, codes += 16, dst += 32)
        {
            var (first, second) = Nibbles(codes);
            Vector512.Store(Avx512F.PermuteVar16x32(Book512, Avx512F.ConvertToVector512Int32(first)) * s, dst);
            Vector512.Store(Avx512F.PermuteVar16x32(Book512, Avx512F.ConvertToVector512Int32(second)) * s, dst + 16);
        }
    }

    /// <summary>One whole block with AVX2 (internal so that tests reach it on AVX-512 machines too).</summary>
    internal static void Block256(byte* codes, float scale, float* dst)
    {
        var s = Vector256.Create(scale);
        for (int h = 0; h < 2; h++, codes += 16, dst += 32)
        {
            var (first, second) = Nibbles(codes);
            Lookup8(first, dst); Lookup8(Sse2.ShiftRightLogical128BitLane(first, 8), dst + 8);
            Lookup8(second, dst + 16); Lookup8(Sse2.ShiftRightLogical128BitLane(second, 8), dst + 24);
        }

        // Eight indices (the low 8 bytes): vpermps picks from each half of the table by idx & 7, bit 3 chooses the half.
        void Lookup8(Vector128<byte> idx8, float* d)
        {
            Vector256<int> idx = Avx2.ConvertToVector256Int32(idx8);
            Vector256<float> low = Avx2.PermuteVar8x32(BookLow, idx), high = Avx2.PermuteVar8x32(BookHigh, idx);
            Vector256.Store(Avx.BlendVariable(low, high, Avx2.ShiftLeftLogical(idx, 28).AsSingle()) * s, d);
        }
    }

    public static unsafe void Dequantize(ReadOnlySpan<byte> data, Span<float> destination)
    {
        long n = destination.Length;
        if (data.Length != StorageBytes(n)) throw new ArgumentException($"NF4 of {n} elements takes {StorageBytes(n)} bytes, not {data.Length}", nameof(data));
        fixed (byte* d = data)
        fixed (float* f = destination)
            Dequantize(d, n, 0, (int)n, f);
    }
}
