using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Models;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

public class GatedActivationTests
{
    // Values where the activations bend, saturate or where a naive formula breaks: silu' = 0 near −1.278, gelu' = 0 near
    // −0.752, e^(−g) overflows F32 below −88, tanh saturates past ±9.
    private static readonly float[] Specials = [0f, 1e-4f, -1e-4f, -0.752f, -1.278f, 3f, -3f, 5f, -5f, 10f, -10f, 20f, -20f, 50f, -50f, -87f, -89f, 100f, -100f];

    // Exp, a division and 3-4 products in F32: ≤ ~1e-6 relative to the value; where the derivative crosses 0 the
    // cancellation leaves an absolute error ~1e-7·|dOut·up|, covered by atol 1e-6 with |dOut·up| ≲ 10.
    private const float Rtol = 2e-6f, Atol = 1e-6f;

    public static TheoryData<Activation, int> Cases()
    {
        var data = new TheoryData<Activation, int>();
        foreach (var a in new[] { Activation.Silu, Activation.GeluTanh })
            foreach (int n in new[] { 1, 3, 17, 63, 65, 127, 576, 100_003 }) // 100 003 ≥ 64K: parallel chunks
                data.Add(a, n);
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void MatchesReference(Activation activation, int n)
    {
        var rng = new Random(n * 3 + (int)activation);
        var (gate, up, dOut) = Inputs(rng, n);

        var output = new float[n];
        GatedActivation.Forward(activation, gate, up, output);
        AssertClose.Equal(GatedActivationReference.Forward(activation, gate, up), output, Atol, Rtol, $"{activation} forward");

        float[] dGate = new float[n], dUp = new float[n];
        GatedActivation.Backward(activation, dOut, gate, up, dGate, dUp);
        var (dGateRef, dUpRef) = GatedActivationReference.Backward(activation, dOut, gate, up);
        AssertClose.Equal(dGateRef, dGate, Atol, Rtol, $"{activation} dGate");
        AssertClose.Equal(dUpRef, dUp, Atol, Rtol, $"{activation} dUp");
    }

    [Fact]
    public void MatchesPyTorch()
    {
        (Activation Act, int N)[] cases = [(Activation.Silu, 63), (Activation.GeluTanh, 63), (Activation.Silu, 4099), (Activation.GeluTanh, 70_001)];
        var rng = new Random(99);
        var inputs = new Dictionary<string, OracleTensor>();
        var data = new List<(float[] Gate, float[] Up, float[] DOut)>();
        for (int i = 0; i < cases.Length; i++)
        {
            var d = Inputs(rng, cases[i].N);
            data.Add(d);
            inputs[$"gate{i}"] = new(d.Gate, cases[i].N); inputs[$"up{i}"] = new(d.Up, cases[i].N); inputs[$"dout{i}"] = new(d.DOut, cases[i].N);
        }
        var expected = TorchOracle.Run("kernels_gated.py", inputs,
            new { cases = cases.Select(c => new { activation = c.Act == Activation.Silu ? "silu" : "gelu_tanh" }).ToArray() });

        for (int i = 0; i < cases.Length; i++)
        {
            var (act, n) = cases[i];
            var (gate, up, dOut) = data[i];
            float[] output = new float[n], dGate = new float[n], dUp = new float[n];
            GatedActivation.Forward(act, gate, up, output);
            GatedActivation.Backward(act, dOut, gate, up, dGate, dUp);
            // The oracle computes in float64, so the tolerances are the kernel's own F32 error, as above.
            string what = $"case {i} ({act}, n {n})";
            AssertClose.Equal(expected[$"out{i}"].Floats, output, Atol, Rtol, what + " out");
            AssertClose.Equal(expected[$"dgate{i}"].Floats, dGate, Atol, Rtol, what + " dGate");
            AssertClose.Equal(expected[$"dup{i}"].Floats, dUp, Atol, Rtol, what + " dUp");
        }
    }

    [Fact]
    public void RejectsMismatchedLengths()
    {
        Assert.Throws<ArgumentException>(() => GatedActivation.Forward(Activation.Silu, new float[4], new float[3], new float[4]));
        Assert.Throws<ArgumentException>(() => GatedActivation.Forward(Activation.Silu, new float[4], new float[4], new float[5]));
        Assert.Throws<ArgumentException>(() =>
            GatedActivation.Backward(Activation.GeluTanh, new float[4], new float[4], new float[4], new float[3], new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GatedActivation.Forward((Activation)42, new float[1], new float[1], new float[1]));
    }

    // gate ~ N(0, 3²) with the special values scattered in (so they land in 16-wide, 8-wide and scalar lanes);
    // up and dOut ~ N(0, 1).
    private static (float[] Gate, float[] Up, float[] DOut) Inputs(Random rng, int n)
    {
        float[] gate = TestData.Normal(rng, n, 3f), up = TestData.Normal(rng, n), dOut = TestData.Normal(rng, n);
        for (int k = 0; k < Specials.Length && k < n; k++) gate[rng.Next(n)] = Specials[k];
        gate[n - 1] = Specials[rng.Next(Specials.Length)];
        return (gate, up, dOut);
    }
}
