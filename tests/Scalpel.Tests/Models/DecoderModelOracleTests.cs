using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Models;

/// <summary>Whole-model loss and gradients against the PyTorch reference decoder (tests/oracles/decoder.py).</summary>
public class DecoderModelOracleTests
{
    public static TheoryData<string> Variants => new() { "llama-gqa2", "qwen2-bias-tied-gqa4", "qwen3-qknorm", "llama3-rope", "mistral-window", "gemma", "linear-rope-mlpbias" };

    public static ModelSpec Variant(string name) => name switch
    {
        "llama-gqa2" => TinyCheckpoint.Llama(),
        "qwen2-bias-tied-gqa4" => TinyCheckpoint.Llama(kvHeads: 1) with
        {
            Architecture = "Qwen2ForCausalLM", ModelType = "qwen2", AttentionBias = true, TieWordEmbeddings = true, RopeTheta = 1e6,
        },
        "qwen3-qknorm" => TinyCheckpoint.Llama(kvHeads: 4, headDim: 24) with
        {
            Architecture = "Qwen3ForCausalLM", ModelType = "qwen3", QkNorm = true, RmsNormEps = 1e-6,
        },
        "llama3-rope" => TinyCheckpoint.Llama() with
        {
            RopeTheta = 500000, Rope = new RopeScaling(RopeType.Llama3, 8, 1, 4, 32), TieWordEmbeddings = true,
        },
        "mistral-window" => TinyCheckpoint.Llama() with { Architecture = "MistralForCausalLM", ModelType = "mistral", SlidingWindow = 5 },
        "gemma" => TinyCheckpoint.Llama(kvHeads: 1) with
        {
            Architecture = "GemmaForCausalLM", ModelType = "gemma", NormWeightOffset = 1f, EmbeddingScale = 8f,
            Activation = Activation.GeluTanh, TieWordEmbeddings = true,
        },
        "linear-rope-mlpbias" => TinyCheckpoint.Llama(kvHeads: 4) with
        {
            Rope = new RopeScaling(RopeType.Linear, 4), AttentionBias = true, AttentionOutputBias = true, MlpBias = true,
        },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void LoraLossAndGradientsMatchPyTorch(string variant)
    {
        var spec = Variant(variant);
        using var dir = new TinyCheckpoint.TempDir();
        var weights = TinyCheckpoint.Write(spec, dir.Path, seed: variant.GetHashCode() & 0xFFFF, shards: variant == "gemma" ? 3 : 1);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        var lora = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] };
        model.ApplyLora(lora, seed: 7);
        DecoderOracle.RandomizeLoraB(model, 11);
        var batches = DecoderOracle.Batches(spec.VocabSize, 3, [5, 9, 1, 14], [17, 6]);

        model.ZeroGradients();
        double totalWeight = batches.Sum(b => b.LossWeight);
        double lossSum = batches.Sum(b => model.ForwardBackward(b, (float)(1 / totalWeight)).LossSum);

        var expected = TorchOracle.Run("decoder.py", DecoderOracle.Inputs(spec, weights, model, batches), new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = batches.Length, mode = "grads", trainable = "lora",
        });

        // fp32 forward vs float64 reference over two layers: the loss agrees to ~1e-6 relative.
        Assert.Equal(expected["loss"].Floats[0], lossSum / totalWeight, 1e-4);
        int checkedCount = 0;
        foreach (var p in model.TrainableParameters)
        {
            DecoderOracle.AssertTensorClose(expected["grad." + p.Name].Floats, DecoderOracle.DownloadGrad(model, p), 2e-4f, 2e-3f, p.Name);
            checkedCount++;
        }
        Assert.Equal(spec.NumLayers * 7 * 2, checkedCount);
    }

    [Fact]
    public void FullFineTuningGradientsMatchPyTorch()
    {
        var spec = Variant("qwen3-qknorm") with { AttentionBias = true, AttentionOutputBias = true, TieWordEmbeddings = true, NumKvHeads = 2 };
        using var dir = new TinyCheckpoint.TempDir();
        var weights = TinyCheckpoint.Write(spec, dir.Path, seed: 5);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        model.EnableFullFineTuning();
        var batches = DecoderOracle.Batches(spec.VocabSize, 4, [12, 3, 20]);
        model.ZeroGradients();
        var result = model.ForwardBackward(batches[0], (float)(1 / batches[0].LossWeight));

        var expected = TorchOracle.Run("decoder.py", DecoderOracle.Inputs(spec, weights, model, batches), new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = 0, micro_batches = 1, mode = "grads", trainable = "full",
        });
        Assert.Equal(expected["loss"].Floats[0], result.Mean, 1e-4);
        foreach (var p in model.Parameters)
            DecoderOracle.AssertTensorClose(expected["grad." + p.Name].Floats, DecoderOracle.DownloadGrad(model, p), 2e-4f, 2e-3f, p.Name);
    }

    [Fact]
    public void GradientCheckpointingGivesTheSameGradients()
    {
        var spec = Variant("qwen3-qknorm");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 9);
        var batch = DecoderOracle.Batches(spec.VocabSize, 5, [10, 13])[0];
        float[][] Run(bool checkpointing)
        {
            using var model = DecoderModel.Load(dir.Path, new CpuBackend());
            model.ApplyLora(new LoraConfig { Rank = 2, TargetModules = ["all-linear"], Dropout = 0.1f }, seed: 1);
            DecoderOracle.RandomizeLoraB(model, 2);
            model.GradientCheckpointing = checkpointing;
            model.ZeroGradients();
            model.ForwardBackward(batch, 0.1f);
            return model.TrainableParameters.Select(p => DecoderOracle.DownloadGrad(model, p)).ToArray();
        }
        var plain = Run(false);
        var recomputed = Run(true);
        Assert.Equal(plain.Length, recomputed.Length);
        // Recomputation repeats the same fp32 operations with the same dropout masks: bit-identical.
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i], recomputed[i]);
        Assert.Contains(plain, g => g.Any(v => v != 0));
    }

    [Fact]
    public void Bf16BaseWeightsGiveTheSameLossAsTheirF32Widening()
    {
        var spec = Variant("llama-gqa2");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 12, storeAs: DType.BF16);
        var batch = DecoderOracle.Batches(spec.VocabSize, 6, [16, 9])[0];
        using var bf16 = DecoderModel.Load(dir.Path, new CpuBackend());
        using var f32 = DecoderModel.Load(dir.Path, new CpuBackend(), WeightPrecision.F32);
        Assert.Equal(DType.BF16, bf16.Parameters.First(p => p.Name.EndsWith("q_proj.weight")).Value.DType);
        Assert.Equal(DType.F32, f32.Parameters.First(p => p.Name.EndsWith("q_proj.weight")).Value.DType);
        Assert.Equal(f32.Loss(batch).Mean, bf16.Loss(batch).Mean, 1e-5);
    }
}
