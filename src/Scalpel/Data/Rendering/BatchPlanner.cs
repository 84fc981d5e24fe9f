using Scalpel.Models;

namespace Scalpel.Data.Rendering;

/// <summary>
/// Groups rendered examples into micro-batches for one epoch: a seeded shuffle (the same seed and epoch always give
/// the same order), then either a fixed number of examples per micro-batch or packing up to a token budget. The
/// engine attends within each example only and restarts positions per example, so packing never mixes examples.
/// </summary>
public static class BatchPlanner
{
    public static List<int[]> PlanEpoch(IReadOnlyList<RenderedExample> examples, int epoch, int seed, int? batchSize, int? tokensPerBatch)
    {
        var order = Enumerable.Range(0, examples.Count).ToArray();
        // A fixed mix, not HashCode (randomised per process): a resumed run must see the same order.
        new Random(unchecked(seed * 1_000_003 + epoch * 7919 + 17)).Shuffle(order);
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
