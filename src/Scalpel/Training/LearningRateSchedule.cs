namespace Scalpel.Training;

/// <summary>
/// Linear warmup then cosine decay, as transformers' get_cosine_schedule_with_warmup (with an optional floor):
/// step s (0-based optimizer step) gets lr · s/warmup during warmup, then
/// lr · (min + (1 − min) · ½(1 + cos(π · progress))) with progress = (s − warmup)/(total − warmup).
/// </summary>
public sealed record LearningRateSchedule(float PeakLearningRate, int WarmupSteps, int TotalSteps, float MinRatio = 0f)
{
    public float At(int step)
    {
        if (step < WarmupSteps) return PeakLearningRate * step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        progress = Math.Min(progress, 1.0);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(PeakLearningRate * (MinRatio + (1 - MinRatio) * cosine));
    }
}
