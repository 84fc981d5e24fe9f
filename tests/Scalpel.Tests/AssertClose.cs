namespace Scalpel.Tests;

/// <summary>Element-wise comparison with a mixed tolerance: |a-b| ≤ atol + rtol·|b|. Reports the worst element.</summary>
public static class AssertClose
{
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol, string what = "")
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(a) != double.IsNaN(e)) { worst = i; worstExcess = double.PositiveInfinity; break; }
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
        }
        if (worst >= 0)
            Xunit.Assert.Fail($"{what}: element {worst} expected {expected[worst]:G9} got {actual[worst]:G9} " +
                              $"(|diff| {Math.Abs(expected[worst] - actual[worst]):G4} > atol {atol} + rtol {rtol}·|e|)");
    }
}
