namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>RMSNorm over the last dimension: y = x · rstd · (weight + weightOffset), rstd = 1/√(mean(x²) + eps).</summary>
public static class RmsNorm
{
    /// <param name="x">[rows, dim]</param>
    /// <param name="weight">[dim]</param>
    /// <param name="weightOffset">0 for Llama-style, 1 for Gemma-style (weight stored as w − 1)</param>
    /// <param name="y">[rows, dim] output</param>
    /// <param name="rstd">[rows] saved for backward</param>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset, float eps,
        int rows, int dim, Span<float> y, Span<float> rstd) => throw new NotImplementedException();

    /// <summary>dx is overwritten; dweight is accumulated (+=) and may be empty when the weight is frozen.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float weightOffset,
        ReadOnlySpan<float> rstd, int rows, int dim, Span<float> dx, Span<float> dweight) => throw new NotImplementedException();
}
