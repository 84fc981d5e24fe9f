using Scalpel.Backends.Cpu;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

/// <summary>
/// Gemv.Multiply (C = alpha·A·Bᵀ + beta·C for a few rows of A) against <see cref="GemmReference"/> on the decode
/// shapes and awkward ones, for every vector width this CPU runs, F32 and BF16 weights, one thread and many.
/// </summary>
public class GemvTests
{
    public static TheoryData<string> Paths() => new(AvailablePaths().Select(p => p.ToString()));

    private static GemmPath[] AvailablePaths() =>
        new[] { GemmPath.Scalar, GemmPath.Avx2, GemmPath.Avx512 }.Where(Gemm.IsSupported).ToArray();

    // k: a single element, under one vector, whole vectors, the model's hidden size, and a ragged tail (1000 = 62·16 + 8).
    private static readonly int[] Ks = [1, 7, 64, 576, 1000];
    // n: one weight row, partial quads (3, 5), the hidden size, and 1537 = 384 quads + 1.
    private static readonly int[] Ns = [1, 3, 5, 576, 1537];

    private sealed record Case(int M, int N, int K, int PadA, int PadB, int PadC, float Alpha, float Beta, int Threads)
    {
        public int Lda => K + PadA;
        public int Ldb => K + PadB;
        public int Ldc => N + PadC;
        public override string ToString() =>
            $"m={M} n={N} k={K} lda={Lda} ldb={Ldb} ldc={Ldc} alpha={Alpha} beta={Beta} threads={Threads}";
    }

    /// <summary>Every m from 1 to 16 (all row groups of every width, with every remainder) against every k, n at random.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryRowCountMatchesReferenceF32(string path) => EveryRowCount(Enum.Parse<GemmPath>(path), bf16: false, seed: 1);

    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryRowCountMatchesReferenceBf16(string path) => EveryRowCount(Enum.Parse<GemmPath>(path), bf16: true, seed: 2);

    private static void EveryRowCount(GemmPath path, bool bf16, int seed)
    {
        var rng = new Random(seed * 100 + (int)path);
        for (int m = 1; m <= 16; m++)
        {
            foreach (int k in Ks)
            {
                int n = Ns[rng.Next(Ns.Length)];
                var t = new Case(m, n, k, rng.Next(2) * rng.Next(1, 5), rng.Next(2) * rng.Next(1, 5), rng.Next(2) * rng.Next(1, 5),
                    Alpha: new[] { 1f, 0.75f, -1.5f }[rng.Next(3)], Beta: new[] { 0f, 1f, 0f, -0.5f }[rng.Next(4)],
                    Threads: new[] { 1, 0, 3 }[rng.Next(3)]);
                Check(t, path, bf16, rng);
            }
        }
    }

    /// <summary>Every n against every k at a single row and at a full AVX-512 group plus one (m = 5), alpha ≠ 1, beta 0 and 1.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryWidthMatchesReference(string path)
    {
        var p = Enum.Parse<GemmPath>(path);
        var rng = new Random(3 + (int)p);
        foreach (bool bf16 in new[] { false, true })
            foreach (int m in new[] { 1, 5 })
                foreach (int n in Ns)
                    foreach (int k in Ks)
                        foreach (float beta in new[] { 0f, 1f })
                            Check(new Case(m, n, k, 1, 3, 2, Alpha: -0.75f, beta, Threads: 0), p, bf16, rng);
    }

