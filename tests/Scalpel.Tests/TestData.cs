namespace Scalpel.Tests;

/// <summary>Deterministic random inputs for kernel tests.</summary>
public static class TestData
{
    public static float[] Uniform(Random rng, int count, float scale = 1f)
    {
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return data;
    }

    public static float[] Normal(Random rng, int count, float std = 1f)
    {
        var data = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            data[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return data;
    }
}
