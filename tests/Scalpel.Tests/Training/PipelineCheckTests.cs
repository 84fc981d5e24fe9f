using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Training;

public class PipelineCheckTests
{
    /// <summary>The README's main job: examples/keyword-task end to end on a tiny model built on the spot.</summary>
    [Fact]
    public void TheKeywordExampleTrainsEndToEnd()
    {
        using var work = new TinyCheckpoint.TempDir();
        var report = PipelineCheck.Run(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "config.yaml"), work.Path);
        Assert.True(report.ExactMatchBefore < 0.3, $"base exact match {report.ExactMatchBefore:P1}");
        Assert.True(report.ExactMatchAfter >= 0.95, $"fine-tuned exact match {report.ExactMatchAfter:P1}");
        foreach (var f in new[] { "report.html", "metrics.jsonl", "adapter/adapter_config.json" })
            Assert.True(File.Exists(Path.Combine(report.Run.RunDirectory, f)), f);
    }
}
