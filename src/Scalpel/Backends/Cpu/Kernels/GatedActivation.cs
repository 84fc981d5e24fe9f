using Scalpel.Models;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>Gated MLP activation: out = act(gate) · up (SwiGLU with SiLU, GeGLU with tanh-GELU).</summary>
public static class GatedActivation
{
    public static void Forward(Activation activation, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
        => throw new NotImplementedException();

    /// <summary>dGate and dUp are overwritten.</summary>
    public static void Backward(Activation activation, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dGate, Span<float> dUp) => throw new NotImplementedException();
}
