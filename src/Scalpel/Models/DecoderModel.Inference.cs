using Scalpel.Tensors;

namespace Scalpel.Models;

public sealed partial class DecoderModel
{
    /// <summary>
    /// A cache for <paramref name="sequences"/> sequences of up to <paramref name="maxLength"/> tokens each. The length
    /// is checked against the model's positions and the size against <paramref name="maxBytes"/> before any memory is taken.
    /// </summary>
    public KvCache CreateKvCache(int sequences, int maxLength, long maxBytes = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequences);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        if (maxLength > Spec.MaxPositions)
            throw new ArgumentOutOfRangeException(nameof(maxLength),
                $"a cache of {maxLength} tokens per sequence exceeds the model's {Spec.MaxPositions} positions (max_position_embeddings)");
        long bytes = KvCache.BytesFor(Spec, sequences, maxLength);
        if (bytes > maxBytes)
            throw new ArgumentOutOfRangeException(nameof(maxLength),
                $"a KV cache for {sequences} × {maxLength} tokens needs {bytes / (1 << 20)} MiB, over the limit of {maxBytes / (1 << 20)} MiB");
        if ((long)sequences * maxLength * Spec.NumKvHeads * Spec.HeadDim > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(maxLength), $"a KV cache for {sequences} × {maxLength} tokens is too large for one tensor per layer");
        return new KvCache(Backend, Spec, sequences, maxLength);
    }

    /// <summary>
    /// Runs the new tokens of several cached sequences in one batch (a whole prompt for a prefill, one token per
    /// sequence for a decode step, or any mix), stores their keys and values in the cache, and writes the logits of
    /// each append's last token to <paramref name="logits"/> ([appends.Count, vocab]). LoRA adapters apply unmerged,
    /// without dropout. A sequence may appear once per call. With <paramref name="adapters"/> (one entry per append, null
    /// for the bare base) each sequence gets its own detached adapter, so one batch can mix adapters.
    /// </summary>
    public void ForwardCached(KvCache cache, IReadOnlyList<CacheAppend> appends, Span<float> logits,
        IReadOnlyList<AdapterWeights?>? adapters = null)
    {
        var s = Spec;
        var be = Backend;
        int vocab = s.VocabSize;
        if (logits.Length != (long)appends.Count * vocab)
            throw new ArgumentException($"logits has {logits.Length} values, expected {appends.Count} × {vocab}", nameof(logits));
        int tokens = 0;
        var seen = new HashSet<int>();
        foreach (var a in appends)
        {
            if ((uint)a.Sequence >= (uint)cache.Sequences) throw new ArgumentOutOfRangeException(nameof(appends), $"no sequence {a.Sequence} in a cache of {cache.Sequences}");
            if (!seen.Add(a.Sequence)) throw new ArgumentException($"sequence {a.Sequence} appears twice in one call", nameof(appends));
            if (a.Tokens.Length == 0) throw new ArgumentException($"sequence {a.Sequence}: nothing to append", nameof(appends));
            if (cache.Length(a.Sequence) + a.Tokens.Length > cache.MaxLength)
                throw new InvalidOperationException(
                    $"sequence {a.Sequence}: {cache.Length(a.Sequence)} cached + {a.Tokens.Length} new tokens exceed the cache's {cache.MaxLength}");
            tokens += a.Tokens.Length;
        }
        if (appends.Count == 0) return;
        if (adapters is not null && adapters.Count != appends.Count)
            throw new ArgumentException($"{adapters.Count} adapters for {appends.Count} appends", nameof(adapters));
        if (adapters is not null && Lora is not null && adapters.Any(a => a is not null))
            throw new InvalidOperationException("a model with an applied LoRA adapter cannot also take per-sequence adapters");

        // Per-token metadata: id, position, cache row, visible key rows; and the last row of each append.
        var ids = new int[tokens];
        var positions = new int[tokens];
        var cacheRows = new int[tokens];
        var keyStart = new int[tokens];
        var keyEnd = new int[tokens];
        var segmentStart = new int[tokens];
        var lastRows = new int[appends.Count];
        bool allFresh = true;
        var runs = new List<AdapterRun>();
        int t = 0;
        for (int i = 0; i < appends.Count; i++)
        {
            var a = appends[i];
            int past = cache.Length(a.Sequence), slotBase = a.Sequence * cache.MaxLength;
            allFresh &= past == 0;
            int first = t;
            foreach (int id in a.Tokens)
            {
                if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(appends), $"token id {id} is outside the vocabulary of {vocab}");
                int pos = past + (t - first);
                ids[t] = id;
                positions[t] = pos;
                cacheRows[t] = slotBase + pos;
                keyEnd[t] = slotBase + pos + 1;
                keyStart[t] = s.SlidingWindow > 0 ? Math.Max(slotBase, slotBase + pos - s.SlidingWindow + 1) : slotBase;
                segmentStart[t] = first;
                t++;
            }
            lastRows[i] = t - 1;
            if (adapters?[i] is { } adapter)
            {
                if (runs.Count > 0 && runs[^1].Adapter == adapter && runs[^1].Start + runs[^1].Count == first)
                    runs[^1] = runs[^1] with { Count = runs[^1].Count + (t - first) };
                else runs.Add(new AdapterRun(first, t - first, adapter));
            }
        }

        _forwardCount++;
        _training = false;
        RefreshDora(onlyIfChanged: true);
        int d = s.HiddenSize;
        var x = _ws.Rows("inf.x", tokens, d);
        be.EmbeddingForward(ids, Embed.Value, x);
        if (s.EmbeddingScale != 1f) be.Scale(x, s.EmbeddingScale);
        for (int l = 0; l < Blocks.Length; l++)
            BlockInference(l, x, cache, positions, cacheRows, keyStart, keyEnd, allFresh ? segmentStart : null, runs);

        var last = _ws.Rows("inf.last", appends.Count, d);
        be.GatherRows(last, x, lastRows);
        var normed = _ws.Rows("inf.lastnorm", appends.Count, d);
        be.RmsNormForward(last, FinalNorm.Value, s.NormWeightOffset, (float)s.RmsNormEps, normed, _ws.Rows("inf.lastrstd", appends.Count, 1));
        var output = _ws.Rows("inf.logits", appends.Count, vocab);
        be.MatMul(output, normed, false, LmHead.Value, true);
        be.Download(output, logits);
        foreach (var a in appends) cache.Advance(a.Sequence, a.Tokens.Length);
    }

    /// <summary>
    /// One block over new tokens, residual <paramref name="x"/> updated in place. With <paramref name="freshSegments"/>
    /// (every sequence starts empty) attention runs over the batch itself with the flash kernel; otherwise over the cache.
    /// </summary>
    private void BlockInference(int layer, Tensor x, KvCache cache, int[] positions, int[] cacheRows, int[] keyStart, int[] keyEnd,
        int[]? freshSegments, List<AdapterRun> runs)
    {
        void InferenceLinear(int index, Tensor input, Tensor output) => RunLinear(layer, index, input, output, runs);

        var be = Backend;
        var s = Spec;
        var b = Blocks[layer];
        int tokens = x.Rows, d = s.HiddenSize, qDim = s.NumHeads * s.HeadDim, kvDim = s.NumKvHeads * s.HeadDim, inter = s.IntermediateSize;
        float eps = (float)s.RmsNormEps;
        var h = _ws.Rows("inf.h", tokens, d);
        var rstd = _ws.Rows("inf.rstd", tokens, 1);
        var q = _ws.Rows("inf.q", tokens, qDim);
        var k = _ws.Rows("inf.k", tokens, kvDim);
        var v = _ws.Rows("inf.v", tokens, kvDim);

        be.RmsNormForward(x, b.InputNorm.Value, s.NormWeightOffset, eps, h, rstd);
        if (s.QkNorm)
        {
            var qPre = _ws.Rows("inf.qpre", tokens, qDim);
            var kPre = _ws.Rows("inf.kpre", tokens, kvDim);
            InferenceLinear(0, h, qPre);
            InferenceLinear(1, h, kPre);
            be.RmsNormForward(HeadRows(qPre, s.NumHeads), b.QNorm!.Value, s.NormWeightOffset, eps, HeadRows(q, s.NumHeads),
                _ws.Rows("inf.rstdq", tokens * s.NumHeads, 1));
            be.RmsNormForward(HeadRows(kPre, s.NumKvHeads), b.KNorm!.Value, s.NormWeightOffset, eps, HeadRows(k, s.NumKvHeads),
                _ws.Rows("inf.rstdk", tokens * s.NumKvHeads, 1));
        }
        else
        {
            InferenceLinear(0, h, q);
            InferenceLinear(1, h, k);
        }
        InferenceLinear(2, h, v);
        be.RopeForward(q, s.NumHeads, s.HeadDim, positions, _rope);
        be.RopeForward(k, s.NumKvHeads, s.HeadDim, positions, _rope);
        be.ScatterRows(cache.Keys[layer], k, cacheRows);
        be.ScatterRows(cache.Values[layer], v, cacheRows);

        var attn = _ws.Rows("inf.attn", tokens, qDim);
        if (freshSegments is not null)
            be.AttentionForward(q, k, v, freshSegments, s.NumHeads, s.NumKvHeads, s.HeadDim, AttentionScale, s.SlidingWindow, attn,
                _ws.Rows("inf.lse", tokens * s.NumHeads, 1));
        else
            be.CachedAttentionForward(q, cache.Keys[layer], cache.Values[layer], keyStart, keyEnd, s.NumHeads, s.NumKvHeads, s.HeadDim,
                AttentionScale, attn);

        var branch = _ws.Rows("inf.branch", tokens, d);
        InferenceLinear(3, attn, branch);
        be.AddScaled(x, branch);                                                   // x_mid = x + o_proj(attn)
        be.RmsNormForward(x, b.PostNorm.Value, s.NormWeightOffset, eps, h, rstd);
        var gate = _ws.Rows("inf.gate", tokens, inter);
        var up = _ws.Rows("inf.up", tokens, inter);
        var act = _ws.Rows("inf.act", tokens, inter);
        InferenceLinear(4, h, gate);
        InferenceLinear(5, h, up);
        be.GatedActivationForward(s.Activation, gate, up, act);
        InferenceLinear(6, act, branch);
        be.AddScaled(x, branch);                                                   // out = x_mid + down(act)
    }

    /// <summary>Rows [Start, Start + Count) of a batch that use one detached adapter.</summary>
    private readonly record struct AdapterRun(int Start, int Count, AdapterWeights Adapter);

    /// <summary>A linear of block <paramref name="layer"/> over new tokens: the base (with the model's own LoRA, if any), then each run's adapter on its rows.</summary>
    private void RunLinear(int layer, int index, Tensor input, Tensor output, List<AdapterRun> runs)
    {
        var linear = Blocks[layer].Linears[index];
        var loraHidden = linear.Lora is { } lora ? _ws.Rows("inf.lora", input.Rows, lora.Rank) : null;
        linear.Forward(Backend, _ws, input, output, loraHidden, dropoutSeed: null);
        foreach (var run in runs)
        {
            if (run.Adapter.PerLayer[layer][index] is not { } w) continue;
            var rowsIn = Backend.RowView(input, run.Start, run.Count);
            var rowsOut = Backend.RowView(output, run.Start, run.Count);
            var hidden = _ws.Rows("inf.adapter", run.Count, w.Rank);
            Backend.MatMul(hidden, rowsIn, false, w.A.Value, true);                                   // h = x·Aᵀ
            if (w.Dora is { } dora)
            {
                // y = x·Wᵀ + b + (g − 1) ⊙ x·Wᵀ + g ⊙ s·h·Bᵀ, the base product recomputed for these rows only.
                var z = _ws.Rows("inf.dora", run.Count, linear.Out);
                Backend.MatMul(z, rowsIn, false, linear.Weight.Value, true);
                Backend.AddScaled(rowsOut, z, -1f);
                Backend.MatMul(z, hidden, false, w.B.Value, true, alpha: w.Scaling, beta: 1f);
                Backend.ScaleColumns(z, z, dora.Scale);
                Backend.AddScaled(rowsOut, z);
            }
            else Backend.MatMul(rowsOut, hidden, false, w.B.Value, true, alpha: w.Scaling, beta: 1f); // y += s·h·Bᵀ
        }
    }
}
