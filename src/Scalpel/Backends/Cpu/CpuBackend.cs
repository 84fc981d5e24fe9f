using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Backends.Cpu;

/// <summary>A tensor in 64-byte aligned native host memory.</summary>
public sealed class CpuTensor : Tensor
{
    private readonly NativeBuffer _buffer;
    private readonly long _byteOffset;
    private readonly bool _ownsBuffer;

    internal CpuTensor(DType dtype, int[] shape) : base(dtype, shape)
    {
        _buffer = new NativeBuffer(ByteLength);
        _ownsBuffer = true;
    }

    private CpuTensor(CpuTensor parent, long byteOffset, int[] shape) : base(parent.DType, shape)
    {
        _buffer = parent._buffer;
        _byteOffset = parent._byteOffset + byteOffset;
        _ownsBuffer = false;
    }

    internal CpuTensor RowView(int start, int count)
    {
        if (DType.IsQuantized()) throw new NotSupportedException($"row views of {DType} tensors are not supported (their block scales are stored apart)");
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) of {this}");
        // A row view is always 2-D [count, Columns] (1-D tensors: [count]).
        int[] shape = Shape.Length <= 1 ? [count] : [count, Columns];
        return new CpuTensor(this, (long)start * Columns * DType.SizeOf(), shape);
    }

    internal CpuTensor Reshape(int[] shape)
    {
        var view = new CpuTensor(this, 0, (int[])shape.Clone());
        if (view.Length != Length) throw new ArgumentException($"cannot reshape {this} to [{string.Join(", ", shape)}]");
        return view;
    }

    public unsafe Span<float> F32 => DType == DType.F32
        ? new Span<float>((byte*)_buffer.Pointer + _byteOffset, checked((int)Length))
        : throw WrongType(DType.F32);

    public unsafe Span<ushort> Bf16 => DType == DType.BF16
        ? new Span<ushort>((byte*)_buffer.Pointer + _byteOffset, checked((int)Length))
        : throw WrongType(DType.BF16);

    /// <summary>The raw bytes of any tensor (codes and scales for NF4 / Q8_0).</summary>
    public unsafe Span<byte> Bytes => new((byte*)_buffer.Pointer + _byteOffset, checked((int)ByteLength));

    /// <summary>An NF4 / Q8_0 tensor as a matrix [Rows, Columns] for the GEMM.</summary>
    public unsafe QuantizedMatrix Quantized => DType.IsQuantized()
        ? new QuantizedMatrix(DType, (byte*)_buffer.Pointer + _byteOffset, Rows, Columns)
        : throw new InvalidOperationException($"tensor {this} is not quantized");

    private InvalidOperationException WrongType(DType wanted) => new($"tensor {this} is not {wanted}");

    public override void Dispose()
    {
        if (_ownsBuffer) _buffer.Dispose();
    }
}

/// <summary>
/// The CPU backend: every operation maps onto a SIMD kernel in <see cref="Kernels"/>. Stateless apart from the
/// tensors it hands out, so one instance can serve several models.
/// </summary>
public sealed class CpuBackend : IBackend
{
    public string Name => "cpu";

    static CpuBackend() => NativeHeap.ReturnLargeBlocks();

    public Tensor Allocate(DType dtype, params int[] shape)
    {
        if (dtype is not (DType.F32 or DType.BF16 or DType.NF4 or DType.Q8_0))
            throw new NotSupportedException($"the CPU backend keeps tensors in F32, BF16, NF4 or Q8_0, not {dtype}");
        return new CpuTensor(dtype, (int[])shape.Clone());
    }

    private static CpuTensor Cpu(Tensor t) => t as CpuTensor ?? throw new ArgumentException($"tensor {t} does not belong to the CPU backend");
    private static Span<float> F(Tensor t) => Cpu(t).F32;

