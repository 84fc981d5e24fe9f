using System.Numerics.Tensors;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// Attention of new query tokens over a KV cache, for generation: query t attends to the cache rows
/// [keyStart[t], keyEnd[t]) — its own sequence's cached keys up to and including itself (the caller has already
/// written the new tokens' K and V into the cache), clipped to the sliding window by the caller.
/// q, output: [tokens, qHeads·headDim]; kCache, vCache: [cacheRows, kvHeads·headDim]; q head h reads kv head
/// h / (qHeads / kvHeads). Forward only: generation never needs gradients.
/// </summary>
/// <remarks>
/// One work item per (query token, kv head): the q heads of a GQA group share every K and V row they read, which is
/// what decoding is bound by. Scores are kept whole per item (two-pass softmax in fp32): a decode step has one
/// query row per sequence, so the flash tiling of <see cref="CausalAttention"/> buys nothing here, while a scratch
/// row of keys × group floats per item is small (a 4k-token cache and 8 heads per group: 128 KiB).
/// Results do not depend on the core count: every item is computed the same way by whichever thread runs it.
/// </remarks>
public static class CachedAttention
{
    [ThreadStatic] private static float[]? t_scores;

    public static unsafe void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache,
        ReadOnlySpan<int> keyStart, ReadOnlySpan<int> keyEnd, int qHeads, int kvHeads, int headDim, float scale, Span<float> output)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        if (qHeads % kvHeads != 0) throw new ArgumentException($"qHeads ({qHeads}) must be a multiple of kvHeads ({kvHeads})", nameof(kvHeads));
        int tokens = keyStart.Length;
        if (keyEnd.Length != tokens) throw new ArgumentException("keyStart and keyEnd need one entry per query token");
        int qWidth = qHeads * headDim, kvWidth = kvHeads * headDim;
        if (q.Length != (long)tokens * qWidth) throw new ArgumentException($"q has {q.Length} values, expected {tokens}×{qWidth}", nameof(q));
        if (output.Length != q.Length) throw new ArgumentException($"output has {output.Length} values, expected {q.Length}", nameof(output));
        if (kCache.Length != vCache.Length || kCache.Length % kvWidth != 0)
            throw new ArgumentException($"kCache/vCache must both be [rows, {kvWidth}]", nameof(kCache));
        int cacheRows = kCache.Length / kvWidth;
        for (int t = 0; t < tokens; t++)
        {
            if (keyStart[t] < 0 || keyEnd[t] > cacheRows || keyStart[t] >= keyEnd[t])
                throw new ArgumentOutOfRangeException(nameof(keyStart),
                    $"query {t}: key rows [{keyStart[t]}, {keyEnd[t]}) are empty or outside the cache's {cacheRows} rows");
        }
        if (tokens == 0) return;

        int group = qHeads / kvHeads, items = tokens * kvHeads;
        var starts = keyStart.ToArray();
        var ends = keyEnd.ToArray();
        fixed (float* pq = q, pk = kCache, pv = vCache, po = output)
        {
            var (qp, kp, vp, op) = ((nint)pq, (nint)pk, (nint)pv, (nint)po);
            int workers = Math.Min(Environment.ProcessorCount, items);
            long totalKeys = 0;
            for (int t = 0; t < tokens; t++) totalKeys += ends[t] - starts[t];
            // Below ~32k key·head products a second thread costs more than it saves.
            if (totalKeys * kvHeads * headDim < 32_768) workers = 1;
            GemmParallel.Run(workers, w =>
            {
                for (int item = w; item < items; item += workers)
                {
                    int t = item / kvHeads, kvHead = item % kvHeads;
                    Item((float*)qp + (long)t * qWidth, (float*)kp, (float*)vp, (float*)op + (long)t * qWidth,
                        starts[t], ends[t], kvHead, group, headDim, kvWidth, scale);
                }
            });
        }
    }

    private static unsafe void Item(float* q, float* k, float* v, float* output, int start, int end, int kvHead, int group,
        int headDim, int kvWidth, float scale)
    {
        int keys = end - start;
        int needed = keys * group;
        var scores = t_scores is { } s && s.Length >= needed ? s : t_scores = new float[Math.Max(needed, 1024)];
        for (int g = 0; g < group; g++)
        {
            int head = kvHead * group + g;
            var qRow = new ReadOnlySpan<float>(q + (long)head * headDim, headDim);
            var row = scores.AsSpan(g * keys, keys);
            for (int j = 0; j < keys; j++)
                row[j] = TensorPrimitives.Dot(qRow, new ReadOnlySpan<float>(k + (long)(start + j) * kvWidth + kvHead * headDim, headDim)) * scale;
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            TensorPrimitives.Exp(row, row);
            float inverse = 1f / TensorPrimitives.Sum(row);
            var outRow = new Span<float>(output + (long)head * headDim, headDim);
            outRow.Clear();
            for (int j = 0; j < keys; j++)
            {
                var vRow = new ReadOnlySpan<float>(v + (long)(start + j) * kvWidth + kvHead * headDim, headDim);
                TensorPrimitives.MultiplyAdd(vRow, row[j] * inverse, outRow, outRow);
            }
        }
    }
}
