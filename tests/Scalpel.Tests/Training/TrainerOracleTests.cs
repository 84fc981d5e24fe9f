using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Training;

/// <summary>
/// Five optimizer steps (2 micro-batches accumulated, warmup + cosine, clipping, weight decay) against
/// torch.optim.AdamW + LambdaLR + clip_grad_norm_ on the PyTorch reference decoder.
/// </summary>
public class TrainerOracleTests
{
    private static readonly TrainerOptions Options = new()
    {
        LearningRate = 1e-2f, WarmupSteps = 2, TotalSteps = 6, MinLearningRateRatio = 0.1f, WeightDecay = 0.1f,
        Beta1 = 0.85f, Beta2 = 0.99f, Epsilon = 1e-6f, MaxGradNorm = 0.5f,
    };

    private static object OptimizerArgs => new
    {
        lr = Options.LearningRate, warmup = Options.WarmupSteps, total = Options.TotalSteps, min_ratio = Options.MinLearningRateRatio,
        weight_decay = Options.WeightDecay, beta1 = Options.Beta1, beta2 = Options.Beta2, eps = Options.Epsilon,
        max_grad_norm = Options.MaxGradNorm, steps = 5,
    };

    [Theory]
    [InlineData("lora")]
    [InlineData("full")]
    public void FiveStepsMatchPyTorch(string trainable)
    {
        var spec = DecoderModelOracleTests.Variant("qwen2-bias-tied-gqa4");
        using var dir = new TinyCheckpoint.TempDir();
        var weights = TinyCheckpoint.Write(spec, dir.Path, seed: 21);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        var lora = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["q_proj", "v_proj", "down_proj"] };
        if (trainable == "lora")
        {
            model.ApplyLora(lora, seed: 3);
            DecoderOracle.RandomizeLoraB(model, 4);
        }
        else model.EnableFullFineTuning();
        var batches = DecoderOracle.Batches(spec.VocabSize, 8, [7, 11, 4], [19, 2]);
        var inputs = DecoderOracle.Inputs(spec, weights, model, batches);   // initial values, before training

        using var trainer = new Trainer(model, Options);
        var losses = new List<double>();
        var norms = new List<double>();
        for (int s = 0; s < 5; s++)
        {
            var r = trainer.TrainStep(batches);
            losses.Add(r.Loss);
            norms.Add(r.GradNorm);
        }
        Assert.Contains(norms, n => n > Options.MaxGradNorm);   // clipping was exercised

        var expected = TorchOracle.Run("decoder.py", inputs, new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = batches.Length, mode = "train",
            trainable, optimizer = OptimizerArgs,
        });
        for (int s = 0; s < 5; s++) Assert.Equal(expected["losses"].Floats[s], losses[s], 2e-4);
        int count = 0;
        foreach (var p in model.TrainableParameters)
        {
            // Adam normalises every gradient element, so where a gradient is near fp32 noise (k_proj.bias: softmax is
            // almost invariant to shifting k) either implementation may move the element by up to lr per step.
            // Bound: 1e-3 of that largest possible movement (5 steps · lr). A wrong decay (lr·wd·|p| per step) or
            // schedule is orders of magnitude larger.
            AssertClose.Equal(expected["param." + p.Name].Floats, DecoderOracle.Download(model, p), atol: 1e-3f * 5 * Options.LearningRate,
                rtol: 1e-4f, what: p.Name);
            count++;
        }
        Assert.True(count > 0);
    }
}
