using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Generation;

/// <summary>
/// The KV-cache forward against the no-cache forward (itself checked against PyTorch): every step's logits and every
/// greedy token of a cached run equal those of recomputing the whole sequence, for each architecture variant, with a
/// LoRA adapter applied unmerged, several sequences at once, prefill mixed with decode.
/// </summary>
public class KvCacheTests
{
    public static TheoryData<string> Variants => DecoderModelOracleTests.Variants;

    [Theory]
    [MemberData(nameof(Variants))]
    public void CachedGreedyDecodingEqualsFullRecompute(string variant)
    {
        var spec = DecoderModelOracleTests.Variant(variant);
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 11);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        model.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.2f, TargetModules = ["all-linear"] }, seed: 3);
        DecoderOracle.RandomizeLoraB(model, 4);

        var rng = new Random(variant.Length);
        int[][] prompts = [Prompt(rng, spec.VocabSize, 7), Prompt(rng, spec.VocabSize, 3), Prompt(rng, spec.VocabSize, 12)];
        var sequences = prompts.Select(p => p.ToList()).ToArray();
        using var cache = model.CreateKvCache(sequences: 3, maxLength: 40);
        int vocab = spec.VocabSize;

        // Step 0 prefills sequences 0 and 1 together (every sequence fresh: the flash path); sequence 2 joins at step 3
        // with its whole prompt while the others decode (the cache path for a prefill).
        var logits = new float[3 * vocab];
        for (int step = 0; step < 16; step++)
        {
            var appends = new List<CacheAppend>();
            for (int s = 0; s < 3; s++)
            {
                if (s == 2 && step < 3) continue;
                bool fresh = cache.Length(s) == 0;
                appends.Add(new CacheAppend(s, fresh ? sequences[s].ToArray() : [sequences[s][^1]]));
            }
            model.ForwardCached(cache, appends, logits.AsSpan(0, appends.Count * vocab));
            for (int i = 0; i < appends.Count; i++)
            {
                int s = appends[i].Sequence;
                var cached = logits.AsSpan(i * vocab, vocab);
                var ids = sequences[s].ToArray();
                var full = model.Logits(Batch(ids), [ids.Length - 1]);
                for (int j = 0; j < vocab; j++)
                    Assert.True(Math.Abs(full[j] - cached[j]) <= 1e-4f * (1 + Math.Abs(full[j])),
                        $"{variant} step {step} sequence {s} logit {j}: full {full[j]}, cached {cached[j]}");
                int greedy = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(cached);
                Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(full), greedy);
                sequences[s].Add(greedy);
            }
        }
        Assert.Equal(sequences[0].Count - 1, cache.Length(0));
    }

    [Fact]
    public void TruncateRewindsASequence()
    {
        var spec = TinyCheckpoint.Llama();
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 2);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        using var cache = model.CreateKvCache(1, 32);
        var first = new float[spec.VocabSize];
        model.ForwardCached(cache, [new CacheAppend(0, [5, 6, 7, 8])], first);
        var other = new float[spec.VocabSize];
        model.ForwardCached(cache, [new CacheAppend(0, [9, 10])], other);
        // Back to three tokens, then the fourth again: the same logits as the first run.
        cache.Truncate(0, 3);
        var again = new float[spec.VocabSize];
        model.ForwardCached(cache, [new CacheAppend(0, [8])], again);
        for (int j = 0; j < first.Length; j++) Assert.Equal(first[j], again[j], 1e-5f);
    }

    [Fact]
    public void LimitsAreCheckedBeforeAllocating()
    {
        var spec = TinyCheckpoint.Llama();
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 2);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateKvCache(1, spec.MaxPositions + 1));
        Assert.Contains("max_position_embeddings", tooLong.Message);
        var tooBig = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateKvCache(64, 256, maxBytes: 1 << 20));
        Assert.Contains("MiB", tooBig.Message);
        using var cache = model.CreateKvCache(1, 4);
        var full = Assert.Throws<InvalidOperationException>(() =>
            model.ForwardCached(cache, [new CacheAppend(0, [1, 2, 3, 4, 5])], new float[spec.VocabSize]));
        Assert.Contains("exceed the cache", full.Message);
    }

    private static int[] Prompt(Random rng, int vocab, int length) => Enumerable.Range(0, length).Select(_ => rng.Next(3, vocab)).ToArray();

    private static TokenBatch Batch(int[] ids) =>
        new(ids, Enumerable.Range(0, ids.Length).ToArray(), new int[ids.Length], Enumerable.Repeat(TokenBatch.IgnoreIndex, ids.Length).ToArray());
}
