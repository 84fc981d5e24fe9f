using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Xunit;

namespace Scalpel.Tests.Models;

/// <summary>
/// LoRA dropout draws masks PyTorch cannot reproduce, so its gradients are checked by central finite differences
/// with the masks held fixed (same seed and forward count for every evaluation).
/// </summary>
public class LoraDropoutGradientTests
{
    [Fact]
    public void GradientsWithDropoutMatchFiniteDifferences()
    {
        var spec = DecoderModelOracleTests.Variant("llama-gqa2");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 31);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        model.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.3f, TargetModules = ["all-linear"] }, seed: 2);
        DecoderOracle.RandomizeLoraB(model, 3);
        var batch = DecoderOracle.Batches(spec.VocabSize, 9, [9, 14])[0];
        float scale = (float)(1 / batch.LossWeight);

        const ulong pass = 100;
        double LossAt() { model.ForwardCount = pass; return model.Loss(batch, withDropout: true).Mean; }
        model.ZeroGradients();
        model.ForwardCount = pass;
        model.ForwardBackward(batch, scale);

        // The masks matter: another draw gives another loss.
        double sameMasks = LossAt();
        model.ForwardCount = pass + 1;
        Assert.NotEqual(sameMasks, model.Loss(batch, withDropout: true).Mean, 6);

        var checkedParams = model.TrainableParameters.Where(p => p.Name.Contains("layers.0.self_attn.q_proj") || p.Name.Contains("layers.1.mlp.down_proj")
                                                               || p.Name.Contains("layers.0.mlp.gate_proj.lora_A")).ToList();
        Assert.Equal(5, checkedParams.Count);
        foreach (var p in checkedParams)
        {
            var grad = DecoderOracle.DownloadGrad(model, p);
            var values = DecoderOracle.Download(model, p);
            // The three largest gradient elements: finite differences of small ones are dominated by fp32 noise.
            foreach (int i in Enumerable.Range(0, grad.Length).OrderByDescending(i => Math.Abs(grad[i])).Take(3))
            {
                const float h = 1e-2f;
                float original = values[i];
                values[i] = original + h; model.Backend.Upload(p.Value, values);
                double plus = LossAt();
                values[i] = original - h; model.Backend.Upload(p.Value, values);
                double minus = LossAt();
                values[i] = original; model.Backend.Upload(p.Value, values);
                double numeric = (plus - minus) / (2 * h);
                // Central differences: O(h²) truncation plus fp32 loss noise (~1e-6 / 2h); 5% + 2e-3 covers both,
                // while a mask applied wrongly (or not at all) changes these gradients by tens of percent.
                Assert.True(Math.Abs(numeric - grad[i]) <= 2e-3 + 0.05 * Math.Abs(grad[i]),
                    $"{p.Name}[{i}]: analytic {grad[i]:G6}, finite difference {numeric:G6}");
            }
        }
    }

    [Fact]
    public void EvaluationHasNoDropout()
    {
        // Loss and Logits are evaluation (PyTorch's eval mode, where peft's dropout is the identity): the same numbers
        // as the adapter without dropout, whatever the forward count; only training steps draw masks.
        var spec = DecoderModelOracleTests.Variant("llama-gqa2");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 31);
        string adapter = Path.Combine(dir.Path, "adapter");
        var batch = DecoderOracle.Batches(spec.VocabSize, 9, [9, 14])[0];
        using var dropped = DecoderModel.Load(dir.Path, new CpuBackend());
        dropped.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.5f, TargetModules = ["all-linear"] }, seed: 2);
        DecoderOracle.RandomizeLoraB(dropped, 3);
        PeftAdapter.Save(dropped, adapter);
        using var plain = DecoderModel.Load(dir.Path, new CpuBackend());
        PeftAdapter.Load(plain, adapter, PeftAdapter.ReadConfig(adapter) with { Dropout = 0 });

        double expected = plain.Loss(batch).Mean;
        Assert.Equal(expected, dropped.Loss(batch).Mean);
        dropped.ForwardCount = 77;
        Assert.Equal(expected, dropped.Loss(batch).Mean);
        Assert.Equal(plain.Logits(batch, [0, 5, 12]), dropped.Logits(batch, [0, 5, 12]));
        dropped.ZeroGradients();
        Assert.NotEqual(expected, dropped.ForwardBackward(batch, 1f).Mean, 6);   // a training step does drop
    }
}
