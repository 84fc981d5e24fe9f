using Scalpel.Models;
using Xunit;

namespace Scalpel.Tests.Models;

public class TokenBatchTests
{
    [Fact]
    public void PackRestartsPositionsAndShiftsTargetsWithinEachSequence()
    {
        var batch = TokenBatch.Pack([
            ([10, 11, 12], [false, true, true]),
            ([20, 21], [false, false]),
            ([30, 31, 32, 33], [false, false, true, true]),
        ]);
        Assert.Equal([10, 11, 12, 20, 21, 30, 31, 32, 33], batch.InputIds);
        Assert.Equal([0, 1, 2, 0, 1, 0, 1, 2, 3], batch.Positions);
        Assert.Equal([0, 0, 0, 3, 3, 5, 5, 5, 5], batch.SegmentStart);
        // Token t learns token t+1 of its own sequence when that token is marked; never across sequences.
        Assert.Equal([11, 12, -100, -100, -100, -100, 32, 33, -100], batch.Targets);
        Assert.Equal(4, batch.LossWeight);
    }

    [Fact]
    public void PackCarriesPerTokenWeightsOfTheTargetToken()
    {
        var batch = TokenBatch.Pack([([1, 2, 3], [false, true, true])], [[9f, 0.5f, 2f]]);
        Assert.Equal([0.5f, 2f, 0f], batch.Weights!);
        Assert.Equal(2.5, batch.LossWeight);
    }

    [Fact]
    public void MismatchedMaskIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => TokenBatch.Pack([([1, 2, 3], [true])]));
        Assert.Contains("sequence 0", e.Message);
    }
}
