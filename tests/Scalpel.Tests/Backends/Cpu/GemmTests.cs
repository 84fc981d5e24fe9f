using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

/// <summary>
/// Property tests of Gemm.Multiply against <see cref="GemmReference"/> on random awkward shapes, for every kernel
/// width this CPU runs, F32 and BF16 B, one thread and many, default and tiny cache blocks.
/// </summary>
public class GemmTests
{
    /// <summary>The micro-kernels this machine can run (an AVX-512 machine runs all of them).</summary>
    public static TheoryData<string> Paths() => new(AvailablePaths().Select(p => p.ToString()));

    private static GemmPath[] AvailablePaths() =>
        new[] { GemmPath.Scalar, GemmPath.Avx2, GemmPath.Avx512, GemmPath.Avx512Narrow }.Where(Gemm.IsSupported).ToArray();

    // Awkward extents: 1, primes, one off the tile sizes (4, 6, 8, 16, 48), and a few past several tiles.
    private static readonly int[] Dims = [1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 47, 48, 49, 53, 64, 97, 101];
    private static readonly float[] Alphas = [1f, 0.75f, -1.5f];
    private static readonly float[] Betas = [0f, 1f, 0.5f, -2f];

    private sealed record Case(bool TransA, bool TransB, int M, int N, int K, int PadA, int PadB, int PadC,
        float Alpha, float Beta, int Threads, GemmBlocking Blocking)
    {
        public int Lda => (TransA ? M : K) + PadA;
        public int Ldb => (TransB ? K : N) + PadB;
        public int Ldc => N + PadC;
        public int ALength => (TransA ? K : M) * Lda;
        public int BLength => (TransB ? N : K) * Ldb;
        public int CLength => M * Ldc;
        public override string ToString() =>
            $"tA={TransA} tB={TransB} m={M} n={N} k={K} lda={Lda} ldb={Ldb} ldc={Ldc} alpha={Alpha} beta={Beta} threads={Threads} {Blocking}";
    }