    private static void SameLength(Tensor a, Tensor b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"length mismatch: {a} vs {b}");
    }

    public void Upload(Tensor destination, ReadOnlySpan<float> source)
    {
        var t = Cpu(destination);
        if (source.Length != t.Length) throw new ArgumentException($"upload of {source.Length} values into {t}");
        if (t.DType == DType.F32) source.CopyTo(t.F32);
        else if (t.DType == DType.NF4) Nf4.Quantize(source, t.Bytes);
        else if (t.DType == DType.Q8_0) Q8_0.Quantize(source, t.Bytes);
        else BFloat16Bits.Narrow(source, t.Bf16);
    }

    public void Upload(Tensor destination, ReadOnlySpan<ushort> sourceBf16)
    {
        var t = Cpu(destination);
        if (sourceBf16.Length != t.Length) throw new ArgumentException($"upload of {sourceBf16.Length} values into {t}");
        if (t.DType == DType.BF16) sourceBf16.CopyTo(t.Bf16);
        else if (t.DType.IsQuantized())
        {
            var widened = new float[sourceBf16.Length]; // one tensor's worth, quantized right away
            BFloat16Bits.Widen(sourceBf16, widened);
            Upload(t, widened);
        }
        else BFloat16Bits.Widen(sourceBf16, t.F32);
    }

    public void Download(Tensor source, Span<float> destination)
    {
        var t = Cpu(source);
        if (destination.Length != t.Length) throw new ArgumentException($"download of {t} into {destination.Length} values");
        if (t.DType == DType.F32) t.F32.CopyTo(destination);
        else if (t.DType == DType.NF4) Nf4.Dequantize(t.Bytes, destination);
        else if (t.DType == DType.Q8_0) Q8_0.Dequantize(t.Bytes, destination);
        else BFloat16Bits.Widen(t.Bf16, destination);
    }

    public Tensor RowView(Tensor tensor, int start, int count) => Cpu(tensor).RowView(start, count);

    public Tensor Reshape(Tensor tensor, params int[] shape) => Cpu(tensor).Reshape(shape);

    public void GatherRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows)
    {
        int n = source.Columns;
        if (destination.Columns != n || destination.Rows != rows.Length)
            throw new ArgumentException($"gather of {rows.Length} rows of {source} into {destination}");
        var src = F(source);
        var dst = F(destination);
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)source.Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"row {rows[i]} of {source}");
            src.Slice(rows[i] * n, n).CopyTo(dst.Slice(i * n, n));
        }
    }

    public void ScatterRows(Tensor destination, Tensor source, ReadOnlySpan<int> rows)
    {
        int n = source.Columns;
        if (destination.Columns != n || source.Rows != rows.Length)
            throw new ArgumentException($"scatter of {rows.Length} rows of {source} into {destination}");
        var src = F(source);
        var dst = F(destination);
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)destination.Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"row {rows[i]} of {destination}");
            src.Slice(i * n, n).CopyTo(dst.Slice(rows[i] * n, n));
        }
    }

    public void Zero(Tensor tensor)
    {
        var t = Cpu(tensor);
        if (t.DType == DType.F32) t.F32.Clear();
        else if (t.DType == DType.BF16) t.Bf16.Clear();
        else t.Bytes.Clear(); // all-zero bytes are 0 (NF4: code 0 is −1, but its block scale is 0)
    }

    public void Copy(Tensor destination, Tensor source)
    {
        SameLength(destination, source);
        if (destination.DType != source.DType) throw new ArgumentException($"copy between {source} and {destination}");
        if (source.DType == DType.F32) F(source).CopyTo(F(destination));
        else if (source.DType == DType.BF16) Cpu(source).Bf16.CopyTo(Cpu(destination).Bf16);
        else Cpu(source).Bytes.CopyTo(Cpu(destination).Bytes);
    }

    public void AddScaled(Tensor destination, Tensor source, float alpha = 1f)
    {
        SameLength(destination, source);
        var d = F(destination);
        if (alpha == 1f) TensorPrimitives.Add(d, F(source), d);
        else TensorPrimitives.MultiplyAdd(F(source), alpha, d, d);
    }

    public void Scale(Tensor tensor, float factor)
    {
        var d = F(tensor);
        TensorPrimitives.Multiply(d, factor, d);
    }

    public double SumOfSquares(Tensor tensor)
    {
        // Chunked so the float partial sums stay short; the total is kept in double.
        var d = F(tensor);
        double total = 0;
        for (int i = 0; i < d.Length; i += 4096)
            total += TensorPrimitives.SumOfSquares(d.Slice(i, Math.Min(4096, d.Length - i)));
        return total;
    }

    public void MatMul(Tensor c, Tensor a, bool transA, Tensor b, bool transB, float alpha = 1f, float beta = 0f)
    {
        int m = transA ? a.Columns : a.Rows, k = transA ? a.Rows : a.Columns;
        int kb = transB ? b.Columns : b.Rows, n = transB ? b.Rows : b.Columns;
        if (k != kb || c.Rows != m || c.Columns != n)
            throw new ArgumentException($"matmul shapes: a {a}{(transA ? "ᵀ" : "")} · b {b}{(transB ? "ᵀ" : "")} → c {c}");
        if (b.DType.IsQuantized())
        {
            // NF4 / Q8_0 base weights (QLoRA): dequantized four rows at a time (GEMV) or block by block while packing (GEMM).
            if (!transA && transB && m <= Gemv.MaxRows) Gemv.Multiply(m, n, k, alpha, F(a), a.Columns, Cpu(b).Quantized, beta, F(c), n);
            else Gemm.Multiply(transA, transB, m, n, k, alpha, F(a), a.Columns, Cpu(b).Quantized, beta, F(c), n);
        }
        else if (!transA && transB && m <= Gemv.MaxRows)
        {
            // Decoding: a few rows against a weight [out, in]. GEMV streams the weight once instead of packing it.
            if (b.DType == DType.BF16) Gemv.Multiply(m, n, k, alpha, F(a), a.Columns, Cpu(b).Bf16, b.Columns, beta, F(c), n);
            else Gemv.Multiply(m, n, k, alpha, F(a), a.Columns, F(b), b.Columns, beta, F(c), n);
        }
        else if (b.DType == DType.BF16)
            Gemm.Multiply(transA, transB, m, n, k, alpha, F(a), a.Columns, Cpu(b).Bf16, b.Columns, beta, F(c), n);
        else
            Gemm.Multiply(transA, transB, m, n, k, alpha, F(a), a.Columns, F(b), b.Columns, beta, F(c), n);
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        var yv = F(y);
        var bv = F(bias);
        int n = y.Columns;
        if (bias.Length != n) throw new ArgumentException($"bias {bias} for rows of {n}");
        for (int r = 0; r < y.Rows; r++)
        {
            var row = yv.Slice(r * n, n);
            TensorPrimitives.Add(row, bv, row);
        }
    }

    public void BiasBackward(Tensor dy, Tensor dBias)
    {
        var dyv = F(dy);
        var db = F(dBias);
        int n = dy.Columns;
        for (int r = 0; r < dy.Rows; r++) TensorPrimitives.Add(db, dyv.Slice(r * n, n), db);
    }

    public void ScaleColumns(Tensor destination, Tensor source, Tensor scale)
    {
        SameLength(destination, source);
        int n = source.Columns;
        if (scale.Length != n) throw new ArgumentException($"column scale {scale} for rows of {n}");
        var src = F(source);
        var dst = F(destination);
        var s = F(scale);
        for (int r = 0; r < source.Rows; r++) TensorPrimitives.Multiply(src.Slice(r * n, n), s, dst.Slice(r * n, n));
    }

    public void ColumnDots(Tensor a, Tensor b, Tensor result)
    {
        SameLength(a, b);
        int n = a.Columns;
        if (result.Length != n) throw new ArgumentException($"column dots of {a} into {result}");
        var av = F(a);
        var bv = F(b);
        var sum = new double[n];
        var product = new float[n];
        for (int r = 0; r < a.Rows; r++)
        {
            TensorPrimitives.Multiply(av.Slice(r * n, n), bv.Slice(r * n, n), product);
            for (int j = 0; j < n; j++) sum[j] += product[j];
        }
        var res = F(result);
        for (int j = 0; j < n; j++) res[j] = (float)sum[j];
    }

    public unsafe void RowSquaredNorms(Tensor matrix, Tensor result)
    {
        int rows = matrix.Rows, n = matrix.Columns;
        if (result.Length != rows) throw new ArgumentException($"row norms of {matrix} into {result}");
        var res = F(result);
        var row = new float[n];
        var t = Cpu(matrix);
        for (int r = 0; r < rows; r++)
        {
            if (t.DType == DType.F32) t.F32.Slice(r * n, n).CopyTo(row);
            else if (t.DType == DType.BF16) BFloat16Bits.Widen(t.Bf16.Slice(r * n, n), row);
            else fixed (float* p = row) t.Quantized.DequantizeRow(r, 0, n, p);
            double sum = 0;
            for (int j = 0; j < n; j += 4096) sum += TensorPrimitives.SumOfSquares(row.AsSpan(j, Math.Min(4096, n - j)));
            res[r] = (float)sum;
        }
    }

    public void RmsNormForward(Tensor x, Tensor weight, float weightOffset, float eps, Tensor y, Tensor rstd) =>
        RmsNorm.Forward(F(x), F(weight), weightOffset, eps, x.Rows, x.Columns, F(y), F(rstd));

    public void RmsNormBackward(Tensor dy, Tensor x, Tensor weight, float weightOffset, Tensor rstd, Tensor dx, Tensor? dWeight) =>
        RmsNorm.Backward(F(dy), F(x), F(weight), weightOffset, F(rstd), x.Rows, x.Columns, F(dx),
            dWeight is null ? Span<float>.Empty : F(dWeight));

    public void RopeForward(Tensor x, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table) =>
        Rope.Forward(F(x), positions.Length, heads, headDim, positions, table);

    public void RopeBackward(Tensor dx, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table) =>
        Rope.Backward(F(dx), positions.Length, heads, headDim, positions, table);

    public void AttentionForward(Tensor q, Tensor k, Tensor v, ReadOnlySpan<int> segmentStart, int qHeads, int kvHeads, int headDim,
        float scale, int slidingWindow, Tensor output, Tensor lse) =>
        CausalAttention.Forward(F(q), F(k), F(v), segmentStart, segmentStart.Length, qHeads, kvHeads, headDim, scale, slidingWindow,
            F(output), F(lse));

    public void CachedAttentionForward(Tensor q, Tensor kCache, Tensor vCache, ReadOnlySpan<int> keyStart, ReadOnlySpan<int> keyEnd,
        int qHeads, int kvHeads, int headDim, float scale, Tensor output) =>
        CachedAttention.Forward(F(q), F(kCache), F(vCache), keyStart, keyEnd, qHeads, kvHeads, headDim, scale, F(output));

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor output, Tensor lse, ReadOnlySpan<int> segmentStart,
        int qHeads, int kvHeads, int headDim, float scale, int slidingWindow, Tensor dq, Tensor dk, Tensor dv) =>
        CausalAttention.Backward(F(dOutput), F(q), F(k), F(v), F(output), F(lse), segmentStart, segmentStart.Length, qHeads, kvHeads,
            headDim, scale, slidingWindow, F(dq), F(dk), F(dv));

    public void GatedActivationForward(Activation activation, Tensor gate, Tensor up, Tensor output) =>
        GatedActivation.Forward(activation, F(gate), F(up), F(output));

    public void GatedActivationBackward(Activation activation, Tensor dOutput, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        GatedActivation.Backward(activation, F(dOutput), F(gate), F(up), F(dGate), F(dUp));

    public void EmbeddingForward(ReadOnlySpan<int> ids, Tensor table, Tensor output)
    {
        if (table.DType == DType.BF16) Embedding.Forward(ids, Cpu(table).Bf16, table.Columns, F(output));
        else Embedding.Forward(ids, F(table), table.Columns, F(output));
    }

    public void EmbeddingBackward(ReadOnlySpan<int> ids, Tensor dOutput, Tensor dTable) =>
        Embedding.Backward(ids, F(dOutput), dTable.Columns, F(dTable));

    public CrossEntropyResult CrossEntropy(Tensor hidden, Tensor weight, ReadOnlySpan<int> targets, ReadOnlySpan<float> tokenWeights,
        float gradScale, Tensor? dHidden, Tensor? dWeight)
    {
        int tokens = hidden.Rows, dim = hidden.Columns, vocab = weight.Rows;
        if (weight.Columns != dim) throw new ArgumentException($"LM head {weight} for hidden {hidden}");
        if (dHidden is null)
        {
            return weight.DType == DType.BF16
                ? FusedCrossEntropy.Forward(F(hidden), Cpu(weight).Bf16, tokens, dim, vocab, targets, tokenWeights)
                : FusedCrossEntropy.Forward(F(hidden), F(weight), tokens, dim, vocab, targets, tokenWeights);
        }
        if (weight.DType == DType.BF16)
        {
            if (dWeight is not null) throw new ArgumentException("a BF16 LM head is frozen: it cannot take a gradient");
            return FusedCrossEntropy.ForwardBackward(F(hidden), Cpu(weight).Bf16, tokens, dim, vocab, targets, tokenWeights, gradScale, F(dHidden));
        }
        return FusedCrossEntropy.ForwardBackward(F(hidden), F(weight), tokens, dim, vocab, targets, tokenWeights, gradScale, F(dHidden),
            dWeight is null ? Span<float>.Empty : F(dWeight));
    }

    public void Dropout(Tensor destination, Tensor source, float p, ulong seed)
    {
        SameLength(destination, source);
        if (p <= 0f) { if (!ReferenceEquals(destination, source)) Copy(destination, source); return; }
        Kernels.Dropout.Apply(F(source), F(destination), p, seed);
    }

    internal static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public void AdamWStep(Tensor parameter, Tensor gradient, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
        float weightDecay, int step) =>
        AdamW.Step(F(parameter), F(gradient), F(m), F(v), lr, beta1, beta2, eps, weightDecay, step);

    public void Dispose() { }
}

/// <summary>
/// glibc's malloc raises its mmap threshold (up to 32 MiB) each time a large mmapped block is freed; from then on the
/// kernels' per-call scratch (attention's transposed keys, the cross-entropy's chunk of logits) comes from per-thread
/// heap arenas that keep the memory after free, and RSS creeps up over the first steps by tens of MiB (measured 5 %
/// on Qwen2.5-0.5B QLoRA). Fixing the threshold at glibc's default (128 KiB) turns the dynamic rule off, so large
/// blocks are mapped and given back on free, and the memory plan holds.
/// </summary>
internal static class NativeHeap
{
    private const int MmapThreshold = -3;   // M_MMAP_THRESHOLD in malloc.h

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    public static void ReturnLargeBlocks()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { _ = Mallopt(MmapThreshold, 128 * 1024); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }   // not glibc: nothing to tune
    }
}

