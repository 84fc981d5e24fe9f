using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>Token embedding lookup: output[t, :] = table[ids[t], :].</summary>
/// <remarks>
/// Shapes: ids [tokens], table [vocab, dim] (vocab = table.Length / dim), output/dOutput [tokens, dim].
/// Every id is validated before anything is written, so a bad batch leaves the output (or dTable) untouched.
/// </remarks>
public static class Embedding
{
    /// <summary>Below this many elements a call stays on the calling thread.</summary>
    private const long ParallelThreshold = 64 * 1024;

    public static void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<float> output)
    {
        CheckArguments(ids, table.Length, dim, output.Length, nameof(output));
        // Row copies are memory-bound; one thread already runs near copy bandwidth, so no Parallel.For here.
        for (int t = 0; t < ids.Length; t++)
            table.Slice(ids[t] * dim, dim).CopyTo(output.Slice(t * dim, dim));
    }

    public static void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<ushort> tableBf16, int dim, Span<float> output)
    {
        CheckArguments(ids, tableBf16.Length, dim, output.Length, nameof(output));
        for (int t = 0; t < ids.Length; t++)
            WidenRow(tableBf16.Slice(ids[t] * dim, dim), output.Slice(t * dim, dim));
    }

    /// <summary>dTable[ids[t], :] += dOutput[t, :] (accumulates; repeated ids add up).</summary>
    /// <remarks>
    /// Large calls split the vocabulary (not the tokens) into ranges, one worker per range scanning all ids and adding
    /// only its own rows: no two workers write the same row, and each row still sums its tokens in order t = 0, 1, …,
    /// so the result is identical to the serial one.
    /// </remarks>
    public static void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dOutput, int dim, Span<float> dTable)
    {
        int vocab = CheckArguments(ids, dTable.Length, dim, dOutput.Length, nameof(dOutput));
        int tokens = ids.Length;
        long work = (long)tokens * dim;
        int chunks = work < ParallelThreshold || tokens < 2 ? 1 : (int)Math.Min(vocab, 2L * Environment.ProcessorCount);
        if (chunks <= 1) AccumulateRows(ids, dOutput, dim, dTable, 0, vocab);
        else BackwardParallel(ids, dOutput, dim, dTable, vocab, chunks);
    }

    // Kept out of Backward: a lambda's captured state is allocated on entry to the method holding it (small calls must not pay).
    private static unsafe void BackwardParallel(ReadOnlySpan<int> ids, ReadOnlySpan<float> dOutput, int dim, Span<float> dTable, int vocab, int chunks)
    {
        int tokens = ids.Length, outLength = tokens * dim, tableLength = vocab * dim;
        fixed (int* pids = ids)
        fixed (float* pdo = dOutput, pdt = dTable)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are rebuilt into spans per worker.
            int* cids = pids; float* cdo = pdo, cdt = pdt;
            Parallel.For(0, chunks, c => AccumulateRows(new ReadOnlySpan<int>(cids, tokens), new ReadOnlySpan<float>(cdo, outLength), dim,
                new Span<float>(cdt, tableLength), (int)((long)vocab * c / chunks), (int)((long)vocab * (c + 1) / chunks)));
        }
    }

    // dTable[id] += dOutput[t] for the tokens whose id lies in [v0, v1).
    private static void AccumulateRows(ReadOnlySpan<int> ids, ReadOnlySpan<float> dOutput, int dim, Span<float> dTable, int v0, int v1)
    {
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if (id < v0 || id >= v1) continue;
            Span<float> row = dTable.Slice(id * dim, dim);
            TensorPrimitives.Add(row, dOutput.Slice(t * dim, dim), row); // in-place is allowed when the spans coincide
        }
    }

    // BF16 → F32 is a 16-bit left shift of the raw bits (bf16 is the top half of a binary32).
    private static void WidenRow(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        int n = source.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 32; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s, (nuint)i)); // 32 × u16 → 2 × 16 × u32
                (lo << 16).StoreUnsafe(ref d, (nuint)i);
                (hi << 16).StoreUnsafe(ref d, (nuint)i + 16);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                (lo << 16).StoreUnsafe(ref d, (nuint)i);
                (hi << 16).StoreUnsafe(ref d, (nuint)i + 8);
            }
        for (; i < n; i++)
            Unsafe.Add(ref d, i) = (uint)Unsafe.Add(ref s, i) << 16;
    }

    /// <summary>Validates shapes and every id (before any write) and returns the vocabulary size.</summary>
    private static int CheckArguments(ReadOnlySpan<int> ids, int tableLength, int dim, int rowsLength, string rowsName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        if (tableLength % dim != 0)
            throw new ArgumentException($"the embedding table has {tableLength} elements, not a multiple of dim {dim}");
        long needed = (long)ids.Length * dim;
        if (rowsLength < needed)
            throw new ArgumentException($"{rowsName} has {rowsLength} elements, needs {needed} = {ids.Length} tokens × {dim}", rowsName);
        int vocab = tableLength / dim;
        for (int t = 0; t < ids.Length; t++)
            if ((uint)ids[t] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[t], $"token id {ids[t]} at position {t} is outside the vocabulary of size {vocab}");
        return vocab;
    }
}
