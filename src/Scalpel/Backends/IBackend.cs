using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Backends;

/// <summary>
/// Owns tensor memory and runs every kernel the models need. Tensors are row-major and contiguous; a 2-D view of a
/// tensor is [Rows, Columns] over its last dimension. Integer batch metadata (token ids, positions, sequence starts,
/// targets) is passed as host spans: it is small, and a device backend uploads it.
/// Conventions: outputs named <c>dX</c> are overwritten unless the method says it accumulates; parameter gradients
/// always accumulate (+=), so gradient accumulation over micro-batches is free.
/// </summary>
public interface IBackend : IDisposable
{
    string Name { get; }

    Tensor Allocate(DType dtype, params int[] shape);
    void Upload(Tensor destination, ReadOnlySpan<float> source);
    void Upload(Tensor destination, ReadOnlySpan<ushort> sourceBf16);
    void Download(Tensor source, Span<float> destination);

    /// <summary>A view of rows [start, start + count) of a tensor seen as [Rows, Columns]; shares memory, owns none.</summary>
    Tensor RowView(Tensor tensor, int start, int count);
    /// <summary>The same memory under another shape with the same element count; shares memory, owns none.</summary>
    Tensor Reshape(Tensor tensor, params int[] shape);
    /// <summary>destination[i, :] = source[rows[i], :]</summary>
    void GatherRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows);

    /// <summary>destination[rows[i], :] = source[i, :] (e.g. new K/V rows into a KV cache)</summary>
    void ScatterRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows);

    void Zero(Tensor tensor);
    void Copy(Tensor destination, Tensor source);
    /// <summary>destination += alpha · source</summary>
    void AddScaled(Tensor destination, Tensor source, float alpha = 1f);
    void Scale(Tensor tensor, float factor);
    double SumOfSquares(Tensor tensor);

    /// <summary>
    /// c = alpha · op(a) · op(b) + beta · c, all viewed as matrices over their last dimension.
    /// a and c are F32; b may be F32 or BF16 (weights). With beta = 1 it accumulates.
    /// </summary>
    void MatMul(Tensor c, Tensor a, bool transA, Tensor b, bool transB, float alpha = 1f, float beta = 0f);

    /// <summary>y[r, :] += bias</summary>
    void AddBias(Tensor y, Tensor bias);
    /// <summary>dBias += Σ_r dy[r, :]</summary>
    void BiasBackward(Tensor dy, Tensor dBias);

    /// <summary>destination[r, j] = source[r, j] · scale[j] (DoRA's per-output-feature magnitude); may be in place.</summary>
    void ScaleColumns(Tensor destination, Tensor source, Tensor scale);
    /// <summary>result[j] = Σ_r a[r, j] · b[r, j], overwritten (a and b the same [rows, columns] shape).</summary>
    void ColumnDots(Tensor a, Tensor b, Tensor result);
    /// <summary>result[r] = Σ_j matrix[r, j]², overwritten; matrix may be F32, BF16 or quantized (dequantized a row at a time).</summary>
    void RowSquaredNorms(Tensor matrix, Tensor result);

    void RmsNormForward(Tensor x, Tensor weight, float weightOffset, float eps, Tensor y, Tensor rstd);
    /// <summary>dx overwritten; dWeight accumulated, or null when the weight is frozen.</summary>
    void RmsNormBackward(Tensor dy, Tensor x, Tensor weight, float weightOffset, Tensor rstd, Tensor dx, Tensor? dWeight);

    void RopeForward(Tensor x, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table);
    void RopeBackward(Tensor dx, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table);

    void AttentionForward(Tensor q, Tensor k, Tensor v, ReadOnlySpan<int> segmentStart, int qHeads, int kvHeads, int headDim,
        float scale, int slidingWindow, Tensor output, Tensor lse);
    void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor output, Tensor lse, ReadOnlySpan<int> segmentStart,
        int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Tensor dq, Tensor dk, Tensor dv);

    /// <summary>
    /// Attention of new query tokens over a KV cache (see <see cref="CachedAttention"/>): query t attends to the cache
    /// rows [keyStart[t], keyEnd[t]). Forward only.
    /// </summary>
    void CachedAttentionForward(Tensor q, Tensor kCache, Tensor vCache, ReadOnlySpan<int> keyStart, ReadOnlySpan<int> keyEnd,
        int qHeads, int kvHeads, int headDim, float scale, Tensor output);

    void GatedActivationForward(Activation activation, Tensor gate, Tensor up, Tensor output);
    void GatedActivationBackward(Activation activation, Tensor dOutput, Tensor gate, Tensor up, Tensor dGate, Tensor dUp);

    void EmbeddingForward(ReadOnlySpan<int> ids, Tensor table, Tensor output);
    /// <summary>dTable[ids[t]] += dOutput[t]</summary>
    void EmbeddingBackward(ReadOnlySpan<int> ids, Tensor dOutput, Tensor dTable);

    /// <summary>
    /// Fused LM head + cross-entropy (see <see cref="FusedCrossEntropy"/>). dHidden overwritten; dWeight accumulated
    /// or null when the head is frozen. With dHidden null only the loss is computed.
    /// </summary>
    CrossEntropyResult CrossEntropy(Tensor hidden, Tensor weight, ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights,
        float gradScale, Tensor? dHidden, Tensor? dWeight);

    /// <summary>
    /// Inverted dropout with a counter-based mask (<see cref="Cpu.Kernels.Dropout"/>): element i is kept iff
    /// hash(seed, i) ≥ p, and kept values are scaled by 1/(1−p). The same seed gives the same mask, so backward re-applies it to the gradient.
    /// destination and source may be the same tensor.
    /// </summary>
    void Dropout(Tensor destination, Tensor source, float p, ulong seed);

    void AdamWStep(Tensor parameter, Tensor gradient, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
        float weightDecay, int step);
}

public static class BackendExtensions
{
    /// <summary>
    /// A writer's fill callback for a dense tensor: elements [start, start + destination.Length) downloaded through a
    /// row view, so saving never makes a host copy of the whole tensor. Ranges must cover whole rows.
    /// </summary>
    public static Action<long, Span<float>> RangeDownloader(this IBackend backend, Tensor tensor)
    {
        if (tensor.DType.IsQuantized()) throw new ArgumentException($"{tensor.DType} tensors have no row views; download them whole");
        if (tensor.Shape.Length <= 1)
            return (start, destination) =>
            {
                if (start != 0 || destination.Length != tensor.Length)
                    throw new ArgumentException($"a vector is downloaded whole, not [{start}, {start + destination.Length})");
                backend.Download(tensor, destination);
            };
        int columns = tensor.Columns;
        return (start, destination) =>
        {
            if (start % columns != 0 || destination.Length % columns != 0)
                throw new ArgumentException($"range [{start}, {start + destination.Length}) does not cover whole rows of {columns}");
            backend.Download(backend.RowView(tensor, (int)(start / columns), destination.Length / columns), destination);
        };
    }
}

