using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Scalpel.Models;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>Gated MLP activation: out = act(gate) · up (SwiGLU with SiLU, GeGLU with tanh-GELU).</summary>
/// <remarks>
/// gate, up, output (and the gradients) are flat spans of the same length. SiLU is g·σ(g); tanh-GELU is PyTorch's
/// gelu(approximate='tanh') = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))), evaluated as g·σ(2·√(2/π)·(g + 0.044715·g³))
/// (the same function, since 0.5·(1 + tanh(u)) = σ(2u)) so that both activations share one vectorised sigmoid and
/// the negative tail does not cancel to 0 the way 1 + tanh(u) does.
/// </remarks>
public static class GatedActivation
{
    /// <summary>Below this many elements a call stays on the calling thread.</summary>
    private const int ParallelThreshold = 64 * 1024;

    public static void Forward(Activation activation, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        RequireSameLength(gate.Length, up.Length, nameof(up));
        RequireSameLength(gate.Length, output.Length, nameof(output));
        switch (activation)
        {
            case Activation.Silu: Run<SiluFunction>(forward: true, default, gate, up, output, default); break;
            case Activation.GeluTanh: Run<GeluTanhFunction>(forward: true, default, gate, up, output, default); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown activation");
        }
    }

    /// <summary>dGate and dUp are overwritten.</summary>
    public static void Backward(Activation activation, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dGate, Span<float> dUp)
    {
        RequireSameLength(gate.Length, dOutput.Length, nameof(dOutput));
        RequireSameLength(gate.Length, up.Length, nameof(up));
        RequireSameLength(gate.Length, dGate.Length, nameof(dGate));
        RequireSameLength(gate.Length, dUp.Length, nameof(dUp));
        switch (activation)
        {
            case Activation.Silu: Run<SiluFunction>(forward: false, dOutput, gate, up, dGate, dUp); break;
            case Activation.GeluTanh: Run<GeluTanhFunction>(forward: false, dOutput, gate, up, dGate, dUp); break;
            default: throw new ArgumentOutOfRangeException(nameof(activation), activation, "unknown activation");
        }
    }

    // Forward: out0 = act(gate)·up. Backward: out0 = dGate = dOut·up·act'(gate), out1 = dUp = dOut·act(gate).
    // Large calls are cut into contiguous element ranges, one Parallel.For iteration each.
    private static void Run<TAct>(bool forward, ReadOnlySpan<float> dOut, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> out0, Span<float> out1) where TAct : struct, IGateFunction
    {
        int n = gate.Length;
        int chunks = n < ParallelThreshold ? 1 : Math.Min(n / (16 * 1024), 4 * Environment.ProcessorCount);
        if (chunks > 1) RunParallel<TAct>(forward, dOut, gate, up, out0, out1, chunks);
        else if (forward) ForwardRange<TAct>(gate, up, out0);
        else BackwardRange<TAct>(dOut, gate, up, out0, out1);
    }

