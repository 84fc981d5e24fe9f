namespace Scalpel.Backends.Cpu.Kernels;

/// <summary>
/// One AdamW step with torch.optim.AdamW semantics (decoupled weight decay, bias correction):
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps), with step t ≥ 1.
/// </summary>
public static class AdamW
{
    public static void Step(Span<float> parameter, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step) => throw new NotImplementedException();
}