    /// <summary>
    /// One case: fresh random operands, C pre-filled (NaN when beta is 0, which must not leak), the padding between
    /// rows of C filled with a sentinel that must survive. Tolerance as in GemmTests: (k + 4)·2⁻²⁴ · (|alpha|·Σ|a·b| + |beta·c|).
    /// </summary>
    private static void Check(Case t, GemmPath path, bool bf16, Random rng)
    {
        float[] a = TestData.Uniform(rng, t.M * t.Lda);
        float[] b = TestData.Uniform(rng, t.N * t.Ldb);
        ushort[] bBits = [];
        if (bf16)
        {
            bBits = b.Select(BFloat16Bits.FromSingle).ToArray();
            b = bBits.Select(BFloat16Bits.ToSingle).ToArray(); // the reference sees the widened values
        }
        float[] c = TestData.Uniform(rng, t.M * t.Ldc);
        const float Sentinel = 12345.5f;
        for (int i = 0; i < t.M; i++)
        {
            for (int j = 0; j < t.Ldc; j++)
                if (j >= t.N) c[i * t.Ldc + j] = Sentinel;
                else if (t.Beta == 0f) c[i * t.Ldc + j] = float.NaN;
        }
        var (expected, magnitude) = GemmReference.Multiply(false, true, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);

        long minBytes = t.Threads == 1 ? Gemv.MinBytesPerThread : 1; // split even these small products
        if (bf16)
            Gemv.Multiply<ushort, Bf16Element>(t.M, t.N, t.K, t.Alpha, a, t.Lda, bBits, t.Ldb, t.Beta, c, t.Ldc, t.Threads, path, minBytes);
        else
            Gemv.Multiply<float, F32Element>(t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc, t.Threads, path, minBytes);

        GemmReference.AssertClose(c, expected, magnitude, t.M, t.N, t.K, t.Ldc, Sentinel, $"{path} bf16={bf16} {t}");
    }

    /// <summary>Thread splits do not change a result: each C element is one thread's dot product, in the same order.</summary>
    [Fact]
    public void BitIdenticalAcrossThreads()
    {
        var rng = new Random(7);
        const int M = 6, N = 1537, K = 1000;
        float[] a = TestData.Uniform(rng, M * K), b = TestData.Uniform(rng, N * K), c0 = TestData.Uniform(rng, M * N);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 5, 16 })
        {
            float[] c = (float[])c0.Clone();
            Gemv.Multiply<float, F32Element>(M, N, K, 0.5f, a, K, b, K, 0.25f, c, N, threads, GemmPath.Auto, minBytesPerThread: 1);
            if (first is null) first = c;
            else Assert.Equal(first, c);
        }
    }

    [Fact]
    public void EmptyProductsScaleC()
    {
        float[] c = [1f, 2f, float.NaN, 4f];
        Gemv.Multiply(2, 2, 0, 1f, [], 0, new float[0], 0, 0.5f, c, 2);
        Assert.Equal([0.5f, 1f, float.NaN, 2f], c);
        Gemv.Multiply(2, 2, 0, 1f, [], 0, new float[0], 0, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c); // beta = 0 overwrites, NaN included
        Gemv.Multiply(0, 2, 3, 1f, [], 3, new float[6], 3, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c); // m = 0 touches nothing
    }

    [Fact]
    public void RejectsShortBuffersAndStrides()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        Assert.Throws<ArgumentException>(() => Gemv.Multiply(2, 2, 3, 1f, a.AsSpan(1), 3, b, 3, 0f, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemv.Multiply(2, 2, 3, 1f, a, 2, b, 3, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemv.Multiply(2, 2, 3, 1f, a, 3, b, 4, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemv.Multiply(2, 2, 3, 1f, a, 3, b, 3, 0f, c.AsSpan(1), 2));
    }

    /// <summary>The backend sends few-row products with a transposed weight here, F32 and BF16, and gets the GEMM's answer within rounding.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void BackendMatMulAgreesWithGemm(DType weightType)
    {
        var rng = new Random(5);
        const int N = 37, K = 70;
        var be = new CpuBackend();
        float[] w = TestData.Uniform(rng, N * K);
        using var weight = be.Allocate(weightType, N, K);
        be.Upload(weight, w);
        if (weightType == DType.BF16) w = w.Select(x => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(x))).ToArray();
        foreach (int m in new[] { 1, Gemv.MaxRows, Gemv.MaxRows + 1 })
        {
            float[] x = TestData.Uniform(rng, m * K), want = new float[m * N], got = new float[m * N];
            using var a = be.Allocate(DType.F32, m, K);
            using var c = be.Allocate(DType.F32, m, N);
            be.Upload(a, x);
            be.MatMul(c, a, false, weight, true, alpha: 0.5f);
            be.Download(c, got);
            Gemm.Multiply(false, true, m, N, K, 0.5f, x, K, w, K, 0f, want, N);
            for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 1e-4f);
        }
    }
}
