using Scalpel.Backends.Cpu;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

/// <summary>
/// GEMM with a block-quantized B (NF4, Q8_0) against its reference twin: the same GEMM (same kernel, blocking and
/// threads) on the dequantized f32 matrix. Dequantizing inside the pack step must give the very same packed floats,
/// so the results are bit for bit equal — any misplaced block, nibble or scale, or a wrong thread offset, shows.
/// </summary>
public class GemmQuantizedTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var path in new[] { GemmPath.Scalar, GemmPath.Avx2, GemmPath.Avx512, GemmPath.Avx512Narrow }.Where(Gemm.IsSupported))
            foreach (var format in new[] { "NF4", "Q8_0" })
                data.Add(path.ToString(), format);
        return data;
    }

    private static readonly int[] Dims = [1, 3, 7, 16, 17, 31, 48, 64, 65, 97, 130];

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void RandomShapesEqualGemmOnTheDequantizedWeight(string pathName, string formatName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var format = Enum.Parse<DType>(formatName);
        int block = format == DType.NF4 ? Nf4.BlockSize : Q8_0.BlockSize;
        var rng = new Random(pathName.Length * 31 + formatName.Length);
        for (int iter = 0; iter < 60; iter++)
        {
            bool transA = rng.Next(2) == 1, transB = rng.Next(2) == 1;
            int m = Dims[rng.Next(Dims.Length)], n, k;
            do { n = Dims[rng.Next(Dims.Length)]; k = Dims[rng.Next(Dims.Length)]; } while (n * k % block != 0);
            var blocking = rng.Next(2) == 0 ? GemmBlocking.Default : new GemmBlocking(Kc: rng.Next(1, 40), Mc: 24 * rng.Next(1, 3), Nc: 48 * rng.Next(1, 3));
            int threads = new[] { 1, 0, 3 }[rng.Next(3)];
            long minFlops = threads == 1 ? Gemm.MinFlopsPerThread : 1;
            float alpha = rng.Next(2) == 0 ? 1f : -0.75f, beta = new[] { 0f, 1f, 0.5f }[rng.Next(3)];

            int lda = transA ? m : k;
            var a = TestData.Uniform(rng, m * k);
            var w = TestData.Normal(rng, n * k, 0.05f);
            var bytes = new byte[format.StorageBytes(w.Length)];
            if (format == DType.NF4) Nf4.Quantize(w, bytes); else Q8_0.Quantize(w, bytes);
            var c0 = TestData.Uniform(rng, m * n);
            if (beta == 0f) Array.Fill(c0, float.NaN); // must not leak
            var got = (float[])c0.Clone();
            var want = (float[])c0.Clone();

            fixed (byte* pb = bytes)
            {
                var q = new QuantizedMatrix(format, pb, transB ? n : k, transB ? k : n);
                var dequantized = q.Dequantize();
                Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, q, beta, got, n, threads, path, blocking, minFlops);
                Gemm.Multiply<float, F32Element>(transA, transB, m, n, k, alpha, a, lda, dequantized, q.Cols, beta, want, n, threads,
                    path, blocking, minFlops);
            }
            for (int i = 0; i < want.Length; i++)
                if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
                    Assert.Fail($"{path} {format} tA={transA} tB={transB} m={m} n={n} k={k} {blocking} threads={threads}: " +
                                $"C[{i / n},{i % n}] = {got[i]:G9}, reference twin {want[i]:G9}");
        }
    }

    /// <summary>
    /// The GEMV path (decoding, m ≤ 16) with a quantized weight against its twin, the same GEMV on the dequantized
    /// weight: bit for bit, for every vector width, row count, odd n (partial quads) and thread split.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void GemvEqualsGemvOnTheDequantizedWeight(string pathName, string formatName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var format = Enum.Parse<DType>(formatName);
        var rng = new Random(pathName.Length * 7 + formatName.Length);
        foreach (int m in new[] { 1, 2, 3, 5, 8, 16 })
        {
            foreach (var (n, k) in new[] { (13, 64), (64, 96), (97, 128), (6, 32) })
            {
                if (n * k % (format == DType.NF4 ? 64 : 32) != 0) continue;
                int threads = rng.Next(1, 4);
                float beta = rng.Next(2) == 0 ? 0f : 0.5f;
                var a = TestData.Uniform(rng, m * k);
                var w = TestData.Normal(rng, n * k, 0.05f);
                var bytes = new byte[format.StorageBytes(w.Length)];
                if (format == DType.NF4) Nf4.Quantize(w, bytes); else Q8_0.Quantize(w, bytes);
                var c0 = TestData.Uniform(rng, m * n);
                var got = (float[])c0.Clone();
                var want = (float[])c0.Clone();
                fixed (byte* pb = bytes)
                {
                    var q = new QuantizedMatrix(format, pb, n, k);
                    Gemv.Multiply(m, n, k, 0.75f, a, k, q, beta, got, n, threads, path, minBytesPerThread: 1);
                    Gemv.Multiply<float, F32Element>(m, n, k, 0.75f, a, k, q.Dequantize(), k, beta, want, n, threads, path, minBytesPerThread: 1);
                }
                for (int i = 0; i < want.Length; i++)
                    if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
                        Assert.Fail($"{path} {format} m={m} n={n} k={k} threads={threads}: C[{i / n},{i % n}] = {got[i]:G9}, twin {want[i]:G9}");
            }
        }
    }

    /// <summary>
    /// Through the backend: a few rows (the decode path, which for quantized weights is the GEMM) and many rows,
    /// y = x·Wᵀ and dx = dy·W, against F32 tensors holding what the quantized ones download as.
    /// </summary>
    [Theory]
    [InlineData("NF4", 1)]
    [InlineData("NF4", 5)]
    [InlineData("NF4", 40)]
    [InlineData("Q8_0", 3)]
    [InlineData("Q8_0", 40)]
    public void BackendMatMulWithQuantizedWeightsMatchesItsDequantizedF32(string formatName, int rows)
    {
        var format = Enum.Parse<DType>(formatName);
        var be = new CpuBackend();
        var rng = new Random(rows);
        const int outDim = 96, inDim = 128;
        using var w = be.Allocate(format, outDim, inDim);
        be.Upload(w, TestData.Normal(rng, outDim * inDim, 0.05f));
        var dequantized = new float[outDim * inDim];
        be.Download(w, dequantized);
        using var wF32 = be.Allocate(DType.F32, outDim, inDim);
        be.Upload(wF32, dequantized);

        using var x = be.Allocate(DType.F32, rows, inDim);
        be.Upload(x, TestData.Uniform(rng, rows * inDim));
        using var y = be.Allocate(DType.F32, rows, outDim);
        using var yRef = be.Allocate(DType.F32, rows, outDim);
        be.MatMul(y, x, false, w, true);
        be.MatMul(yRef, x, false, wF32, true);
        AssertClose.Equal(((CpuTensor)yRef).F32, ((CpuTensor)y).F32, atol: 1e-5f, rtol: 1e-5f, what: "y = x·Wᵀ");

        using var dy = be.Allocate(DType.F32, rows, outDim);
        be.Upload(dy, TestData.Uniform(rng, rows * outDim));
        using var dx = be.Allocate(DType.F32, rows, inDim);
        using var dxRef = be.Allocate(DType.F32, rows, inDim);
        be.MatMul(dx, dy, false, w, false);
        be.MatMul(dxRef, dy, false, wF32, false);
        AssertClose.Equal(((CpuTensor)dxRef).F32, ((CpuTensor)dx).F32, atol: 1e-5f, rtol: 1e-5f, what: "dx = dy·W");
        Assert.Contains(dequantized, v => v != 0f);
    }
}
