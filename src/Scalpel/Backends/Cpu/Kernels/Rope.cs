using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Scalpel.Models;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>cos/sin tables [maxPositions, headDim/2] for rotary embeddings, computed in double then stored F32.</summary>
public sealed class RopeTable
{
    private RopeTable(int headDim, int maxPositions, float[] cos, float[] sin)
    {
        HeadDim = headDim; MaxPositions = maxPositions; CosValues = cos; SinValues = sin;
    }

    public int HeadDim { get; }
    public int MaxPositions { get; }
    /// <summary>[maxPositions, headDim/2]</summary>
    public float[] CosValues { get; }
    /// <summary>[maxPositions, headDim/2]</summary>
    public float[] SinValues { get; }

    public static RopeTable Create(int headDim, int maxPositions, double theta, RopeScaling scaling)
    {
        ArgumentNullException.ThrowIfNull(scaling);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        if (headDim % 2 != 0) throw new ArgumentException($"headDim must be even, got {headDim}", nameof(headDim));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPositions);
        if (!(theta > 0) || double.IsInfinity(theta)) throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope theta must be positive");
        if ((long)maxPositions * (headDim / 2) > Array.MaxLength)
            throw new ArgumentException($"a {maxPositions}×{headDim / 2} table does not fit an array");

        double[] invFreq = InverseFrequencies(headDim, theta, scaling);
        int half = headDim / 2;
        var cos = new float[maxPositions * half];
        var sin = new float[maxPositions * half];

        // angle = position·inv_freq in double (exact enough even at position 10⁶); Math.Cos/Sin per entry.
        // Big tables (long contexts) are filled by position chunks in parallel.
        void Fill(int p0, int p1)
        {
            for (int p = p0; p < p1; p++)
                for (int i = 0; i < half; i++)
                {
                    double angle = p * invFreq[i];
                    cos[p * half + i] = (float)Math.Cos(angle);
                    sin[p * half + i] = (float)Math.Sin(angle);
                }
        }
        long total = (long)maxPositions * half;
        int chunks = total < 64 * 1024 ? 1 : (int)Math.Min(maxPositions, 4L * Environment.ProcessorCount);
        if (chunks == 1) Fill(0, maxPositions);
        else Parallel.For(0, chunks, c => Fill((int)((long)maxPositions * c / chunks), (int)((long)maxPositions * (c + 1) / chunks)));

        return new RopeTable(headDim, maxPositions, cos, sin);
    }

    /// <summary>
    /// inv_freq[i] = 1/theta^(2i/headDim) for i &lt; headDim/2, then adjusted like transformers' rope init functions
    /// (<c>_compute_linear_scaling_rope_parameters</c>, <c>_compute_llama3_parameters</c>).
    /// </summary>
    internal static double[] InverseFrequencies(int headDim, double theta, RopeScaling scaling)
    {
        int half = headDim / 2;
        var invFreq = new double[half];
        for (int i = 0; i < half; i++) invFreq[i] = 1.0 / Math.Pow(theta, 2.0 * i / headDim);

        switch (scaling.Type)
        {
            case RopeType.Default:
                break;
            case RopeType.Linear:
                RequirePositive(scaling.Factor, "factor");
                for (int i = 0; i < half; i++) invFreq[i] /= scaling.Factor;
                break;
            case RopeType.Llama3:
            {
                double factor = scaling.Factor, low = scaling.LowFreqFactor, high = scaling.HighFreqFactor;
                double oldContext = scaling.OriginalMaxPositions;
                RequirePositive(factor, "factor");
                RequirePositive(low, "low_freq_factor");
                RequirePositive(oldContext, "original_max_position_embeddings");
                // transformers only warns here, but high ≤ low makes the smoothing divide by zero (NaN frequencies).
                if (!(high > low))
                    throw new ArgumentException($"llama3 rope scaling needs high_freq_factor > low_freq_factor, got {high} ≤ {low}");
                double lowFreqWavelen = oldContext / low, highFreqWavelen = oldContext / high;
                for (int i = 0; i < half; i++)
                {
                    double wavelen = 2 * Math.PI / invFreq[i];
                    if (wavelen < highFreqWavelen) continue;                              // high frequency: unchanged
                    if (wavelen > lowFreqWavelen) { invFreq[i] /= factor; continue; }     // low frequency: interpolated
                    double smooth = (oldContext / wavelen - low) / (high - low);          // in between: blend
                    invFreq[i] = (1 - smooth) * invFreq[i] / factor + smooth * invFreq[i];
                }
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(scaling), scaling.Type, "unknown rope scaling type");
        }
        return invFreq;
    }

    private static void RequirePositive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentOutOfRangeException(nameof(RopeScaling), value, $"rope scaling {name} must be positive");
    }
}

/// <summary>
/// Rotary position embedding, Hugging Face rotate_half convention: the head vector is split in halves (x1, x2);
/// out1 = x1·cos − x2·sin, out2 = x2·cos + x1·sin, with frequency index i in [0, headDim/2).
/// </summary>
public static class Rope
{
    /// <summary>Below this many elements a call stays on the calling thread.</summary>
    private const long ParallelThreshold = 64 * 1024;

