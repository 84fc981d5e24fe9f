using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.CrossEntropy;

/// <summary>The kernel and its naive twin against F.cross_entropy under autograd (tests/oracles/cross_entropy.py).</summary>
public class FusedCrossEntropyOracleTests
{
    [Fact]
    public void MatchesPyTorchAutograd()
    {
        (CrossEntropyCase Case, int Chunk)[] cases =
        [
            (new(37, 19, 1000, false, TokenWeighting.Mixed, 0.125f), 8),
            (new(29, 64, 5003, true, TokenWeighting.Uniform, 1f / 29), 0),
            (new(16, 7, 37, false, TokenWeighting.None, 3f), 0),
        ];
        var inputs = new Dictionary<string, OracleTensor>();
        var all = cases.Select(c => c.Case.MakeInputs()).ToArray();
        for (int i = 0; i < cases.Length; i++)
        {
            var (c, x) = (cases[i].Case, all[i]);
            inputs[$"h{i}"] = new(x.Hidden, c.Tokens, c.Dim);
            inputs[$"w{i}"] = new(x.Weight, c.Vocab, c.Dim);
            inputs[$"y{i}"] = new(x.Targets, c.Tokens);
            inputs[$"tw{i}"] = new(x.TokenWeights.Length == 0 ? Enumerable.Repeat(1f, c.Tokens).ToArray() : x.TokenWeights, c.Tokens);
        }
        var torch = TorchOracle.Run("cross_entropy.py", inputs, new { cases = cases.Select(c => new { gradScale = (double)c.Case.GradScale }) });

        for (int i = 0; i < cases.Length; i++)
        {
            var (c, x) = (cases[i].Case, all[i]);
            var naive = NaiveCrossEntropy.Run(x.Hidden, x.Weight, c.Tokens, c.Dim, c.Vocab, x.Targets, x.TokenWeights, c.GradScale);
            var fast = FusedCrossEntropyTests.RunFast(c, x, cases[i].Chunk);
            // Gradients: kernel and twin against autograd, with the tolerances of the kernel-vs-twin tests.
            CrossEntropyAssert.Gradient(torch[$"dh{i}"].Floats, fast.DHidden, $"kernel vs torch {c} dHidden");
            CrossEntropyAssert.Gradient(torch[$"dh{i}"].Floats, naive.DHidden, $"twin vs torch {c} dHidden");
            CrossEntropyAssert.Gradient(torch[$"dw{i}"].Floats, naive.DWeight, $"twin vs torch {c} dWeight");
            if (!c.Bf16) CrossEntropyAssert.Gradient(torch[$"dw{i}"].Floats, fast.DWeight, $"kernel vs torch {c} dWeight");
            // Loss: torch's comes back rounded to fp32 (an ulp is 3e-5 at ≈ 280), so 1e-6 relative here.
            double loss = torch[$"loss{i}"].Floats[0];
            Assert.True(Math.Abs(loss - fast.Result.LossSum) <= 1e-6 * Math.Abs(loss) + 1e-5, $"{c}: LossSum torch {loss:G9} kernel {fast.Result.LossSum:G9}");
            Assert.True(Math.Abs(loss - naive.LossSum) <= 1e-6 * Math.Abs(loss) + 1e-5, $"{c}: LossSum torch {loss:G9} twin {naive.LossSum:G9}");
        }
    }
}
