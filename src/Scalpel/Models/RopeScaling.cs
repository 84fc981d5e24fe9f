namespace Scalpel.Models;

public enum RopeType
{
    /// <summary>Plain rotary embedding: inv_freq[i] = theta^(-2i/headDim).</summary>
    Default,
    /// <summary>Position interpolation: every frequency divided by <see cref="RopeScaling.Factor"/>.</summary>
    Linear,
    /// <summary>Llama 3.1 wavelength-dependent smoothing between scaled and unscaled frequencies.</summary>
    Llama3,
}

/// <summary>How rotary frequencies are adjusted for long context (config.json's rope_scaling / rope_parameters).</summary>
public sealed record RopeScaling(
    RopeType Type,
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositions = 8192)
{
    public static RopeScaling None { get; } = new(RopeType.Default);
}
