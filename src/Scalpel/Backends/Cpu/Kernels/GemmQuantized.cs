using Scalpel.Tensors;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// A row-major matrix [rows, cols] in a block-quantized format (<see cref="DType.NF4"/> or <see cref="DType.Q8_0"/>),
/// as the GEMM's B operand. Blocks run over the flattened elements, so any range of a row can be dequantized.
/// The memory is native (a <see cref="NativeBuffer"/>): the pointer stays valid while the tensor lives.
/// </summary>
public readonly unsafe struct QuantizedMatrix
{
    public QuantizedMatrix(DType format, byte* data, int rows, int cols)
    {
        if (!format.IsQuantized()) throw new ArgumentException($"{format} is not a quantized format", nameof(format));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Format = format;
        Data = data;
        Rows = rows;
        Cols = cols;
        format.StorageBytes(Length); // checks the length is whole blocks
    }

    public DType Format { get; }
    public byte* Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long Length => (long)Rows * Cols;

    /// <summary>Elements [col, col + count) of row <paramref name="row"/> as f32 into destination.</summary>
    public void DequantizeRow(int row, int col, int count, float* destination)
    {
        long start = (long)row * Cols + col;
        if (Format == DType.NF4) Nf4.Dequantize(Data, Length, start, count, destination);
        else Q8_0.Dequantize(Data, Length, start, count, destination);
    }

    /// <summary>The whole matrix as f32 (the reference for tests; the kernels never build this).</summary>
    public float[] Dequantize()
    {
        var all = new float[Length];
        fixed (float* p = all)
            for (int r = 0; r < Rows; r++) DequantizeRow(r, 0, Cols, p + (long)r * Cols);
        return all;
    }
}

/// <summary>Where the GEMM's B operand comes from: it packs one Kc × Nc block of op(B) for the micro-kernels.</summary>
internal unsafe interface IGemmB<TSelf> where TSelf : struct, IGemmB<TSelf>
{
    /// <summary>Packs op(B)[pc .. pc+kcb, jc .. jc+ncb) into micro-panels of nr columns (see <see cref="GemmPack.Block"/>).</summary>
    void Pack(bool transB, int pc, int jc, int kcb, int ncb, int nr, float* dst, bool simd);

    /// <summary>The same operand with op(B)'s columns starting at j0 (a thread's share of C).</summary>
    TSelf FromColumn(bool transB, int j0);
}

/// <summary>B stored as plain elements (f32, or BF16 widened while packing) with row stride ldb.</summary>
internal readonly unsafe struct StridedB<TB, TE>(TB* b, nint ldb) : IGemmB<StridedB<TB, TE>>
    where TB : unmanaged where TE : IGemmElement<TB>
{
    public void Pack(bool transB, int pc, int jc, int kcb, int ncb, int nr, float* dst, bool simd)
    {
        // op(B)[p, j]: B stored k×n is j-contiguous; Bᵀ stored n×k is p-contiguous (row j at b + j·ldb).
        TB* block = transB ? b + jc * ldb + pc : b + pc * ldb + jc;
        GemmPack.Block<TB, TE>(block, ldb, rContiguous: !transB, ncb, kcb, nr, dst, simd);
    }

    public StridedB<TB, TE> FromColumn(bool transB, int j0) => new(transB ? b + j0 * ldb : b + j0, ldb);
}

/// <summary>
/// B block-quantized: each Kc × Nc block is dequantized into a per-thread f32 scratch of that size (in L2), then
/// packed like f32. No copy of the whole weight ever exists; dequantization costs one pass over the block, done
/// once per Mc rows of A (the GEMM packs B per Mc block anyway).
/// </summary>
internal readonly unsafe struct QuantizedB(QuantizedMatrix q, int j0) : IGemmB<QuantizedB>
{
    public void Pack(bool transB, int pc, int jc, int kcb, int ncb, int nr, float* dst, bool simd)
    {
        float* tmp = GemmScratch.ForThisThread().Dequantized((long)kcb * ncb);
        if (transB)
        {
            // Bᵀ = W [n, k]: op(B)[p, j] = W[j0 + jc + j, pc + p]: ncb weight rows of kcb values each.
            for (int j = 0; j < ncb; j++) q.DequantizeRow(j0 + jc + j, pc, kcb, tmp + (nint)j * kcb);
            GemmPack.Block<float, F32Element>(tmp, kcb, rContiguous: false, ncb, kcb, nr, dst, simd);
        }
        else
        {
            // B = W [k, n]: op(B)[p, j] = W[pc + p, j0 + jc + j]: kcb weight rows, ncb values of each.
            for (int p = 0; p < kcb; p++) q.DequantizeRow(pc + p, j0 + jc, ncb, tmp + (nint)p * ncb);
            GemmPack.Block<float, F32Element>(tmp, ncb, rContiguous: true, ncb, kcb, nr, dst, simd);
        }
    }

    public QuantizedB FromColumn(bool transB, int j) => new(q, j0 + j);
}