    private static Case RandomCase(Random rng, GemmPath path)
    {
        (int mr, int nr) = path switch { GemmPath.Avx512 => (8, 48), GemmPath.Avx512Narrow => (24, 16), GemmPath.Avx2 => (6, 16), _ => (4, 4) };
        // Half the cases use tiny blocks so that small matrices still cross every Kc / Nc / Mc boundary.
        GemmBlocking blocking = rng.Next(2) == 0
            ? GemmBlocking.Default
            : new GemmBlocking(Kc: rng.Next(1, 24), Mc: mr * rng.Next(1, 4), Nc: nr * rng.Next(1, 4));
        return new Case(rng.Next(2) == 1, rng.Next(2) == 1,
            Dims[rng.Next(Dims.Length)], Dims[rng.Next(Dims.Length)], Dims[rng.Next(Dims.Length)],
            rng.Next(2) * rng.Next(1, 5), rng.Next(2) * rng.Next(1, 5), rng.Next(2) * rng.Next(1, 5),
            Alphas[rng.Next(Alphas.Length)], Betas[rng.Next(Betas.Length)],
            Threads: new[] { 1, 0, 3 }[rng.Next(3)], blocking);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void RandomShapesMatchReferenceF32(string path) => RandomShapes(Enum.Parse<GemmPath>(path), bf16: false, seed: 1);

    [Theory]
    [MemberData(nameof(Paths))]
    public void RandomShapesMatchReferenceBf16(string path) => RandomShapes(Enum.Parse<GemmPath>(path), bf16: true, seed: 2);

    private static void RandomShapes(GemmPath path, bool bf16, int seed)
    {
        var rng = new Random(seed * 100 + (int)path);
        for (int i = 0; i < 150; i++) Check(RandomCase(rng, path), path, bf16, rng);
    }

    /// <summary>Each cache block limit crossed at its default size, with the other extents kept small.</summary>
    [Theory]
    [InlineData(false, false, 2100, 20, 30)]  // M > Mc = 2048: B is packed twice
    [InlineData(false, true, 20, 700, 30)]    // N > Nc = 336: three B blocks
    [InlineData(true, false, 30, 40, 800)]    // K > Kc = 384: three depth blocks, beta applied once
    [InlineData(true, true, 67, 401, 389)]
    public void CrossesDefaultBlocks(bool transA, bool transB, int m, int n, int k)
    {
        var rng = new Random(m + n + k);
        foreach (GemmPath path in AvailablePaths())
            Check(new Case(transA, transB, m, n, k, 1, 2, 3, 0.75f, 0.5f, 0, GemmBlocking.Default), path, false, rng);
    }

    /// <summary>
    /// Runs one case: fresh random operands, C pre-filled (NaN when beta is 0, which must not leak), padding
    /// between rows of C filled with a sentinel that must survive. Tolerance per element, from the standard
    /// bound on a k-term fp32 dot product evaluated in any order with FMA: |error| ≤ (k + 2)·u·(|alpha|·Σ|a·b| + |beta·c|),
    /// u = 2⁻²⁴, plus one rounding each for alpha and beta. Dropping or doubling any single term breaks it.
    /// </summary>
    private static void Check(Case t, GemmPath path, bool bf16, Random rng)
    {
        float[] a = TestData.Uniform(rng, t.ALength);
        float[] b = TestData.Uniform(rng, t.BLength);
        ushort[] bBits = [];
        if (bf16)
        {
            bBits = b.Select(BFloat16Bits.FromSingle).ToArray();
            b = bBits.Select(BFloat16Bits.ToSingle).ToArray(); // the reference sees the widened values
        }
        float[] c = TestData.Uniform(rng, t.CLength);
        const float Sentinel = 12345.5f;
        for (int i = 0; i < t.M; i++)
        {
            for (int j = 0; j < t.Ldc; j++)
                if (j >= t.N) c[i * t.Ldc + j] = Sentinel;
                else if (t.Beta == 0f) c[i * t.Ldc + j] = float.NaN;
        }
        var (expected, magnitude) = GemmReference.Multiply(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);

        long minFlops = t.Threads == 1 ? Gemm.MinFlopsPerThread : 1; // split even these small products
        if (bf16)
            Gemm.Multiply<ushort, Bf16Element>(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, t.Lda, bBits, t.Ldb, t.Beta, c, t.Ldc,
                t.Threads, path, t.Blocking, minFlops);
        else
            Gemm.Multiply<float, F32Element>(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc,
                t.Threads, path, t.Blocking, minFlops);

        GemmReference.AssertClose(c, expected, magnitude, t.M, t.N, t.K, t.Ldc, Sentinel, $"{path} bf16={bf16} {t}");
    }

    /// <summary>
    /// Every C element is accumulated in the same order whatever the kernel width, thread split or tile position
    /// (all paths fuse multiply-adds the same way), so results are bit-identical: training is reproducible
    /// across thread counts and machines with different vector widths.
    /// </summary>
    [Fact]
    public void BitIdenticalAcrossPathsAndThreads()
    {
        var rng = new Random(7);
        const int M = 77, N = 150, K = 123;
        float[] a = TestData.Uniform(rng, M * K), b = TestData.Uniform(rng, N * K), c0 = TestData.Uniform(rng, M * N);
        float[]? first = null;
        string firstName = "";
        foreach (GemmPath path in AvailablePaths())
        {
            foreach (int threads in new[] { 1, 2, 5 })
            {
                float[] c = (float[])c0.Clone();
                Gemm.Multiply<float, F32Element>(false, true, M, N, K, 0.5f, a, K, b, K, 0.25f, c, N, threads,
                    path, new GemmBlocking(Kc: 50, Mc: 2048, Nc: 336), minFlopsPerThread: 1);
                string name = $"{path} threads={threads}";
                if (first is null) (first, firstName) = (c, name);
                else
                    for (int i = 0; i < c.Length; i++)
                        if (BitConverter.SingleToInt32Bits(c[i]) != BitConverter.SingleToInt32Bits(first[i]))
                            Assert.Fail($"{name} differs from {firstName} at {i}: {c[i]:G9} vs {first[i]:G9}");
            }
        }
    }

    /// <summary>BF16 B gives exactly the F32 result on the widened values: widening in the packer is exact.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bf16EqualsWidenedF32(bool transB)
    {
        var rng = new Random(11);
        const int M = 40, N = 100, K = 70;
        float[] a = TestData.Uniform(rng, M * K);
        ushort[] bits = TestData.Uniform(rng, N * K).Select(BFloat16Bits.FromSingle).ToArray();
        float[] wide = bits.Select(BFloat16Bits.ToSingle).ToArray();
        float[] c16 = new float[M * N], c32 = new float[M * N];
        int ldb = transB ? K : N;
        Gemm.Multiply(false, transB, M, N, K, 1f, a, K, bits, ldb, 0f, c16, N);
        Gemm.Multiply(false, transB, M, N, K, 1f, a, K, wide, ldb, 0f, c32, N);
        Assert.Equal(c32, c16);
    }

    [Fact]
    public void EmptyProductsScaleC()
    {
        float[] c = [1f, 2f, float.NaN, 4f];
        Gemm.Multiply(false, false, 2, 2, 0, 1f, [], 0, new float[0], 2, 0.5f, c, 2);
        Assert.Equal([0.5f, 1f, float.NaN, 2f], c);
        Gemm.Multiply(false, false, 2, 2, 0, 1f, [], 0, new float[0], 2, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c); // beta = 0 overwrites, NaN included
        Gemm.Multiply(false, false, 0, 2, 3, 1f, [], 3, new float[6], 2, 0f, c, 2);
        Assert.Equal([0f, 0f, 0f, 0f], c); // m = 0 touches nothing
    }

    [Fact]
    public void RejectsShortBuffersAndStrides()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a.AsSpan(1), 3, b, 2, 0f, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(true, false, 2, 2, 3, 1f, a, 1, b, 2, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, true, 2, 2, 3, 1f, a, 3, b, 4, 0f, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, b, 2, 0f, c, 2, threads: -1));
    }

    /// <summary>The thread grid never hands a worker less than one tile and uses the workers it is given.</summary>
    [Theory]
    [InlineData(2, 2048, 576, 8, 48)]
    [InlineData(16, 2048, 49152, 8, 48)]
    [InlineData(16, 16, 576, 8, 48)]
    [InlineData(7, 8, 48, 8, 48)]
    public void GridFitsTheProblem(int workers, int m, int n, int mr, int nr)
    {
        (int tm, int tn) = Gemm.Grid(workers, m, n, mr, nr);
        Assert.InRange(tm * tn, 1, workers);
        Assert.InRange(tm, 1, (m + mr - 1) / mr);
        Assert.InRange(tn, 1, (n + nr - 1) / nr);
        if ((long)((m + mr - 1) / mr) * ((n + nr - 1) / nr) >= workers * 4L) Assert.Equal(workers, tm * tn);
    }
}
