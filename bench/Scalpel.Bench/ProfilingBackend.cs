using System.Diagnostics;
using Scalpel.Backends;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// Wraps a backend and adds up the wall time of every operation, by name (MatMul also by shape class), so a
/// benchmark can say where a training step goes. The model cannot tell the difference: it only sees IBackend.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : IBackend
{
    private readonly Dictionary<string, (double Seconds, long Calls)> _totals = new();

    /// <summary>Name each MatMul by its m, n, k rather than as skinny or large (for decoding, where m is the batch).</summary>
    public bool MatMulShapes { get; init; }

    private void Time(string name, Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        Add(name, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    private T Time<T>(string name, Func<T> action)
    {
        long start = Stopwatch.GetTimestamp();
        var result = action();
        Add(name, Stopwatch.GetElapsedTime(start).TotalSeconds);
        return result;
    }

    private void Add(string name, double seconds)
    {
        _totals.TryGetValue(name, out var t);
        _totals[name] = (t.Seconds + seconds, t.Calls + 1);
    }

    public void Reset() => _totals.Clear();

    /// <summary>The totals so far, to subtract from a later <see cref="Print"/> (e.g. a prefill from a prefill + decode).</summary>
    public IReadOnlyDictionary<string, (double Seconds, long Calls)> Snapshot() => new Dictionary<string, (double, long)>(_totals);

    /// <summary>Time per step and share by operation, less <paramref name="baseline"/> when given; seconds in ms with <paramref name="ms"/>.</summary>
    public void Print(TextWriter writer, int steps, IReadOnlyDictionary<string, (double Seconds, long Calls)>? baseline = null, bool ms = false)
    {
        var rows = _totals.Select(kv =>
        {
            var b = baseline is not null && baseline.TryGetValue(kv.Key, out var x) ? x : default;
            return (Name: kv.Key, Seconds: kv.Value.Seconds - b.Seconds, Calls: kv.Value.Calls - b.Calls);
        }).Where(r => r.Calls > 0).ToList();
        double total = rows.Sum(r => r.Seconds), scale = ms ? 1000 : 1;
        string unit = ms ? "ms/step" : "s/step";
        writer.WriteLine($"{"operation",-44} {unit,8} {"share",6} {"calls/step",10}");
        foreach (var (name, seconds, calls) in rows.OrderByDescending(r => r.Seconds))
            writer.WriteLine($"{name,-44} {seconds * scale / steps,8:F3} {seconds / total,6:P0} {calls / (double)steps,10:F0}");
        writer.WriteLine($"{"total in backend",-44} {total * scale / steps,8:F3}");
    }

    public string Name => inner.Name;
    public Tensor Allocate(DType dtype, params int[] shape) => Time("Allocate", () => inner.Allocate(dtype, shape));
    public void Upload(Tensor destination, ReadOnlySpan<float> source) => inner.Upload(destination, source);
    public void Upload(Tensor destination, ReadOnlySpan<ushort> sourceBf16) => inner.Upload(destination, sourceBf16);
    public void Download(Tensor source, Span<float> destination) => inner.Download(source, destination);
    public Tensor RowView(Tensor tensor, int start, int count) => inner.RowView(tensor, start, count);
    public Tensor Reshape(Tensor tensor, params int[] shape) => inner.Reshape(tensor, shape);
    public void GatherRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows)
    {
        var r = rows.ToArray();
        Time("GatherRows", () => inner.GatherRows(destination, source, r));
    }
    public void ScatterRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows)
    {
        var r = rows.ToArray();
        Time("ScatterRows", () => inner.ScatterRows(destination, source, r));
    }
    public void CachedAttentionForward(Tensor q, Tensor kCache, Tensor vCache, ReadOnlySpan<int> keyStart, ReadOnlySpan<int> keyEnd,
        int qHeads, int kvHeads, int headDim, float scale, Tensor output)
    {
        var (s, e) = (keyStart.ToArray(), keyEnd.ToArray());
        Time("CachedAttentionForward", () => inner.CachedAttentionForward(q, kCache, vCache, s, e, qHeads, kvHeads, headDim, scale, output));
    }
    public void Zero(Tensor tensor) => Time("Zero", () => inner.Zero(tensor));
    public void Copy(Tensor destination, Tensor source) => Time("Copy", () => inner.Copy(destination, source));
    public void AddScaled(Tensor destination, Tensor source, float alpha = 1) => Time("AddScaled", () => inner.AddScaled(destination, source, alpha));
    public void Scale(Tensor tensor, float factor) => Time("Scale", () => inner.Scale(tensor, factor));
    public double SumOfSquares(Tensor tensor) => Time("SumOfSquares", () => inner.SumOfSquares(tensor));

    public void MatMul(Tensor c, Tensor a, bool transA, Tensor b, bool transB, float alpha = 1, float beta = 0)
    {
        int m = c.Rows, n = c.Columns, k = transA ? a.Rows : a.Columns;
        string kind = MatMulShapes ? $"m={m} n={n} k={k}" : Math.Min(m, Math.Min(n, k)) <= 64 ? "skinny" : "large";
        Time($"MatMul {(transA ? "T" : "N")}{(transB ? "T" : "N")} {kind} {b.DType}", () => inner.MatMul(c, a, transA, b, transB, alpha, beta));
    }

    public void AddBias(Tensor y, Tensor bias) => Time("AddBias", () => inner.AddBias(y, bias));
    public void BiasBackward(Tensor dy, Tensor dBias) => Time("BiasBackward", () => inner.BiasBackward(dy, dBias));
    public void ScaleColumns(Tensor destination, Tensor source, Tensor scale) => Time("ScaleColumns", () => inner.ScaleColumns(destination, source, scale));
    public void ColumnDots(Tensor a, Tensor b, Tensor result) => Time("ColumnDots", () => inner.ColumnDots(a, b, result));
    public void RowSquaredNorms(Tensor matrix, Tensor result) => Time("RowSquaredNorms", () => inner.RowSquaredNorms(matrix, result));
    public void RmsNormForward(Tensor x, Tensor weight, float weightOffset, float eps, Tensor y, Tensor rstd) =>
        Time("RmsNormForward", () => inner.RmsNormForward(x, weight, weightOffset, eps, y, rstd));
    public void RmsNormBackward(Tensor dy, Tensor x, Tensor weight, float weightOffset, Tensor rstd, Tensor dx, Tensor? dWeight) =>
        Time("RmsNormBackward", () => inner.RmsNormBackward(dy, x, weight, weightOffset, rstd, dx, dWeight));
    public void RopeForward(Tensor x, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
    {
        var p = positions.ToArray();
        Time("RopeForward", () => inner.RopeForward(x, heads, headDim, p, table));
    }
    public void RopeBackward(Tensor dx, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
    {
        var p = positions.ToArray();
        Time("RopeBackward", () => inner.RopeBackward(dx, heads, headDim, p, table));
    }
    public void AttentionForward(Tensor q, Tensor k, Tensor v, ReadOnlySpan<int> segmentStart, int qHeads, int kvHeads, int headDim,
        float scale, int slidingWindow, Tensor output, Tensor lse)
    {
        var s = segmentStart.ToArray();
        Time("AttentionForward", () => inner.AttentionForward(q, k, v, s, qHeads, kvHeads, headDim, scale, slidingWindow, output, lse));
    }
    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor output, Tensor lse, ReadOnlySpan<int> segmentStart,
        int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Tensor dq, Tensor dk, Tensor dv)
    {
        var s = segmentStart.ToArray();
        Time("AttentionBackward", () => inner.AttentionBackward(dOutput, q, k, v, output, lse, s, qHeads, kvHeads, headDim, scale,
            slidingWindow, dq, dk, dv));
    }
    public void GatedActivationForward(Activation activation, Tensor gate, Tensor up, Tensor output) =>
        Time("GatedActivationForward", () => inner.GatedActivationForward(activation, gate, up, output));
    public void GatedActivationBackward(Activation activation, Tensor dOutput, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        Time("GatedActivationBackward", () => inner.GatedActivationBackward(activation, dOutput, gate, up, dGate, dUp));
    public void EmbeddingForward(ReadOnlySpan<int> ids, Tensor table, Tensor output)
    {
        var i = ids.ToArray();
        Time("EmbeddingForward", () => inner.EmbeddingForward(i, table, output));
    }
    public void EmbeddingBackward(ReadOnlySpan<int> ids, Tensor dOutput, Tensor dTable)
    {
        var i = ids.ToArray();
        Time("EmbeddingBackward", () => inner.EmbeddingBackward(i, dOutput, dTable));
    }
    public CrossEntropyResult CrossEntropy(Tensor hidden, Tensor weight, ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights,
        float gradScale, Tensor? dHidden, Tensor? dWeight)
    {
        var t = targets.ToArray();
        var w = tokenWeights.ToArray();
        return Time("CrossEntropy", () => inner.CrossEntropy(hidden, weight, t, w, gradScale, dHidden, dWeight));
    }
    public void Dropout(Tensor destination, Tensor source, float p, ulong seed) => Time("Dropout", () => inner.Dropout(destination, source, p, seed));
    public void AdamWStep(Tensor parameter, Tensor gradient, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
        float weightDecay, int step) =>
        Time("AdamWStep", () => inner.AdamWStep(parameter, gradient, m, v, lr, beta1, beta2, eps, weightDecay, step));
    public void Dispose() => inner.Dispose();
}
