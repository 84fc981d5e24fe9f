using Scalpel.Evaluation.Metrics;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Evaluation.Metrics;

public class BootstrapTests(ITestOutputHelper output)
{
    [Fact]
    public void ResamplesAreSeededAndDrawNItems()
    {
        var a = new Bootstrap(50, new BootstrapOptions(Resamples: 10, Seed: 7));
        var b = new Bootstrap(50, new BootstrapOptions(Resamples: 10, Seed: 7));
        var c = new Bootstrap(50, new BootstrapOptions(Resamples: 10, Seed: 8));
        int[] wa = new int[50], wb = new int[50], wc = new int[50];
        for (int r = 0; r < 10; r++)
        {
            a.FillWeights(r, wa);
            b.FillWeights(r, wb);
            c.FillWeights(r, wc);
            Assert.Equal(wa, wb);
            Assert.NotEqual(wa, wc);
            Assert.Equal(50, wa.Sum());
            Assert.Contains(0, wa);   // P(no item left out of 50 draws) is 50!/50^50
        }
        a.FillWeights(3, wb);
        a.FillWeights(4, wc);
        Assert.NotEqual(wb, wc);
    }

    [Fact]
    public void DrawsAreUniformOverItems()
    {
        // 2000 resamples of 10 draws: each item is drawn 2000 times in expectation, sd ≈ 42.
        var bootstrap = new Bootstrap(10, new BootstrapOptions(Resamples: 2000));
        var totals = new long[10];
        var weights = new int[10];
        for (int r = 0; r < 2000; r++)
        {
            bootstrap.FillWeights(r, weights);
            for (int i = 0; i < 10; i++) totals[i] += weights[i];
        }
        Assert.All(totals, t => Assert.InRange(t, 2000 - 170, 2000 + 170));
    }

    [Fact]
    public void PercentileInterpolatesLikeNumpy()
    {
        double[] sorted = [1, 2, 3, 4];
        // numpy.percentile([1,2,3,4], [0, 25, 50, 97.5, 100]) = [1, 1.75, 2.5, 3.925, 4]
        Assert.Equal(1.0, Bootstrap.Percentile(sorted, 0), 12);
        Assert.Equal(1.75, Bootstrap.Percentile(sorted, 0.25), 12);
        Assert.Equal(2.5, Bootstrap.Percentile(sorted, 0.5), 12);
        Assert.Equal(3.925, Bootstrap.Percentile(sorted, 0.975), 12);
        Assert.Equal(4.0, Bootstrap.Percentile(sorted, 1), 12);
        Assert.Equal((double.NaN, double.NaN), Bootstrap.Interval([double.NaN, double.NaN]));
    }

    [Fact]
    public void MeanIsTheSampleMeanWithAnIntervalAroundIt()
    {
        double[] scores = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1];
        var value = new Bootstrap(scores.Length).Mean(scores);
        Assert.Equal(0.7, value.Value, 12);
        Assert.True(value.Ci95Low < 0.7 && value.Ci95High > 0.7, value.ToString());
        Assert.InRange(value.Ci95Low, 0.3, 0.6);
        Assert.InRange(value.Ci95High, 0.8, 1.0);

