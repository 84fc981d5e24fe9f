using System.Runtime.InteropServices;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Tensors;

/// <summary>
/// NF4 and Q8_0 storage against scalar references written here from the formats' definitions (the QLoRA paper;
/// llama.cpp's quantize_row_q8_0_ref) and against PyTorch (tests/oracles/nf4.py), with error bounds.
/// </summary>
public class QuantizationTests(ITestOutputHelper output)
{
    private static byte[] QuantizeNf4(float[] x)
    {
        var bytes = new byte[Nf4.StorageBytes(x.Length)];
        Nf4.Quantize(x, bytes);
        return bytes;
    }

    private static float[] DequantizeNf4(byte[] bytes, int n)
    {
        var y = new float[n];
        Nf4.Dequantize(bytes, y);
        return y;
    }

    /// <summary>Element i's 4-bit code: element 2j in the high nibble of byte j, 2j+1 in the low one.</summary>
    private static int Code(byte[] bytes, int i) => (i & 1) == 0 ? bytes[i >> 1] >> 4 : bytes[i >> 1] & 15;

    private static unsafe float BlockScale(byte[] bytes, int n, int block)
    {
        fixed (byte* p = bytes) return Nf4.BlockScale(p, n, block);
    }

    /// <summary>The paper's definition, plainly: absmax of each block of 64, then argmin_j |x / absmax − q_j|.</summary>
    private static int[] ReferenceCodes(float[] x)
    {
        var codes = new int[x.Length];
        for (int b = 0; b < x.Length / 64; b++)
        {
            double absmax = 0;
            for (int i = 0; i < 64; i++) absmax = Math.Max(absmax, Math.Abs(x[b * 64 + i]));
            for (int i = 0; i < 64; i++)
            {
                double v = absmax == 0 ? 0 : x[b * 64 + i] / absmax;
                int best = 0;
                for (int j = 1; j < 16; j++) if (Math.Abs(v - Nf4.Codebook[j]) < Math.Abs(v - Nf4.Codebook[best])) best = j;
                codes[b * 64 + i] = best;
            }
        }
        return codes;
    }

    private static float[] Weights(int seed, int n)
    {
        var rng = new Random(seed);
        var x = TestData.Normal(rng, n, 0.02f);
        // A few outliers, and an all-zero block (absmax 0 must dequantize to zeros, not NaN).
        for (int i = 0; i < n; i += 997) x[i] *= 8;
        Array.Clear(x, 128, 64);
        return x;
    }

    [Fact]
    public void Nf4CodesMatchTheScalarReferenceQuantizer()
    {
        var x = Weights(1, 64 * 300);
        var bytes = QuantizeNf4(x);
        var expected = ReferenceCodes(x);
        for (int i = 0; i < x.Length; i++) Assert.True(expected[i] == Code(bytes, i), $"element {i} = {x[i]}: code {Code(bytes, i)}, reference {expected[i]}");
    }

    [Fact]
    public void Nf4CodebookAndCodesMatchPyTorch()
    {
        var x = Weights(2, 64 * 64);
        var bytes = QuantizeNf4(x);
        var py = TorchOracle.Run("nf4.py", new Dictionary<string, OracleTensor> { ["x"] = new(x, x.Length) });

        // The published table is the paper's construction (normal quantiles, offset 0.9677083) to float32 precision.
        AssertClose.Equal(py["codebook"].Floats, Nf4.Codebook, atol: 2e-7f, rtol: 0, what: "codebook");
        var pyCodes = py["codes"].I32!;
        for (int i = 0; i < x.Length; i++) Assert.True(pyCodes[i] == Code(bytes, i), $"element {i}: code {Code(bytes, i)}, PyTorch {pyCodes[i]}");

        // Dequantized with the exact block absmax (single-level), the values are PyTorch's to f32 rounding; with
        // the double-quantized absmax each differs by at most |q| · |absmax' − absmax| ≤ the second-level step / 2.
        var single = new float[x.Length];
        for (int i = 0; i < x.Length; i++) single[i] = Nf4.Codebook[Code(bytes, i)] * x.AsSpan(i / 64 * 64, 64).ToArray().Max(MathF.Abs);
        AssertClose.Equal(py["dequantized"].Floats, single, atol: 0, rtol: 1e-6f, what: "single-level dequantized");
        var full = DequantizeNf4(bytes, x.Length);
        for (int b = 0; b < x.Length / 64; b++)
        {
            float absmax = x.AsSpan(b * 64, 64).ToArray().Max(MathF.Abs);
            float bound = MathF.Abs(BlockScale(bytes, x.Length, b) - absmax) * 1.0001f + 1e-9f;
            for (int i = b * 64; i < b * 64 + 64; i++)
                Assert.True(MathF.Abs(full[i] - py["dequantized"].Floats[i]) <= bound, $"element {i}");
        }
    }

