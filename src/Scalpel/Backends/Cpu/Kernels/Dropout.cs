using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// Inverted dropout with a counter-based mask: element i is kept iff the top 24 bits of Hash(seed, i) are ≥ p·2²⁴,
/// and kept values are scaled by 1/(1−p). The mask is a pure function of (seed, i), so backward regenerates it instead
/// of storing it, and any backend can compute the same one. The hash is murmur3's 32-bit finaliser over
/// i·φ + seed: 32-bit multiplies, so it vectorises (a 64-bit hash per element cost a fifth of a LoRA step).
/// </summary>
public static class Dropout
{
    private const int ParallelThreshold = 1 << 16;
    private const int Chunk = 1 << 14;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Hash(ulong seed, uint index)
    {
        uint x = index * 0x9E3779B9u + (uint)seed;
        x ^= (uint)(seed >> 32);
        x ^= x >> 16; x *= 0x85EBCA6Bu;
        x ^= x >> 13; x *= 0xC2B2AE35u;
        x ^= x >> 16;
        return x;
    }

    public static uint Threshold(float p) => (uint)Math.Round(p * (1 << 24));

    /// <param name="source">may be the same memory as <paramref name="destination"/></param>
    public static void Apply(ReadOnlySpan<float> source, Span<float> destination, float p, ulong seed)
    {
        if (destination.Length != source.Length) throw new ArgumentException("dropout: source and destination lengths differ");
        if (p is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        if (source.Length < ParallelThreshold)
        {
            ApplyRange(source, destination, 0, p, seed);
            return;
        }
        unsafe
        {
            fixed (float* src = source, dst = destination)
            {
                nint s = (nint)src, d = (nint)dst;
                int n = source.Length;
                Parallel.For(0, (n + Chunk - 1) / Chunk, c =>
                {
                    int start = c * Chunk, count = Math.Min(Chunk, n - start);
                    ApplyRange(new ReadOnlySpan<float>((float*)s + start, count), new Span<float>((float*)d + start, count), start, p, seed);
                });
            }
        }
    }

    private static void ApplyRange(ReadOnlySpan<float> source, Span<float> destination, int offset, float p, ulong seed)
    {
        uint threshold = Threshold(p);
        float scale = 1f / (1f - p);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && source.Length >= 8)
        {
            var step = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7);
            var golden = Vector256.Create(0x9E3779B9u);
            var low = Vector256.Create((uint)seed);
            var high = Vector256.Create((uint)(seed >> 32));
            var m1 = Vector256.Create(0x85EBCA6Bu);
            var m2 = Vector256.Create(0xC2B2AE35u);
            var limit = Vector256.Create(threshold);
            var scaleV = Vector256.Create(scale);
            for (; i <= source.Length - 8; i += 8)
            {
                var x = (Vector256.Create((uint)(offset + i)) + step) * golden + low;
                x ^= high;
                x ^= Vector256.ShiftRightLogical(x, 16); x *= m1;
                x ^= Vector256.ShiftRightLogical(x, 13); x *= m2;
                x ^= Vector256.ShiftRightLogical(x, 16);
                var keep = Vector256.GreaterThanOrEqual(Vector256.ShiftRightLogical(x, 8), limit).AsSingle();
                var v = Vector256.Create(source.Slice(i, 8)) * scaleV;
                Vector256.ConditionalSelect(keep, v, Vector256<float>.Zero).CopyTo(destination.Slice(i, 8));
            }
        }
        for (; i < source.Length; i++)
            destination[i] = Hash(seed, (uint)(offset + i)) >> 8 >= threshold ? source[i] * scale : 0f;
    }
}
