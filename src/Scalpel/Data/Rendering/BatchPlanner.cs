using Scalpel.Models;

namespace Scalpel.Data.Rendering;

/// <summary>
/// Groups rendered examples into micro-batches for one epoch: a seeded shuffle (the same seed and epoch always give
/// the same order), then either packing up to a token budget, or a fixed number of examples per micro-batch —
/// length-bucketed when <c>bucketByLength</c>, so a micro-batch holds examples of similar length. The engine is
/// variable-length: each example is its own segment (attention stays inside it, positions restart), so no batch is
/// ever padded and packing never mixes examples.
/// </summary>
public static class BatchPlanner
{
    /// <summary>How many micro-batches' worth of shuffled examples are sorted by length together when bucketing.</summary>
    public const int BucketWindow = 32;

    public static List<int[]> PlanEpoch(IReadOnlyList<RenderedExample> examples, int epoch, int seed, int? batchSize, int? tokensPerBatch,
        bool bucketByLength = false)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        // A fixed mix, not HashCode (randomised per process): a resumed run must see the same order.
        var rng = new Random(unchecked(seed * 1_000_003 + epoch * 7919 + 17));
        rng.Shuffle(order);
        if (bucketByLength && tokensPerBatch is null)
        {
            // Sort windows of the shuffled order by length, cut them into batches, then shuffle the batches.
            int size = batchSize ?? 1;
            var bucketed = new List<int[]>();
            foreach (var window in order.Chunk(size * BucketWindow))
                bucketed.AddRange(window.OrderBy(i => examples[i].Ids.Length).ThenBy(i => i).Chunk(size));
            var shuffled = bucketed.ToArray();
            rng.Shuffle(shuffled);
            return shuffled.ToList();
        }
        var batches = new List<int[]>();
        var current = new List<int>();
        int tokens = 0;
        foreach (int i in order)
        {
            int n = examples[i].Ids.Length;
            bool full = tokensPerBatch is int budget ? current.Count > 0 && tokens + n > budget : current.Count >= (batchSize ?? 1);
            if (full)
            {
                batches.Add(current.ToArray());
                current.Clear();
                tokens = 0;
            }
            current.Add(i);
            tokens += n;
        }
        if (current.Count > 0) batches.Add(current.ToArray());
        return batches;
    }

    public static TokenBatch ToBatch(IReadOnlyList<RenderedExample> examples, int[] indices) =>
        TokenBatch.Pack(indices.Select(i => (examples[i].Ids, examples[i].LossMask)).ToList());
}