    // Kept out of Run: a lambda's captured state is allocated on entry to the method holding it (small calls must not pay).
    private static unsafe void RunParallel<TAct>(bool forward, ReadOnlySpan<float> dOut, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> out0, Span<float> out1, int chunks) where TAct : struct, IGateFunction
    {
        int n = gate.Length;
        fixed (float* pdo = dOut, pg = gate, pu = up, po0 = out0, po1 = out1)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are sliced back into spans per chunk.
            float* cdo = pdo, cg = pg, cu = pu, co0 = po0, co1 = po1;
            Parallel.For(0, chunks, c =>
            {
                int i0 = (int)((long)n * c / chunks), len = (int)((long)n * (c + 1) / chunks) - i0;
                if (forward) ForwardRange<TAct>(new ReadOnlySpan<float>(cg + i0, len), new ReadOnlySpan<float>(cu + i0, len), new Span<float>(co0 + i0, len));
                else BackwardRange<TAct>(new ReadOnlySpan<float>(cdo + i0, len), new ReadOnlySpan<float>(cg + i0, len), new ReadOnlySpan<float>(cu + i0, len),
                    new Span<float>(co0 + i0, len), new Span<float>(co1 + i0, len));
            });
        }
    }

    private static void ForwardRange<TAct>(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
        where TAct : struct, IGateFunction
    {
        ref float g = ref MemoryMarshal.GetReference(gate);
        ref float u = ref MemoryMarshal.GetReference(up);
        ref float o = ref MemoryMarshal.GetReference(output);
        int n = gate.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
                (TAct.Value(Vector512.LoadUnsafe(ref g, (nuint)i)) * Vector512.LoadUnsafe(ref u, (nuint)i)).StoreUnsafe(ref o, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
                (TAct.Value(Vector256.LoadUnsafe(ref g, (nuint)i)) * Vector256.LoadUnsafe(ref u, (nuint)i)).StoreUnsafe(ref o, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref o, i) = TAct.Value(Unsafe.Add(ref g, i)) * Unsafe.Add(ref u, i);
    }

    private static void BackwardRange<TAct>(ReadOnlySpan<float> dOutput, ReadOnlySpan<float> gate, ReadOnlySpan<float> up,
        Span<float> dGate, Span<float> dUp) where TAct : struct, IGateFunction
    {
        ref float d = ref MemoryMarshal.GetReference(dOutput);
        ref float g = ref MemoryMarshal.GetReference(gate);
        ref float u = ref MemoryMarshal.GetReference(up);
        ref float dg = ref MemoryMarshal.GetReference(dGate);
        ref float du = ref MemoryMarshal.GetReference(dUp);
        int n = gate.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var dv = Vector512.LoadUnsafe(ref d, (nuint)i);
                var act = TAct.Value(Vector512.LoadUnsafe(ref g, (nuint)i), out var slope);
                (dv * Vector512.LoadUnsafe(ref u, (nuint)i) * slope).StoreUnsafe(ref dg, (nuint)i);
                (dv * act).StoreUnsafe(ref du, (nuint)i);
            }
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var dv = Vector256.LoadUnsafe(ref d, (nuint)i);
                var act = TAct.Value(Vector256.LoadUnsafe(ref g, (nuint)i), out var slope);
                (dv * Vector256.LoadUnsafe(ref u, (nuint)i) * slope).StoreUnsafe(ref dg, (nuint)i);
                (dv * act).StoreUnsafe(ref du, (nuint)i);
            }
        for (; i < n; i++)
        {
            float dv = Unsafe.Add(ref d, i);
            float act = TAct.Value(Unsafe.Add(ref g, i), out float slope);
            Unsafe.Add(ref dg, i) = dv * Unsafe.Add(ref u, i) * slope;
            Unsafe.Add(ref du, i) = dv * act;
        }
    }

    private static void RequireSameLength(int expected, int actual, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, gate has {expected}", name);
    }

    /// <summary>act(g) and its derivative at every SIMD width; the generic loops above are specialised per struct.</summary>
    private interface IGateFunction
    {
        static abstract Vector512<float> Value(Vector512<float> g);
        static abstract Vector512<float> Value(Vector512<float> g, out Vector512<float> slope);
        static abstract Vector256<float> Value(Vector256<float> g);
        static abstract Vector256<float> Value(Vector256<float> g, out Vector256<float> slope);
        static abstract float Value(float g);
        static abstract float Value(float g, out float slope);
    }

    // σ(z) = 1/(1 + e^(−z)): e^(−z) overflows to +∞ for z < −88, giving exactly 0, which is the right limit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sigmoid(Vector512<float> z) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-z));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> z) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-z));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sigmoid(float z) => 1f / (1f + MathF.Exp(-z));

    // σ(z) and its complement 1 − σ(z) = e^(−z)·σ(z), which avoids the cancellation of 1 − σ for large z (the
    // derivatives need it). z is clamped at −80 so e^(−z) stays finite (∞·0 would be NaN); σ(−80) ≈ 2e-35 ≈ 0 anyway.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sigmoid(Vector512<float> z, out Vector512<float> complement)
    {
        var e = Vector512.Exp(-Vector512.Max(z, Vector512.Create(-80f)));
        var s = Vector512<float>.One / (Vector512<float>.One + e);
        complement = e * s;
        return s;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> z, out Vector256<float> complement)
    {
        var e = Vector256.Exp(-Vector256.Max(z, Vector256.Create(-80f)));
        var s = Vector256<float>.One / (Vector256<float>.One + e);
        complement = e * s;
        return s;
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sigmoid(float z, out float complement)
    {
        float e = MathF.Exp(-MathF.Max(z, -80f));
        float s = 1f / (1f + e);
        complement = e * s;
        return s;
    }

    /// <summary>silu(g) = g·σ(g); silu'(g) = σ(g)·(1 + g·(1 − σ(g))).</summary>
    private readonly struct SiluFunction : IGateFunction
    {
        public static Vector512<float> Value(Vector512<float> g) => g * Sigmoid(g);
        public static Vector512<float> Value(Vector512<float> g, out Vector512<float> slope)
        {
            var s = Sigmoid(g, out var sc);
            slope = s * (Vector512<float>.One + g * sc);
            return g * s;
        }
        public static Vector256<float> Value(Vector256<float> g) => g * Sigmoid(g);
        public static Vector256<float> Value(Vector256<float> g, out Vector256<float> slope)
        {
            var s = Sigmoid(g, out var sc);
            slope = s * (Vector256<float>.One + g * sc);
            return g * s;
        }
        public static float Value(float g) => g * Sigmoid(g);
        public static float Value(float g, out float slope)
        {
            float s = Sigmoid(g, out float sc);
            slope = s * (1f + g * sc);
            return g * s;
        }
    }

    /// <summary>
    /// gelu_tanh(g) = g·σ(z), z = 2·√(2/π)·(g + 0.044715·g³);
    /// gelu_tanh'(g) = σ(z) + g·σ(z)·(1 − σ(z))·dz/dg, dz/dg = 2·√(2/π)·(1 + 3·0.044715·g²).
    /// </summary>
    private readonly struct GeluTanhFunction : IGateFunction
    {
        private const float TwoK = 1.5957691216057308f;           // 2·√(2/π)
        private const float TwoKC = TwoK * 0.044715f;              // 2·√(2/π)·0.044715
        private const float ThreeTwoKC = 3f * TwoKC;

        public static Vector512<float> Value(Vector512<float> g) => g * Sigmoid(g * (Vector512.Create(TwoK) + Vector512.Create(TwoKC) * g * g));
        public static Vector512<float> Value(Vector512<float> g, out Vector512<float> slope)
        {
            var g2 = g * g;
            var s = Sigmoid(g * (Vector512.Create(TwoK) + Vector512.Create(TwoKC) * g2), out var sc);
            var dz = Vector512.Create(TwoK) + Vector512.Create(ThreeTwoKC) * g2;
            slope = s + g * s * sc * dz;
            return g * s;
        }
        public static Vector256<float> Value(Vector256<float> g) => g * Sigmoid(g * (Vector256.Create(TwoK) + Vector256.Create(TwoKC) * g * g));
        public static Vector256<float> Value(Vector256<float> g, out Vector256<float> slope)
        {
            var g2 = g * g;
            var s = Sigmoid(g * (Vector256.Create(TwoK) + Vector256.Create(TwoKC) * g2), out var sc);
            var dz = Vector256.Create(TwoK) + Vector256.Create(ThreeTwoKC) * g2;
            slope = s + g * s * sc * dz;
            return g * s;
        }
        public static float Value(float g) => g * Sigmoid(g * (TwoK + TwoKC * g * g));
        public static float Value(float g, out float slope)
        {
            float g2 = g * g;
            float s = Sigmoid(g * (TwoK + TwoKC * g2), out float sc);
            slope = s + g * s * sc * (TwoK + ThreeTwoKC * g2);
            return g * s;
        }
    }
}
