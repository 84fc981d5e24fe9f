using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Training;

public class LearningRateScheduleTests
{
    [Fact]
    public void WarmsUpLinearlyThenFollowsTheCosineDownToTheFloor()
    {
        var s = new LearningRateSchedule(1f, WarmupSteps: 4, TotalSteps: 14, MinRatio: 0.1f);
        Assert.Equal(0f, s.At(0));
        Assert.Equal(0.5f, s.At(2));
        Assert.Equal(1f, s.At(4));
        Assert.Equal(0.1f + 0.9f * 0.5f, s.At(9), 6);    // halfway through the decay: cos(π/2) = 0
        Assert.Equal(0.1f, s.At(14), 6);
        Assert.Equal(0.1f, s.At(100), 6);                 // past the end it stays at the floor
    }
}
