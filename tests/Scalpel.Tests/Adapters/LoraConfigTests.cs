using Scalpel.Adapters;
using Xunit;

namespace Scalpel.Tests.Adapters;

public class LoraConfigTests
{
    [Fact]
    public void ScalingIsAlphaOverRankOrOverSqrtRankForRsLora()
    {
        Assert.Equal(2f, new LoraConfig { Rank = 8, Alpha = 16 }.Scaling);
        Assert.Equal(16f / MathF.Sqrt(8), new LoraConfig { Rank = 8, Alpha = 16, UseRsLora = true }.Scaling);
    }

    [Fact]
    public void AllLinearExpandsToEverySevenProjections()
    {
        var targets = new LoraConfig { TargetModules = ["all-linear"] }.ResolveTargets();
        Assert.Equal(LoraConfig.AllLinear.Order(), targets.Order());
    }

    [Theory]
    [InlineData("qq_proj", "unknown LoRA target module 'qq_proj'")]
    public void UnknownTargetIsNamed(string module, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => new LoraConfig { TargetModules = [module] }.ResolveTargets());
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void BadRankAndDropoutAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new LoraConfig { Rank = 0 }.ResolveTargets());
        Assert.Throws<ArgumentException>(() => new LoraConfig { Dropout = 1f }.ResolveTargets());
    }
}
