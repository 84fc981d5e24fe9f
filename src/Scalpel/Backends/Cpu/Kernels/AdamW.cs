using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// One AdamW step with torch.optim.AdamW semantics (decoupled weight decay, bias correction):
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps), with step t ≥ 1.
/// </summary>
/// <remarks>
/// Evaluated like torch's single-tensor AdamW: the per-step scalars (1 − lr·wd, lr/(1−β1^t), 1/√(1−β2^t)) are computed
/// once in double, then per element denom = √v·(1/√(1−β2^t)) + eps and p ← p·decay − stepSize·m/denom in F32.
/// parameter, gradient, m and v are flat spans of the same length; m and v start at zero before step 1.
/// </remarks>
public static class AdamW
{
    /// <summary>Below this many elements a call stays on the calling thread.</summary>
    private const int ParallelThreshold = 64 * 1024;

    public static void Step(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        int n = parameter.Length;
        RequireSameLength(n, gradient.Length, nameof(gradient));
        RequireSameLength(n, m.Length, nameof(m));
        RequireSameLength(n, v.Length, nameof(v));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(step);
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1)");

        var s = new Scalars(lr, beta1, beta2, eps, weightDecay, step);
        int chunks = n < ParallelThreshold ? 1 : Math.Min(n / (32 * 1024), 4 * Environment.ProcessorCount);
        if (chunks <= 1) Update(parameter, gradient, m, v, s);
        else UpdateParallel(parameter, gradient, m, v, s, chunks);
    }

    // Kept out of Step: a lambda's captured state is allocated on entry to the method holding it (small calls must not pay).
    private static unsafe void UpdateParallel(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v,
        Scalars s, int chunks)
    {
        int n = parameter.Length;
        fixed (float* pp = parameter, pg = gradient, pm = m, pv = v)
        {
            // Spans cannot be captured by a lambda; the pinned pointers are sliced back into spans per chunk.
            float* cp = pp, cg = pg, cm = pm, cv = pv;
            Parallel.For(0, chunks, c =>
            {
                int i0 = (int)((long)n * c / chunks), len = (int)((long)n * (c + 1) / chunks) - i0;
                Update(new Span<float>(cp + i0, len), new ReadOnlySpan<float>(cg + i0, len), new Span<float>(cm + i0, len),
                    new Span<float>(cv + i0, len), s);
            });
        }
    }

    /// <summary>The per-step constants, rounded to F32 once.</summary>
    private readonly struct Scalars(float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        public readonly float Decay = (float)(1.0 - (double)lr * weightDecay);
        public readonly float Beta1 = beta1, OneMinusBeta1 = (float)(1.0 - beta1);
        public readonly float Beta2 = beta2, OneMinusBeta2 = (float)(1.0 - beta2);
        public readonly float StepSize = (float)(lr / (1.0 - Math.Pow(beta1, step)));
        public readonly float InvSqrtBias2 = (float)(1.0 / Math.Sqrt(1.0 - Math.Pow(beta2, step)));
        public readonly float Eps = eps;
    }

    private static void Update(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v, in Scalars s)
    {
        ref float p = ref MemoryMarshal.GetReference(parameter);
        ref float g = ref MemoryMarshal.GetReference(gradient);
        ref float pm = ref MemoryMarshal.GetReference(m);
        ref float pv = ref MemoryMarshal.GetReference(v);
        int n = parameter.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var decay = Vector512.Create(s.Decay); var b1 = Vector512.Create(s.Beta1); var c1 = Vector512.Create(s.OneMinusBeta1);
            var b2 = Vector512.Create(s.Beta2); var c2 = Vector512.Create(s.OneMinusBeta2);
            var stepSize = Vector512.Create(s.StepSize); var invSqrtBias2 = Vector512.Create(s.InvSqrtBias2); var eps = Vector512.Create(s.Eps);
            for (; i <= n - 16; i += 16)
            {
                var gv = Vector512.LoadUnsafe(ref g, (nuint)i);
                var mv = b1 * Vector512.LoadUnsafe(ref pm, (nuint)i) + c1 * gv;
                var vv = b2 * Vector512.LoadUnsafe(ref pv, (nuint)i) + c2 * (gv * gv);
                var denom = Vector512.Sqrt(vv) * invSqrtBias2 + eps;
                (Vector512.LoadUnsafe(ref p, (nuint)i) * decay - stepSize * (mv / denom)).StoreUnsafe(ref p, (nuint)i);
                mv.StoreUnsafe(ref pm, (nuint)i);
                vv.StoreUnsafe(ref pv, (nuint)i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var decay = Vector256.Create(s.Decay); var b1 = Vector256.Create(s.Beta1); var c1 = Vector256.Create(s.OneMinusBeta1);
            var b2 = Vector256.Create(s.Beta2); var c2 = Vector256.Create(s.OneMinusBeta2);
            var stepSize = Vector256.Create(s.StepSize); var invSqrtBias2 = Vector256.Create(s.InvSqrtBias2); var eps = Vector256.Create(s.Eps);
            for (; i <= n - 8; i += 8)
            {
                var gv = Vector256.LoadUnsafe(ref g, (nuint)i);
                var mv = b1 * Vector256.LoadUnsafe(ref pm, (nuint)i) + c1 * gv;
                var vv = b2 * Vector256.LoadUnsafe(ref pv, (nuint)i) + c2 * (gv * gv);
                var denom = Vector256.Sqrt(vv) * invSqrtBias2 + eps;
                (Vector256.LoadUnsafe(ref p, (nuint)i) * decay - stepSize * (mv / denom)).StoreUnsafe(ref p, (nuint)i);
                mv.StoreUnsafe(ref pm, (nuint)i);
                vv.StoreUnsafe(ref pv, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float gi = Unsafe.Add(ref g, i);
            float mi = s.Beta1 * Unsafe.Add(ref pm, i) + s.OneMinusBeta1 * gi;
            float vi = s.Beta2 * Unsafe.Add(ref pv, i) + s.OneMinusBeta2 * (gi * gi);
            float denom = MathF.Sqrt(vi) * s.InvSqrtBias2 + s.Eps;
            Unsafe.Add(ref p, i) = Unsafe.Add(ref p, i) * s.Decay - s.StepSize * (mi / denom);
            Unsafe.Add(ref pm, i) = mi;
            Unsafe.Add(ref pv, i) = vi;
        }
    }

    private static void RequireSameLength(int expected, int actual, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, the parameter has {expected}", name);
    }
}