    [Fact]
    public void Nf4DoubleQuantizationIsBitsandbytesDynamicMapOverGroupsOf256()
    {
        const int n = 64 * 1000; // 1000 blocks: 3 full groups of 256 and a partial one
        var x = Weights(3, n);
        var bytes = QuantizeNf4(x);
        var absmax = Enumerable.Range(0, n / 64).Select(b => x.AsSpan(b * 64, 64).ToArray().Max(MathF.Abs)).ToArray();
        float offset = (float)absmax.Average(a => (double)a);
        var py = TorchOracle.Run("nf4_double.py", new Dictionary<string, OracleTensor>
        {
            ["absmax"] = new(absmax, absmax.Length), ["offset"] = new([offset], 1),
        });
        AssertClose.Equal(py["map"].Floats, Nf4.DynamicMap.ToArray(), atol: 0, rtol: 1e-6f, what: "dynamic map");
        var relative = new List<double>();
        for (int b = 0; b < absmax.Length; b++)
        {
            float ours = BlockScale(bytes, n, b), theirs = py["dequantized"].Floats[b];
            Assert.True(MathF.Abs(ours - theirs) <= 1e-6f * MathF.Abs(theirs) + 1e-9f, $"block {b}: {ours} vs bitsandbytes' {theirs}");
            if (absmax[b] > 0) relative.Add(MathF.Abs(ours - absmax[b]) / absmax[b]);
        }
        relative.Sort();
        output.WriteLine($"NF4 double quantization (1 weight in 997 an 8× outlier): |absmax' − absmax| / absmax median {relative[relative.Count / 2]:P3}, worst {relative[^1]:P3}");
        Assert.Equal(n / 2 + n / 64 + 4 * 4 + 4, bytes.Length); // 4.127 bits per weight: 0.5 + 1/64 + 16/64000 + 4/64000 bytes
    }

    [Fact]
    public void NearestDynamicCodeEqualsABruteForceArgmin()
    {
        var map = Nf4.DynamicMap.ToArray();
        var rng = new Random(8);
        var probes = Enumerable.Range(0, 20000).Select(_ => (float)(rng.NextDouble() * 2 - 1) * (float)Math.Pow(10, -rng.Next(0, 7)))
            .Concat(map).Concat([-1f, 1f, 0f]);
        foreach (float v in probes)
        {
            int brute = 0;
            for (int i = 1; i < map.Length; i++) if (MathF.Abs(v - map[i]) < MathF.Abs(v - map[brute])) brute = i;
            Assert.Equal(MathF.Abs(v - map[brute]), MathF.Abs(v - map[Nf4.NearestDynamicCode(v)]));
        }
    }

    [Fact]
    public void Nf4RoundTripErrorIsBoundedByHalfTheWidestCodebookGap()
    {
        const int n = 64 * 2048;
        var x = Weights(4, n);
        var bytes = QuantizeNf4(x);
        var y = DequantizeNf4(bytes, n);
        // Nearest value: |x/absmax − q| ≤ half the widest gap (−1 to −0.6961928), plus what double quantization moves.
        float halfGap = 0;
        for (int j = 0; j < 15; j++) halfGap = MathF.Max(halfGap, (Nf4.Codebook[j + 1] - Nf4.Codebook[j]) / 2);
        Assert.Equal(0.152f, halfGap, 3);
        double se = 0, ss = 0;
        for (int b = 0; b < n / 64; b++)
        {
            float absmax = x.AsSpan(b * 64, 64).ToArray().Max(MathF.Abs);
            float dq = MathF.Abs(BlockScale(bytes, n, b) - absmax);
            for (int i = b * 64; i < b * 64 + 64; i++)
            {
                float err = MathF.Abs(y[i] - x[i]);
                Assert.True(err <= halfGap * absmax * 1.0001f + dq + 1e-9f, $"element {i}: {x[i]} → {y[i]}");
                se += (double)err * err;
                ss += (double)x[i] * x[i];
            }
        }
        double relRms = Math.Sqrt(se / ss);
        output.WriteLine($"NF4 round trip on N(0, 0.02) weights: relative RMS error {relRms:F4}");
        Assert.True(relRms < 0.12, $"relative RMS error {relRms}"); // measured ≈ 0.10 (NF4 is ~4 bits: SNR ≈ 20 dB)
        for (int i = 128; i < 192; i++) Assert.Equal(0f, y[i]); // the all-zero block
    }

