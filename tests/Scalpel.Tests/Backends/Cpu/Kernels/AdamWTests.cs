using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class AdamWTests
{
    private const int Steps = 5;

    // Non-default hyperparameters so that each one matters (a swapped beta or a decay applied after the update fails).
    private const float Lr = 3e-3f, Beta1 = 0.8f, Beta2 = 0.95f, Eps = 1e-6f, WeightDecay = 0.1f;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(63)]
    [InlineData(65)]
    [InlineData(127)]
    [InlineData(576)]
    [InlineData(100_003)] // ≥ 64K: parallel chunks
    public void MatchesReference(int n)
    {
        var rng = new Random(n);
        float[] p0 = TestData.Normal(rng, n);
        float[][] grads = Gradients(rng, n);

        float[] p = (float[])p0.Clone(), m = new float[n], v = new float[n];
        double[] pRef = p0.Select(x => (double)x).ToArray(), mRef = new double[n], vRef = new double[n];
        for (int t = 1; t <= Steps; t++)
        {
            AdamW.Step(p, grads[t - 1], m, v, Lr, Beta1, Beta2, Eps, WeightDecay, t);
            AdamWReference.Step(pRef, grads[t - 1], mRef, vRef, Lr, Beta1, Beta2, Eps, WeightDecay, t);
        }
        AssertState(pRef, mRef, vRef, p, m, v, grads, $"n {n}");
    }

    [Fact]
    public void MatchesTorchOptimAdamW()
    {
        (float Lr, float Beta1, float Beta2, float Eps, float Wd, int N)[] cases =
        [
            (Lr, Beta1, Beta2, Eps, WeightDecay, 127),
            (1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 65),   // torch's defaults
            (0.1f, 0.5f, 0.9f, 1e-4f, 0.5f, 70_001),   // large lr and decay, parallel chunks
        ];
        var rng = new Random(11);
        var inputs = new Dictionary<string, OracleTensor>();
        var data = new List<(float[] P, float[][] G)>();
        for (int i = 0; i < cases.Length; i++)
        {
            int n = cases[i].N;
            float[] p = TestData.Normal(rng, n);
            float[][] g = Gradients(rng, n);
            data.Add((p, g));
            inputs[$"p{i}"] = new(p, n);
            inputs[$"g{i}"] = new(g.SelectMany(x => x).ToArray(), Steps, n);
        }
        var expected = TorchOracle.Run("kernels_adamw.py", inputs, new
        {
            cases = cases.Select(c => new { lr = (double)c.Lr, beta1 = (double)c.Beta1, beta2 = (double)c.Beta2, eps = (double)c.Eps, weightDecay = (double)c.Wd }).ToArray(),
        });

        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            var (p0, grads) = data[i];
            float[] p = (float[])p0.Clone(), m = new float[c.N], v = new float[c.N];
            for (int t = 1; t <= Steps; t++) AdamW.Step(p, grads[t - 1], m, v, c.Lr, c.Beta1, c.Beta2, c.Eps, c.Wd, t);
            AssertState(expected[$"p{i}"].Floats.Select(x => (double)x).ToArray(), expected[$"m{i}"].Floats.Select(x => (double)x).ToArray(),
                expected[$"v{i}"].Floats.Select(x => (double)x).ToArray(), p, m, v, grads, $"case {i}");
        }
    }

    [Fact]
    public void RejectsBadArguments()
    {
        float[] a = new float[4], b = new float[4], c = new float[4], d = new float[4];
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(a, b, c, d, Lr, Beta1, Beta2, Eps, WeightDecay, 0)); // step ≥ 1
        Assert.Throws<ArgumentException>(() => AdamW.Step(a, new float[3], c, d, Lr, Beta1, Beta2, Eps, WeightDecay, 1));
        Assert.Throws<ArgumentException>(() => AdamW.Step(a, b, c, new float[5], Lr, Beta1, Beta2, Eps, WeightDecay, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(a, b, c, d, Lr, 1f, Beta2, Eps, WeightDecay, 1));
    }

    // Five steps of gradients: N(0,1) mostly, with a spread of scales per element (1e-4 … 10, where √v̂ ~ eps matters
    // at the small end) and exact zeros.
    private static float[][] Gradients(Random rng, int n)
    {
        float[] elementScale = Enumerable.Range(0, n).Select(_ => (float)Math.Pow(10, rng.Next(-4, 2))).ToArray();
        var grads = new float[Steps][];
        for (int s = 0; s < Steps; s++)
        {
            grads[s] = TestData.Normal(rng, n);
            for (int i = 0; i < n; i++) grads[s][i] = rng.Next(20) == 0 ? 0f : grads[s][i] * elementScale[i];
        }
        return grads;
    }

    // The expected state is float64 (reference twin or torch in float64). The kernel's F32 state rounds ~6 times per
    // element per step: m and v stay within ~1e-6 relative (m absolute against the largest |g| it averaged, since
    // its terms cancel); p drifts by ≲ 1e-6·|p| per step from its own rounding plus ~1e-6 of each update (≤ lr·few).
    private static void AssertState(double[] pRef, double[] mRef, double[] vRef, float[] p, float[] m, float[] v, float[][] grads, string what)
    {
        AssertClose.Equal(pRef.Select(x => (float)x).ToArray(), p, atol: 1e-6f, rtol: 1e-6f * Steps, what: what + " p");
        for (int i = 0; i < m.Length; i++)
        {
            double gMax = grads.Max(g => Math.Abs(g[i]));
            if (Math.Abs(m[i] - mRef[i]) > 1e-6 * gMax + 1e-6 * Math.Abs(mRef[i]))
                Assert.Fail($"{what} m: element {i} expected {mRef[i]:G9} got {m[i]:G9} (gradients up to {gMax:G3})");
        }
        AssertClose.Equal(vRef.Select(x => (float)x).ToArray(), v, atol: 1e-30f, rtol: 2e-6f, what: what + " v");
    }
}
