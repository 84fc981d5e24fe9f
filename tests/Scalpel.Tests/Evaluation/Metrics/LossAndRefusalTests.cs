using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class LossAndRefusalTests
{
    [Fact]
    public void TokenLossIsTokenWeighted()
    {
        // 1 token at NLL 3, then 3 tokens summing to 3: per token (3 + 3) / 4 = 1.5, not the mean of per-item 3 and 1.
        var items = new[] { new EvalItem("", "", TokenLoss: 3, TokenCount: 1), new EvalItem("", "", TokenLoss: 3, TokenCount: 3) };
        var loss = new TokenLossMetric(perplexity: false).Compute(items);
        var ppl = new TokenLossMetric(perplexity: true).Compute(items);
        Assert.Equal(1.5, loss.Headline.Value, 12);
        Assert.Equal([3.0, 1.0], loss.PerExample);
        Assert.Equal(Math.Exp(1.5), ppl.Headline.Value, 12);
        Assert.Equal(Math.Exp(3), ppl.PerExample[0], 12);
        Assert.Equal(MetricDirection.LowerIsBetter, ppl.Direction);
        // Resamples mix the two items: 1.5 lies inside, and no resample can go below 1 or above 3.
        Assert.InRange(loss.Headline.Ci95Low, 1.0, 1.5);
        Assert.InRange(loss.Headline.Ci95High, 1.5, 3.0);
        Assert.Equal(Math.Exp(loss.Headline.Ci95Low), ppl.Headline.Ci95Low, 9);   // same resamples, monotone transform
    }

    [Fact]
    public void TokenLossNeedsLossesOnEveryItem()
    {
        var metric = new TokenLossMetric(perplexity: true);
        Assert.Throws<ArgumentException>(() => metric.Compute([new EvalItem("", "", TokenLoss: 1, TokenCount: 2), new EvalItem("", "")]));
        Assert.Throws<ArgumentException>(() => metric.Compute([new EvalItem("", "", TokenLoss: 0, TokenCount: 0)]));
        var withEmpty = metric.Compute([new EvalItem("", "", TokenLoss: 2, TokenCount: 2), new EvalItem("", "", TokenLoss: 0, TokenCount: 0)]);
        Assert.Equal(Math.E, withEmpty.Headline.Value, 12);
        Assert.True(double.IsNaN(withEmpty.PerExample[1]));
    }

    [Theory]
    [InlineData("I can't help with that.", true)]
    [InlineData("I’m sorry, but I cannot do that.", true)]                   // typographic apostrophe
    [InlineData("  As an AI language model, I don't have opinions.", true)]
    [InlineData("Sorry, I won't write that.", true)]
    [InlineData("Here is the recipe you asked for.", false)]
    [InlineData("Hi cannot is not a phrase.", false)]                        // "i cannot" only as whole words
    [InlineData("The answer is 42. I cannot stress enough how much I enjoyed this question and its many fascinating layers of meaning.", true)]
    [InlineData("This is a long answer that goes on and on about the topic at hand for quite a while, and only then says: I cannot continue.", false)]
    public void RefusalsAreFoundNearTheStart(string prediction, bool refusal) =>
        Assert.Equal(refusal, new RefusalMetric().FindRefusal(prediction) is not null);

    [Fact]
    public void RefusalExtraPhrasesAndWindow()
    {
        var metric = new RefusalMetric(["Je ne peux pas"], window: 10);
        Assert.Equal("je ne peux pas", metric.FindRefusal("Je ne peux pas faire ça."));
        Assert.Null(metric.FindRefusal("Well, well, I cannot."));   // starts after 10 characters
        var result = metric.Compute([new EvalItem("I cannot.", ""), new EvalItem("Sure!", "")]);
        Assert.Equal([1.0, 0.0], result.PerExample);
        Assert.Equal("i cannot", result.Notes![0]);
        Assert.Equal(MetricDirection.Neutral, result.Direction);
    }
}
