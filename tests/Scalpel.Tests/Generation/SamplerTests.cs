using Scalpel.Generation;
using Xunit;

namespace Scalpel.Tests.Generation;

/// <summary>Sampling filters against hand-computed cases (transformers' definitions) and the sampled distribution against softmax.</summary>
public class SamplerTests
{
    private static float[] Logits(params double[] probabilities) => probabilities.Select(p => (float)Math.Log(p)).ToArray();

    /// <summary>The tokens a sampler can ever return, by sampling many times.</summary>
    private static SortedSet<int> Support(SamplingOptions options, float[] logits, int draws = 3000)
    {
        var sampler = new Sampler(options with { Seed = 1 });
        var seen = new SortedSet<int>();
        for (int i = 0; i < draws; i++) seen.Add(sampler.Sample(logits.ToArray(), []));
        return seen;
    }

    [Fact]
    public void GreedyTakesTheLargestLogit() =>
        Assert.Equal(2, new Sampler(SamplingOptions.Greedy).Sample(new float[] { 1, 3, 7, -2 }, []));

    [Fact]
    public void TopKKeepsTheKMostLikely() =>
        Assert.Equal([0, 2], Support(new SamplingOptions { TopK = 2 }, Logits(0.4, 0.1, 0.3, 0.2)));

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // Sorted: 0.4 (tok 0), 0.3 (tok 2), 0.2 (tok 3), 0.1 (tok 1). Cumulative 0.4, 0.7, 0.9, 1.0.
        Assert.Equal([0, 2], Support(new SamplingOptions { TopP = 0.7f }, Logits(0.4, 0.1, 0.3, 0.2)));
        Assert.Equal([0, 2, 3], Support(new SamplingOptions { TopP = 0.75f }, Logits(0.4, 0.1, 0.3, 0.2)));
        Assert.Equal([0], Support(new SamplingOptions { TopP = 0.1f }, Logits(0.4, 0.1, 0.3, 0.2)));
    }

    [Fact]
    public void MinPDropsTokensBelowAFractionOfTheTop()
    {
        // threshold 0.45 × 0.4 = 0.18: keeps 0.4, 0.3, 0.2.
        Assert.Equal([0, 2, 3], Support(new SamplingOptions { MinP = 0.45f }, Logits(0.4, 0.1, 0.3, 0.2)));
        Assert.Equal([0], Support(new SamplingOptions { MinP = 0.9f }, Logits(0.4, 0.1, 0.3, 0.2)));
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce()
    {
        var logits = new float[] { 2f, -1f, 3f, 0.5f };
        Sampler.ApplyRepetitionPenalty(logits, [0, 1, 0, 1], 2f);
        Assert.Equal(new float[] { 1f, -2f, 3f, 0.5f }, logits);
        // And it changes a greedy choice: 3 vs 4 → 3 vs 2.
        Assert.Equal(1, new Sampler(SamplingOptions.Greedy with { RepetitionPenalty = 2f }).Sample(new float[] { 1f, 3f, 4f }, [2]));
    }

    [Fact]
    public void MaskedTokensAreNeverChosen()
    {
        var logits = Logits(0.25, 0.25, 0.25, 0.25);
        logits[1] = logits[3] = float.NegativeInfinity;
        Assert.Equal([0, 2], Support(new SamplingOptions { Temperature = 2f }, logits));
        Assert.Throws<InvalidOperationException>(() => new Sampler(SamplingOptions.Greedy).Sample(new[] { float.NegativeInfinity }, []));
    }

    [Fact]
    public void SampledFrequenciesFollowTheTemperedSoftmax()
    {
        var logits = new float[] { 1f, 2f, 0f, 1.5f };
        const float temperature = 0.7f;
        var expected = logits.Select(l => Math.Exp(l / temperature)).ToArray();
        double z = expected.Sum();
        var sampler = new Sampler(new SamplingOptions { Temperature = temperature, Seed = 42 });
        const int draws = 40_000;
        var counts = new int[logits.Length];
        for (int i = 0; i < draws; i++) counts[sampler.Sample(logits.ToArray(), [])]++;
        // Pearson χ² with 3 degrees of freedom: 16.27 is the 0.1% critical value.
        double chi2 = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double e = draws * expected[i] / z;
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
        }
        Assert.True(chi2 < 16.27, $"χ² = {chi2:F2} for counts [{string.Join(", ", counts)}]");
    }

    [Fact]
    public void BadSettingsAreRefusedByName()
    {
        Assert.Contains("top_p", Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions { TopP = 0 })).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions { Temperature = -1 })).Message);
    }
}