    [Fact]
    public void Q8_0MatchesTheLlamaCppReferenceQuantizer()
    {
        const int n = 32 * 500;
        var x = Weights(5, n);
        var bytes = new byte[Q8_0.StorageBytes(n)];
        Q8_0.Quantize(x, bytes);
        Assert.Equal(n / 32 * 34, bytes.Length); // 8.5 bits per weight, as llama.cpp's block_q8_0
        var scales = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(n));
        var y = new float[n];
        Q8_0.Dequantize(bytes, y);
        double se = 0, ss = 0;
        for (int b = 0; b < n / 32; b++)
        {
            // quantize_row_q8_0_ref: d = amax / 127, id = 1/d, q = roundf(x · id), y.d = fp16(d).
            float amax = x.AsSpan(b * 32, 32).ToArray().Max(MathF.Abs);
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            Assert.Equal((Half)d, scales[b]);
            for (int i = b * 32; i < b * 32 + 32; i++)
            {
                int q = (int)MathF.Round(x[i] * id, MidpointRounding.AwayFromZero);
                Assert.Equal(q, (sbyte)bytes[i]);
                Assert.Equal(q * (float)(Half)d, y[i]);
                se += (double)(y[i] - x[i]) * (y[i] - x[i]);
                ss += (double)x[i] * x[i];
            }
        }
        output.WriteLine($"Q8_0 round trip on N(0, 0.02) weights: relative RMS error {Math.Sqrt(se / ss):F5}");
    }

    [Fact]
    public void LengthsThatAreNotWholeBlocksAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Nf4.StorageBytes(100));
        Assert.Throws<ArgumentException>(() => Q8_0.StorageBytes(48));
        Assert.Throws<ArgumentException>(() => DType.NF4.SizeOf());
    }
}

/// <summary>The vector dequantizers (whole blocks) against their scalar twins, on ranges that start and end anywhere.</summary>
public class DequantizeTwinTests
{
    [Theory]
    [InlineData("NF4")]
    [InlineData("Q8_0")]
    public unsafe void FastDequantizeEqualsTheScalarReferenceBitForBit(string formatName)
    {
        var format = Enum.Parse<DType>(formatName);
        var rng = new Random(formatName.Length);
        const int n = 64 * 40;
        var x = TestData.Normal(rng, n, 0.02f);
        var bytes = new byte[format.StorageBytes(n)];
        if (format == DType.NF4) Nf4.Quantize(x, bytes); else Q8_0.Quantize(x, bytes);
        var fast = new float[n];
        var slow = new float[n];
        fixed (byte* p = bytes)
        fixed (float* f = fast)
        fixed (float* s = slow)
        {
            for (int iter = 0; iter < 200; iter++)
            {
                int start = iter == 0 ? 0 : rng.Next(n), count = iter == 0 ? n : rng.Next(n - start + 1);
                Array.Fill(fast, float.NaN);
                Array.Fill(slow, float.NaN);
                if (format == DType.NF4) { Nf4.Dequantize(p, n, start, count, f); Nf4.DequantizeReference(p, n, start, count, s); }
                else { Q8_0.Dequantize(p, n, start, count, f); Q8_0.DequantizeReference(p, n, start, count, s); }
                for (int i = 0; i < n; i++)
                    if (BitConverter.SingleToInt32Bits(fast[i]) != BitConverter.SingleToInt32Bits(slow[i]))
                        Assert.Fail($"{format} range [{start}, {start + count}): element {i} fast {fast[i]:G9}, reference {slow[i]:G9}");
            }
        }
        Assert.Contains(fast, v => v != 0f && !float.IsNaN(v));

        // The AVX2 block path, which an AVX-512 machine never takes through Dequantize, block by block.
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        fixed (byte* p = bytes)
        fixed (float* f = fast)
        fixed (float* s = slow)
        {
            int blockSize = format == DType.NF4 ? Nf4.BlockSize : Q8_0.BlockSize;
            for (int b = 0; b < n / blockSize; b++)
            {
                if (format == DType.NF4) Nf4.Block256(p + b * blockSize / 2, Nf4.BlockScale(p, n, b), f + b * blockSize);
                else Q8_0.Block256((sbyte*)p + b * blockSize, Q8_0.BlockScale(p, n, b), f + b * blockSize);
            }
            if (format == DType.NF4) Nf4.DequantizeReference(p, n, 0, n, s); else Q8_0.DequantizeReference(p, n, 0, n, s);
        }
        for (int i = 0; i < n; i++)
            if (BitConverter.SingleToInt32Bits(fast[i]) != BitConverter.SingleToInt32Bits(slow[i]))
                Assert.Fail($"{format} AVX2 block path: element {i} {fast[i]:G9}, reference {slow[i]:G9}");
    }
}
