using Scalpel.Backends.Cpu.Kernels;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu;

public class GemmParallelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(64)]
    public void RunsEachChunkExactlyOnce(int count)
    {
        int[] runs = new int[count];
        for (int repeat = 0; repeat < 50; repeat++)
            GemmParallel.Run(count, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(50, r));
    }

    [Fact]
    public void RethrowsAChunksException()
    {
        int finished = 0;
        var e = Assert.Throws<InvalidOperationException>(() => GemmParallel.Run(4, i =>
        {
            if (i == 2) throw new InvalidOperationException("chunk 2");
            Interlocked.Increment(ref finished);
        }));
        Assert.Equal("chunk 2", e.Message);
        Assert.Equal(3, finished); // the other chunks still ran to completion before Run returned
    }

    /// <summary>Called from inside busy pool threads (nested parallelism) it still completes: the caller takes unclaimed chunks.</summary>
    [Fact]
    public void NestedCallsComplete()
    {
        int total = 0;
        Parallel.For(0, 4 * Environment.ProcessorCount, _ => GemmParallel.Run(3, _ => Interlocked.Increment(ref total)));
        Assert.Equal(12 * Environment.ProcessorCount, total);
    }
}
