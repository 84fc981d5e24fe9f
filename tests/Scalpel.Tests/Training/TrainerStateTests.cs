using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Training;

public class TrainerStateTests
{
    private static readonly TrainerOptions Options = new() { LearningRate = 5e-3f, WarmupSteps = 2, TotalSteps = 6, WeightDecay = 0.01f };

    /// <summary>
    /// 3 steps, save adapter + optimizer state, 3 more; versus a fresh model that loads both and does the last 3.
    /// LoRA dropout is on, so the resumed masks must be the same ones too.
    /// </summary>
    [Fact]
    public void ResumingFromSavedStateEndsBitIdentical()
    {
        var spec = TinyCheckpoint.Llama();
        using var baseDir = new TinyCheckpoint.TempDir();
        using var ckpt = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, baseDir.Path, seed: 4);
        var batches = DecoderOracle.Batches(spec.VocabSize, 5, [9, 12], [20], [4, 4, 4]);

        float[][] uninterrupted;
        using (var model = DecoderModel.Load(baseDir.Path, new CpuBackend()))
        {
            model.ApplyLora(new LoraConfig { Rank = 4, Dropout = 0.1f, TargetModules = ["all-linear"] }, seed: 1);
            using var trainer = new Trainer(model, Options);
            for (int s = 0; s < 3; s++) trainer.TrainStep([batches[s % 3]]);
            PeftAdapter.Save(model, ckpt.Path);
            trainer.SaveState(Path.Combine(ckpt.Path, "optimizer.safetensors"));
            for (int s = 3; s < 6; s++) trainer.TrainStep([batches[s % 3]]);
            uninterrupted = model.TrainableParameters.Select(p => DecoderOracle.Download(model, p)).ToArray();
        }

        using var resumed = DecoderModel.Load(baseDir.Path, new CpuBackend());
        PeftAdapter.Load(resumed, ckpt.Path);
        using var resumedTrainer = new Trainer(resumed, Options);
        resumedTrainer.LoadState(Path.Combine(ckpt.Path, "optimizer.safetensors"));
        Assert.Equal(3, resumedTrainer.Step);
        for (int s = 3; s < 6; s++) resumedTrainer.TrainStep([batches[s % 3]]);
        var after = resumed.TrainableParameters.Select(p => DecoderOracle.Download(resumed, p)).ToArray();
        Assert.Equal(uninterrupted.Length, after.Length);
        for (int i = 0; i < after.Length; i++) Assert.Equal(uninterrupted[i], after[i]);
    }
}
