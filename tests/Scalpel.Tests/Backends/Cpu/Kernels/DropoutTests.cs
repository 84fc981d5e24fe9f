using Scalpel.Backends.Cpu.Kernels;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class DropoutTests
{
    /// <summary>Plain twin: the documented rule, element by element.</summary>
    private static float[] Reference(float[] x, float p, ulong seed) =>
        x.Select((v, i) => Dropout.Hash(seed, (uint)i) >> 8 >= Dropout.Threshold(p) ? v * (1f / (1f - p)) : 0f).ToArray();

    [Theory]
    [InlineData(1, 0.1f)]
    [InlineData(7, 0.5f)]
    [InlineData(1003, 0.05f)]
    [InlineData(200_003, 0.3f)]   // the parallel path, with a tail that is not a multiple of the vector width
    public void FastPathEqualsTheReferenceBitForBit(int n, float p)
    {
        var x = TestData.Uniform(new Random(n), n);
        var y = new float[n];
        Dropout.Apply(x, y, p, seed: 0xDEADBEEF12345678UL);
        Assert.Equal(Reference(x, p, 0xDEADBEEF12345678UL), y);
    }

    [Fact]
    public void KeepsTheExpectedShareAndInPlaceGivesTheSameMask()
    {
        var x = Enumerable.Repeat(1f, 1_000_000).ToArray();
        var y = new float[x.Length];
        Dropout.Apply(x, y, 0.2f, seed: 42);
        double kept = y.Count(v => v != 0) / (double)y.Length;
        Assert.InRange(kept, 0.798, 0.802);                  // 1e6 Bernoulli(0.8): σ ≈ 0.0004
        Assert.All(y.Where(v => v != 0), v => Assert.Equal(1.25f, v));
        var inPlace = (float[])x.Clone();
        Dropout.Apply(inPlace, inPlace, 0.2f, seed: 42);
        Assert.Equal(y, inPlace);
        var other = new float[x.Length];
        Dropout.Apply(x, other, 0.2f, seed: 43);
        Assert.NotEqual(y, other);
    }
}
