namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>Token embedding lookup: output[t, :] = table[ids[t], :].</summary>
public static class Embedding
{
    public static void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int dim, Span<float> output)
        => throw new NotImplementedException();

    public static void Forward(ReadOnlySpan<int> ids, ReadOnlySpan<ushort> tableBf16, int dim, Span<float> output)
        => throw new NotImplementedException();

    /// <summary>dTable[ids[t], :] += dOutput[t, :] (accumulates; repeated ids add up).</summary>
    public static void Backward(ReadOnlySpan<int> ids, ReadOnlySpan<float> dOutput, int dim, Span<float> dTable)
        => throw new NotImplementedException();
}
