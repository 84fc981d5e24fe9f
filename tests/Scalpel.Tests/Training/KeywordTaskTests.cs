using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Training;

public class KeywordTaskTests
{
    /// <summary>From chance (~20% over 5 labels, usually less: the base rarely even names a label) to ≥ 95% exact match.</summary>
    [Fact]
    public void LoraFineTuningLearnsTheTask()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var report = KeywordTask.RunDemo(dir.Path);
        Assert.True(report.AccuracyBefore < 0.4, $"the random base model should be near chance, got {report.AccuracyBefore:P0}");
        Assert.True(report.AccuracyAfter >= 0.95, $"fine-tuned accuracy {report.AccuracyAfter:P1} < 95% (loss {report.FinalLoss:F3})");
        Assert.True(report.Elapsed < TimeSpan.FromMinutes(1), $"took {report.Elapsed}");
    }
}