        var constant = new Bootstrap(5).Mean([2, 2, 2, 2, 2]);
        Assert.Equal(new MetricValue(2, 2, 2), constant);
    }

    [Fact]
    public void NaNScoresAreLeftOut()
    {
        Assert.Equal(2.0, Bootstrap.WeightedMean([1, double.NaN, 3], [1, 1, 1]), 12);
        Assert.Equal(1.5, Bootstrap.WeightedMean([1, double.NaN, 3], [3, 5, 1]), 12);
        Assert.True(double.IsNaN(Bootstrap.WeightedMean([1, double.NaN], [0, 2])));
    }

    [Fact]
    public void IntervalCoversTheTrueMeanAboutNinetyFivePercentOfTheTime()
    {
        // Bernoulli(0.7), n = 200, 400 seeded trials: a 95% interval should cover 0.7 in ~380 of them.
        var rng = new Random(1234);
        int covered = 0;
        const int trials = 400;
        for (int t = 0; t < trials; t++)
        {
            var sample = new double[200];
            for (int i = 0; i < sample.Length; i++) sample[i] = rng.NextDouble() < 0.7 ? 1 : 0;
            var ci = new Bootstrap(sample.Length, new BootstrapOptions(Seed: (ulong)t)).Mean(sample);
            if (ci.Ci95Low <= 0.7 && 0.7 <= ci.Ci95High) covered++;
        }
        output.WriteLine($"coverage {covered}/{trials}");
        Assert.InRange((double)covered / trials, 0.90, 0.99);
    }

    [Fact]
    public void PairedDifferenceOfAShiftIsExact()
    {
        double[] b = [0.1, 0.5, 0.3, 0.9, 0.2];
        double[] a = [.. b.Select(x => x + 0.25)];
        var paired = new Bootstrap(5).PairedDifference(a, b);
        Assert.Equal(0.25, paired.Difference.Value, 12);
        Assert.Equal(0.25, paired.Difference.Ci95Low, 12);
        Assert.Equal(0.25, paired.Difference.Ci95High, 12);
        Assert.Equal(1.0, paired.FractionAGreater);
        Assert.Equal(0.0, paired.FractionBGreater);
        Assert.True(paired.BeyondNoise);

        var same = new Bootstrap(5).PairedDifference(b, b);
        Assert.Equal(new MetricValue(0, 0, 0), same.Difference);
        Assert.Equal((0.0, 0.0), (same.FractionAGreater, same.FractionBGreater));
        Assert.False(same.BeyondNoise);
    }

    [Fact]
    public void PairedDifferenceTellsARealGapFromNoise()
    {
        var rng = new Random(99);
        int n = 300;
        double[] strong = new double[n], weak = new double[n], alsoWeak = new double[n];
        for (int i = 0; i < n; i++)
        {
            strong[i] = rng.NextDouble() < 0.8 ? 1 : 0;
            weak[i] = rng.NextDouble() < 0.5 ? 1 : 0;
            alsoWeak[i] = rng.NextDouble() < 0.5 ? 1 : 0;
        }
        var bootstrap = new Bootstrap(n);
        var gap = bootstrap.PairedDifference(strong, weak);
        Assert.True(gap.BeyondNoise, gap.ToString());
        Assert.True(gap.FractionAGreater > 0.99, gap.ToString());
        Assert.Equal(strong.Average() - weak.Average(), gap.Difference.Value, 12);

        var noise = bootstrap.PairedDifference(weak, alsoWeak);
        Assert.False(noise.BeyondNoise, noise.ToString());
        Assert.InRange(noise.FractionAGreater, 0.025, 0.975);
        Assert.Equal(1.0, noise.FractionAGreater + noise.FractionBGreater, 1);
    }

    [Fact]
    public void PairedDifferenceSkipsItemsWithoutBothScores()
    {
        var paired = new Bootstrap(4).PairedDifference([1, double.NaN, 3, 5], [0, 1, double.NaN, 4]);
        Assert.Equal(2, paired.Count);
        Assert.Equal(1.0, paired.Difference.Value, 12);   // (1-0 + 5-4) / 2
    }

    [Fact]
    public void MetricsOfOneRunShareResamples()
    {
        // exact and normalized match agree on every item here, so over the same resamples their intervals are equal.
        var items = Enumerable.Range(0, 40).Select(i => new EvalItem(i % 3 == 0 ? "x" : "y", "y")).ToArray();
        var results = new IMetric[] { new ExactMatchMetric(), new NormalizedMatchMetric() }.ComputeAll(items);
        Assert.Equal(results[0].Headline, results[1].Headline);

        // Other resamples give another interval (continuous scores, so intervals cannot coincide by rounding).
        double[] scores = [.. Enumerable.Range(0, 40).Select(i => Math.Sin(i) * 10)];
        var first = new Bootstrap(40).Mean(scores);
        Assert.Equal(first, new Bootstrap(40).Mean(scores));
        Assert.NotEqual(first, new Bootstrap(40, new BootstrapOptions(Seed: 12345)).Mean(scores));
    }

    [Fact]
    public void ZeroItemsOrAMismatchedBootstrapIsAnError()
    {
        Assert.Throws<ArgumentException>(() => new ExactMatchMetric().Compute([], new Bootstrap(0)));
        Assert.Throws<ArgumentException>(() => new ExactMatchMetric().Compute([new EvalItem("a", "a")], new Bootstrap(2)));
        Assert.Throws<ArgumentException>(() => new Bootstrap(3).PairedDifference([1, 2, 3], [1, 2]));
    }
}