    /// <param name="x">[tokens, heads, headDim], rotated in place</param>
    /// <param name="positions">[tokens] position of each token inside its own sequence</param>
    public static void Forward(Span<float> x, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
        => Apply(x, tokens, heads, headDim, positions, table, sinSign: 1f);

    /// <summary>Gradient through the rotation (the transpose: rotate by −angle), in place on dx.</summary>
    public static void Backward(Span<float> dx, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
        => Apply(dx, tokens, heads, headDim, positions, table, sinSign: -1f);

    // Rotation by +angle (forward) or −angle (backward: the rotation matrix is orthogonal, its transpose is its inverse),
    // which is the same rotation with sin negated.
    private static void Apply(Span<float> x, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table,
        float sinSign)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        if (headDim != table.HeadDim)
            throw new ArgumentException($"headDim {headDim} does not match the rope table's {table.HeadDim}", nameof(headDim));
        long n = (long)tokens * heads * headDim;
        if (x.Length < n) throw new ArgumentException($"x has {x.Length} elements, needs {n} = {tokens}×{heads}×{headDim}", nameof(x));
        if (positions.Length < tokens)
            throw new ArgumentException($"positions has {positions.Length} entries for {tokens} tokens", nameof(positions));
        // Every position is checked before anything is rotated, so a bad call leaves x untouched.
        for (int t = 0; t < tokens; t++)
            if ((uint)positions[t] >= (uint)table.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(positions), positions[t],
                    $"position {positions[t]} of token {t} is outside the rope table (max positions {table.MaxPositions})");
        if (n == 0) return;

        int chunks = n < ParallelThreshold || tokens < 2 ? 1 : (int)Math.Min(tokens, Math.Min(n / (16 * 1024), 4L * Environment.ProcessorCount));
        if (chunks <= 1) RotateTokens(x, heads, headDim, positions, table, sinSign, 0, tokens);
        else RotateParallel(x, tokens, heads, headDim, positions, table, sinSign, chunks);
    }

    // Kept out of Apply: a lambda's captured state is allocated on entry to the method holding it (small calls must not pay).
    private static unsafe void RotateParallel(Span<float> x, int tokens, int heads, int headDim, ReadOnlySpan<int> positions,
        RopeTable table, float sinSign, int chunks)
    {
        int len = tokens * heads * headDim;
        fixed (float* px = x)
        fixed (int* ppos = positions)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are rebuilt into spans per chunk.
            float* cx = px; int* cpos = ppos;
            Parallel.For(0, chunks, c => RotateTokens(new Span<float>(cx, len), heads, headDim, new ReadOnlySpan<int>(cpos, tokens),
                table, sinSign, (int)((long)tokens * c / chunks), (int)((long)tokens * (c + 1) / chunks)));
        }
    }

    // For tokens [t0, t1), every head: (x1, x2) ← (x1·cos − x2·s, x2·cos + x1·s) with s = sinSign·sin.
    private static void RotateTokens(Span<float> x, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table,
        float sinSign, int t0, int t1)
    {
        int half = headDim / 2;
        for (int t = t0; t < t1; t++)
        {
            ref float cos = ref table.CosValues[positions[t] * half]; // [half] row of this token's position
            ref float sin = ref table.SinValues[positions[t] * half];
            for (int h = 0; h < heads; h++)
            {
                ref float x1 = ref MemoryMarshal.GetReference(x.Slice((t * heads + h) * headDim, headDim));
                ref float x2 = ref Unsafe.Add(ref x1, half);
                int i = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    var sign = Vector512.Create(sinSign);
                    for (; i <= half - 16; i += 16)
                    {
                        var c = Vector512.LoadUnsafe(ref cos, (nuint)i);
                        var s = Vector512.LoadUnsafe(ref sin, (nuint)i) * sign;
                        var a = Vector512.LoadUnsafe(ref x1, (nuint)i);
                        var b = Vector512.LoadUnsafe(ref x2, (nuint)i);
                        (a * c - b * s).StoreUnsafe(ref x1, (nuint)i);
                        (b * c + a * s).StoreUnsafe(ref x2, (nuint)i);
                    }
                }
                if (Vector256.IsHardwareAccelerated)
                {
                    var sign = Vector256.Create(sinSign);
                    for (; i <= half - 8; i += 8)
                    {
                        var c = Vector256.LoadUnsafe(ref cos, (nuint)i);
                        var s = Vector256.LoadUnsafe(ref sin, (nuint)i) * sign;
                        var a = Vector256.LoadUnsafe(ref x1, (nuint)i);
                        var b = Vector256.LoadUnsafe(ref x2, (nuint)i);
                        (a * c - b * s).StoreUnsafe(ref x1, (nuint)i);
                        (b * c + a * s).StoreUnsafe(ref x2, (nuint)i);
                    }
                }
                for (; i < half; i++)
                {
                    float c = Unsafe.Add(ref cos, i), s = Unsafe.Add(ref sin, i) * sinSign;
                    float a = Unsafe.Add(ref x1, i), b = Unsafe.Add(ref x2, i);
                    Unsafe.Add(ref x1, i) = a * c - b * s;
                    Unsafe.Add(ref x2, i) = b * c + a * s;
                }
            }
        }
    }
}
