using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tests.Backends.Cpu.Attention;
using Xunit;

namespace Scalpel.Tests.Generation;

/// <summary>
/// The decode-time attention kernel against the textbook reference twin (NaiveAttention, double precision): when the
/// cache holds a whole packed batch, query t over rows [max(start, t − window + 1), t] is causal attention.
/// </summary>
public class CachedAttentionTests
{
    public static TheoryData<int[], int, int, int, int> Cases => new()
    {
        { [9], 4, 2, 16, 0 },
        { [1, 7, 33], 4, 4, 8, 0 },
        { [5, 64, 3], 6, 2, 24, 0 },
        { [40, 17], 3, 1, 64, 7 },
        { [130], 2, 1, 13, 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EqualsCausalAttentionOverTheWholeCache(int[] lengths, int qHeads, int kvHeads, int headDim, int window)
    {
        int tokens = lengths.Sum();
        var rng = new Random(tokens * 31 + headDim);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var q = Random(tokens * qHeads * headDim);
        var k = Random(tokens * kvHeads * headDim);
        var v = Random(tokens * kvHeads * headDim);
        var segmentStart = new int[tokens];
        var keyStart = new int[tokens];
        var keyEnd = new int[tokens];
        int offset = 0;
        foreach (int length in lengths)
        {
            for (int i = 0; i < length; i++)
            {
                int t = offset + i;
                segmentStart[t] = offset;
                keyStart[t] = window > 0 ? Math.Max(offset, t - window + 1) : offset;
                keyEnd[t] = t + 1;
            }
            offset += length;
        }
        float scale = 1f / MathF.Sqrt(headDim);
        var expected = NaiveAttention.Run(q, k, v, null, segmentStart, tokens, qHeads, kvHeads, headDim, scale, window).Output;
        var actual = new float[q.Length];
        CachedAttention.Forward(q, k, v, keyStart, keyEnd, qHeads, kvHeads, headDim, scale, actual);
        for (int i = 0; i < actual.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 2e-5f * (1 + Math.Abs(expected[i])), $"output[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void DecodeQueriesReadOnlyTheirOwnSlot()
    {
        // Three slots of 16 rows; each query is the last token of its slot's filled prefix. Rows past the prefix hold
        // garbage (NaN) that must never be read.
        const int slots = 3, maxLength = 16, qHeads = 4, kvHeads = 2, headDim = 8;
        int kvWidth = kvHeads * headDim;
        var rng = new Random(5);
        var k = new float[slots * maxLength * kvWidth];
        var v = new float[k.Length];
        Array.Fill(k, float.NaN);
        Array.Fill(v, float.NaN);
        int[] filled = [5, 16, 1];
        for (int s = 0; s < slots; s++)
            for (int r = 0; r < filled[s] * kvWidth; r++)
            {
                k[s * maxLength * kvWidth + r] = (float)rng.NextDouble() - 0.5f;
                v[s * maxLength * kvWidth + r] = (float)rng.NextDouble() - 0.5f;
            }
        var q = Enumerable.Range(0, slots * qHeads * headDim).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var keyStart = Enumerable.Range(0, slots).Select(s => s * maxLength).ToArray();
        var keyEnd = Enumerable.Range(0, slots).Select(s => s * maxLength + filled[s]).ToArray();
        var output = new float[q.Length];
        CachedAttention.Forward(q, k, v, keyStart, keyEnd, qHeads, kvHeads, headDim, 0.3f, output);

        for (int s = 0; s < slots; s++)
        {
            // The same query as the last token of a lone sequence holding just that slot's rows.
            int n = filled[s];
            var kSlot = k.AsSpan(s * maxLength * kvWidth, n * kvWidth).ToArray();
            var vSlot = v.AsSpan(s * maxLength * kvWidth, n * kvWidth).ToArray();
            var qSeq = new float[n * qHeads * headDim];
            q.AsSpan(s * qHeads * headDim, qHeads * headDim).CopyTo(qSeq.AsSpan((n - 1) * qHeads * headDim));
            var expected = NaiveAttention.Run(qSeq, kSlot, vSlot, null, new int[n], n, qHeads, kvHeads, headDim, 0.3f, 0).Output;
            for (int i = 0; i < qHeads * headDim; i++)
            {
                float e = expected[(n - 1) * qHeads * headDim + i], a = output[s * qHeads * headDim + i];
                Assert.True(Math.Abs(e - a) <= 2e-5f, $"slot {s} value {i}: expected {e}, got {a}");
            }
        }
    }

    [Fact]
    public void RejectsKeyRangesOutsideTheCache()
    {
        var q = new float[8];
        var kv = new float[4 * 8];
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            CachedAttention.Forward(q, kv, kv, [2], [5], 1, 1, 8, 1f, new float[8]));
        Assert.Contains("outside the cache", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CachedAttention.Forward(q, kv, kv, [2], [2], 1, 1, 8, 1f, new float[8]));
    }
}
