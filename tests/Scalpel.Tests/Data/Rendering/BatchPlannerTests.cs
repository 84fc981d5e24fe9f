using Scalpel.Data;
using Scalpel.Data.Rendering;
using Xunit;

namespace Scalpel.Tests.Data.Rendering;

public class BatchPlannerTests
{
    private static List<RenderedExample> Examples(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            int n = rng.Next(3, 200);
            return new RenderedExample(Enumerable.Repeat(i, n).ToArray(), Enumerable.Repeat(true, n).ToArray(), new SourceLocation("x", i + 1));
        }).ToList();
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, null)]
    [InlineData(false, 400)]
    public void EveryExampleOncePerEpochAndTheSameOrderForTheSameSeed(bool bucket, int? tokens)
    {
        var examples = Examples(257, 1);
        var a = BatchPlanner.PlanEpoch(examples, 3, 42, tokens is null ? 8 : null, tokens, bucket);
        var b = BatchPlanner.PlanEpoch(examples, 3, 42, tokens is null ? 8 : null, tokens, bucket);
        Assert.Equal(a.Select(x => string.Join(',', x)), b.Select(x => string.Join(',', x)));
        Assert.Equal(Enumerable.Range(0, 257), a.SelectMany(x => x).Order());
        var other = BatchPlanner.PlanEpoch(examples, 4, 42, tokens is null ? 8 : null, tokens, bucket);
        Assert.NotEqual(a.Select(x => string.Join(',', x)), other.Select(x => string.Join(',', x)));
        if (tokens is int budget) Assert.All(a, batch => Assert.True(batch.Length == 1 || batch.Sum(i => examples[i].Ids.Length) <= budget));
        else Assert.All(a.SkipLast(1), batch => Assert.True(batch.Length <= 8));
    }

    [Fact]
    public void BucketingGroupsSimilarLengths()
    {
        var examples = Examples(1024, 2);
        double Spread(List<int[]> plan) => plan.Average(batch => batch.Max(i => examples[i].Ids.Length) - batch.Min(i => examples[i].Ids.Length));
        var plain = BatchPlanner.PlanEpoch(examples, 0, 7, 8, null);
        var bucketed = BatchPlanner.PlanEpoch(examples, 0, 7, 8, null, bucketByLength: true);
        Assert.True(Spread(bucketed) < Spread(plain) / 5, $"length spread per batch: bucketed {Spread(bucketed):F1}, plain {Spread(plain):F1}");
    }
}
