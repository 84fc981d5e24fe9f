using System.Runtime.InteropServices;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class EmbeddingTests
{
    // Backward adds each token's row in F32, in token order; the reference sums in double and rounds once. With ≤ ~15
    // repeats of an id and |values| ≲ 5, the F32 running sums drift by at most a few ulp of ~20: 1e-5 absolute.
    private const float BackwardAtol = 1e-5f, BackwardRtol = 1e-6f;

    // dims 1…576 hit the 32/16-wide BF16 widening, the 8-wide path and the scalar tail; 300 tokens × 576 is ≥ 64K
    // elements and takes the parallel (vocabulary-split) backward.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 5, 7 }, { 3, 40, 50 }, { 17, 40, 50 }, { 63, 40, 50 }, { 65, 40, 50 }, { 127, 40, 50 }, { 576, 40, 50 }, { 576, 300, 37 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void MatchesReference(int dim, int tokens, int vocab)
    {
        var rng = new Random(dim * 17 + tokens);
        int[] ids = RandomIds(rng, tokens, vocab);
        float[] table = TestData.Normal(rng, vocab * dim);
        ushort[] tableBf16 = Bf16Table(rng, vocab * dim);

        // Forward is a copy (F32) or an exact widening (BF16): bit-for-bit equal, NaN payloads and −0 included.
        var output = new float[tokens * dim];
        Embedding.Forward(ids, table, dim, output);
        AssertBitwiseEqual(EmbeddingReference.Forward(ids, table, dim), output, "F32 forward");
        Embedding.Forward(ids, tableBf16, dim, output);
        AssertBitwiseEqual(EmbeddingReference.Forward(ids, tableBf16, dim), output, "BF16 forward");

        float[] dOutput = TestData.Normal(rng, tokens * dim), dTableStart = TestData.Uniform(rng, vocab * dim);
        float[] dTable = (float[])dTableStart.Clone(), dTableRef = (float[])dTableStart.Clone();
        Embedding.Backward(ids, dOutput, dim, dTable);
        EmbeddingReference.Backward(ids, dOutput, dim, dTableRef);
        AssertClose.Equal(dTableRef, dTable, BackwardAtol, BackwardRtol, "backward");
    }

    [Fact]
    public void MatchesPyTorch()
    {
        (int Dim, int Tokens, int Vocab, bool Bf16)[] cases = [(17, 33, 20, false), (65, 50, 30, true), (576, 120, 64, false), (576, 130, 40, true)];
        var rng = new Random(3);
        var inputs = new Dictionary<string, OracleTensor>();
        var data = new List<(int[] Ids, float[] Table, ushort[] Bits, float[] DOut)>();
        for (int i = 0; i < cases.Length; i++)
        {
            var (dim, tokens, vocab, bf16) = cases[i];
            int[] ids = RandomIds(rng, tokens, vocab);
            float[] table = TestData.Normal(rng, vocab * dim), dOut = TestData.Normal(rng, tokens * dim);
            ushort[] bits = Bf16Table(rng, vocab * dim);
            data.Add((ids, table, bits, dOut));
            inputs[$"ids{i}"] = new(ids, tokens);
            inputs[$"dout{i}"] = new(dOut, tokens, dim);
            if (bf16) inputs[$"bits{i}"] = new(bits.Select(b => (int)b).ToArray(), vocab, dim);
            else inputs[$"table{i}"] = new(table, vocab, dim);
        }
        var expected = TorchOracle.Run("kernels_embedding.py", inputs, new { cases = cases.Select(c => new { bf16 = c.Bf16 }).ToArray() });

        for (int i = 0; i < cases.Length; i++)
        {
            var (dim, tokens, vocab, bf16) = cases[i];
            var (ids, table, bits, dOut) = data[i];
            var output = new float[tokens * dim];
            if (bf16) Embedding.Forward(ids, bits, dim, output);
            else Embedding.Forward(ids, table, dim, output);
            AssertBitwiseEqual(expected[$"out{i}"].Floats, output, $"case {i} forward");

            var dTable = new float[vocab * dim];
            Embedding.Backward(ids, dOut, dim, dTable);
            AssertClose.Equal(expected[$"dtable{i}"].Floats, dTable, BackwardAtol, BackwardRtol, $"case {i} dTable");
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(10)]
    [InlineData(int.MinValue)]
    public void BadIdThrowsBeforeWriting(int badId)
    {
        const int dim = 4, vocab = 10;
        float[] table = TestData.Normal(new Random(8), vocab * dim);
        ushort[] tableBf16 = new ushort[vocab * dim];
        int[] ids = [1, 9, 0, badId]; // the bad one last: nothing may have been written before the check
        var output = new float[ids.Length * dim];
        Array.Fill(output, 7f);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward(ids, table, dim, output));
        Assert.Contains(badId.ToString(), e.Message);
        Assert.Contains("vocabulary of size 10", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward(ids, tableBf16, dim, output));
        Assert.All(output, v => Assert.Equal(7f, v));

        var dTable = new float[vocab * dim];
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Backward(ids, new float[ids.Length * dim], dim, dTable));
        Assert.All(dTable, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => Embedding.Forward([0, 1], new float[12], 4, new float[7]));     // output short
        Assert.Throws<ArgumentException>(() => Embedding.Forward([0], new float[10], 4, new float[4]));        // table not [vocab, dim]
        Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Forward([0], new float[4], 0, new float[4]));
        Assert.Throws<ArgumentException>(() => Embedding.Backward([0, 1], new float[7], 4, new float[12]));   // dOutput short
    }

    // Mostly repeated ids (a few hot tokens, like real text) plus the first and last vocabulary rows.
    private static int[] RandomIds(Random rng, int tokens, int vocab)
    {
        var ids = new int[tokens];
        for (int t = 0; t < tokens; t++) ids[t] = rng.Next(3) == 0 ? rng.Next(Math.Min(vocab, 4)) : rng.Next(vocab);
        ids[0] = vocab - 1;
        if (tokens > 1) ids[^1] = 0;
        return ids;
    }

    // BF16 bits of N(0, 1) values plus edge patterns: ±0, ±∞, a NaN, the largest finite value and a subnormal.
    private static ushort[] Bf16Table(Random rng, int count)
    {
        var bits = TestData.Normal(rng, count).Select(BFloat16Bits.FromSingle).ToArray();
        ushort[] edges = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x7F7F, 0x0001, 0x8080];
        for (int k = 0; k < edges.Length && k < count; k++) bits[rng.Next(count)] = edges[k];
        return bits;
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var e = MemoryMarshal.Cast<float, uint>(expected);
        var a = MemoryMarshal.Cast<float, uint>(actual);
        for (int i = 0; i < e.Length; i++)
            if (e[i] != a[i]) Assert.Fail($"{what}: element {i} expected bits 0x{e[i]:X8} got 0x{a[i]:X8}");
    }
}
