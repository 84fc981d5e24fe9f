using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Backends.Cpu.Attention;

/// <summary>The kernel and its naive twin against PyTorch autograd on HF-style eager attention (tests/oracles/attention.py).</summary>
public class CausalAttentionOracleTests
{
    [Fact]
    public void MatchesPyTorchAutograd()
    {
        AttentionCase[] cases =
        [
            new([1, 7, 33, 64, 130], 4, 2, 24, 0),          // packed, GQA 2, odd head size
            new([300], 6, 2, 64, 50, InputStd: 2f),         // one sequence, GQA 3, sliding window
            new([128, 100, 60], 9, 3, 64, 0),               // the typical head layout (9 q heads over 3 kv heads)
            new([40, 90], 2, 2, 40, 17),                    // plain multi-head, window inside tiles
        ];
        var inputs = new Dictionary<string, OracleTensor>();
        var all = new List<AttentionCase.Inputs>();
        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            var x = c.MakeInputs();
            all.Add(x);
            inputs[$"q{i}"] = new(x.Q, c.Tokens, c.QHeads, c.HeadDim);
            inputs[$"k{i}"] = new(x.K, c.Tokens, c.KvHeads, c.HeadDim);
            inputs[$"v{i}"] = new(x.V, c.Tokens, c.KvHeads, c.HeadDim);
            inputs[$"dout{i}"] = new(x.DOut, c.Tokens, c.QHeads, c.HeadDim);
            inputs[$"seg{i}"] = new(c.SegmentStart(), c.Tokens);
        }
        var torch = TorchOracle.Run("attention.py", inputs, new { cases = cases.Select(c => new { scale = (double)c.Scale, window = c.Window }) });

        for (int i = 0; i < cases.Length; i++)
        {
            var c = cases[i];
            var expected = new NaiveAttention.Result(torch[$"out{i}"].Floats, torch[$"lse{i}"].Floats, torch[$"dq{i}"].Floats,
                torch[$"dk{i}"].Floats, torch[$"dv{i}"].Floats);
            // Same tolerances as against the naive twin (float64 PyTorch is exact to fp32 precision here).
            AttentionAssert.Close(expected, CausalAttentionTests.RunFast(c, all[i]), $"kernel vs torch {c}");
            var x = all[i];
            var naive = NaiveAttention.Run(x.Q, x.K, x.V, x.DOut, c.SegmentStart(), c.Tokens, c.QHeads, c.KvHeads, c.HeadDim, c.Scale, c.Window);
            AttentionAssert.Close(expected, new CausalAttentionTests.Fast(naive.Output, naive.Lse, naive.Dq, naive.Dk, naive.Dv),
                $"naive twin vs torch {c}");
        }
    }
}
