using Scalpel.Models;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>cos/sin tables [maxPositions, headDim/2] for rotary embeddings, computed in double then stored F32.</summary>
public sealed class RopeTable
{
    private RopeTable(int headDim, int maxPositions, float[] cos, float[] sin)
    {
        HeadDim = headDim; MaxPositions = maxPositions; CosValues = cos; SinValues = sin;
    }

    public int HeadDim { get; }
    public int MaxPositions { get; }
    /// <summary>[maxPositions, headDim/2]</summary>
    public float[] CosValues { get; }
    /// <summary>[maxPositions, headDim/2]</summary>
    public float[] SinValues { get; }

    public static RopeTable Create(int headDim, int maxPositions, double theta, RopeScaling scaling) => throw new NotImplementedException();
}

/// <summary>
/// Rotary position embedding, Hugging Face rotate_half convention: the head vector is split in halves (x1, x2);
/// out1 = x1·cos − x2·sin, out2 = x2·cos + x1·sin, with frequency index i in [0, headDim/2).
/// </summary>
public static class Rope
{
    /// <param name="x">[tokens, heads, headDim], rotated in place</param>
    /// <param name="positions">[tokens] position of each token inside its own sequence</param>
    public static void Forward(Span<float> x, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
        => throw new NotImplementedException();

    /// <summary>Gradient through the rotation (the transpose: rotate by −angle), in place on dx.</summary>
    public static void Backward(Span<float> dx, int tokens, int heads, int headDim, ReadOnlySpan<int> positions, RopeTable table)
        => throw new NotImplementedException();
}
