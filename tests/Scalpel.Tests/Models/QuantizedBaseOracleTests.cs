using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Models;

/// <summary>
/// LoRA on a quantized base (QLoRA): loss and LoRA gradients against the PyTorch reference decoder
/// (tests/oracles/decoder.py) given the same dequantized weights — what the blocks dequantize to is what PyTorch
/// multiplies by, so the forward through NF4 / Q8_0 and the backward dx = dy·W through them are both checked.
/// </summary>
public class QuantizedBaseOracleTests
{
    [Theory]
    [InlineData("NF4", "llama-gqa2")]
    [InlineData("NF4", "qwen2-bias-tied-gqa4")]
    [InlineData("Q8_0", "llama-gqa2")]
    public void LoraOnAQuantizedBaseMatchesPyTorchOnTheDequantizedWeights(string formatName, string variant)
    {
        var precision = Enum.Parse<WeightPrecision>(formatName);
        var spec = DecoderModelOracleTests.Variant(variant);
        using var dir = new TinyCheckpoint.TempDir();
        var original = TinyCheckpoint.Write(spec, dir.Path, seed: 21, storeAs: DType.BF16);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend(), precision);

        // The blocks' linears are quantized; the embedding, LM head and norms are as without quantization.
        var format = Enum.Parse<DType>(formatName);
        Assert.All(model.Parameters.Where(p => p.Name.Contains(".layers.") && p.Name.EndsWith("_proj.weight")), p => Assert.Equal(format, p.Value.DType));
        Assert.Equal(DType.BF16, model.Parameters.First(p => p.Name == "model.embed_tokens.weight").Value.DType);
        Assert.All(model.Parameters.Where(p => p.Name.EndsWith("norm.weight")), p => Assert.Equal(DType.F32, p.Value.DType));

        var lora = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] };
        model.ApplyLora(lora, seed: 7);
        DecoderOracle.RandomizeLoraB(model, 11);
        var batches = DecoderOracle.Batches(spec.VocabSize, 3, [5, 9, 1, 14], [17, 6]);
        model.ZeroGradients();
        double totalWeight = batches.Sum(b => b.LossWeight);
        double lossSum = batches.Sum(b => model.ForwardBackward(b, (float)(1 / totalWeight)).LossSum);

        // Every weight as the model holds it (quantized ones dequantized by Download), not the checkpoint's.
        var inputs = DecoderOracle.Inputs(spec, [], model, batches);
        var expected = TorchOracle.Run("decoder.py", inputs, new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = batches.Length, mode = "grads", trainable = "lora",
        });
        Assert.Equal(expected["loss"].Floats[0], lossSum / totalWeight, 1e-4);
        int checkedCount = 0;
        foreach (var p in model.TrainableParameters)
        {
            DecoderOracle.AssertTensorClose(expected["grad." + p.Name].Floats, DecoderOracle.DownloadGrad(model, p), 2e-4f, 2e-3f, p.Name);
            checkedCount++;
        }
        Assert.Equal(spec.NumLayers * 7 * 2, checkedCount);

        // The oracle really saw quantized weights: they differ from the checkpoint's, by a quantizer's error.
        string q = "model.layers.0.self_attn.q_proj.weight";
        var diff = original[q].Zip(inputs[q].Floats, (a, b) => MathF.Abs(a - b)).ToArray();
        Assert.True(diff.Max() > 0, "the quantized weight equals the original");
        Assert.True(diff.Max() < 0.2f * original[q].Max(MathF.Abs), $"quantization error {diff.Max()}");
    }

    [Fact]
    public void QuantizedBasesLoseLittleAgainstTheBf16Model()
    {
        var spec = DecoderModelOracleTests.Variant("llama-gqa2");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 22, storeAs: DType.BF16);
        var batch = DecoderOracle.Batches(spec.VocabSize, 8, [16, 9])[0];
        using var bf16 = DecoderModel.Load(dir.Path, new CpuBackend());
        using var nf4 = DecoderModel.Load(dir.Path, new CpuBackend(), WeightPrecision.NF4);
        using var q8 = DecoderModel.Load(dir.Path, new CpuBackend(), WeightPrecision.Q8_0);
        double reference = bf16.Loss(batch).Mean, lossNf4 = nf4.Loss(batch).Mean, lossQ8 = q8.Loss(batch).Mean;
        Assert.NotEqual(reference, lossNf4);
        Assert.True(Math.Abs(lossQ8 - reference) < Math.Abs(lossNf4 - reference) + 1e-6, $"Q8_0 {lossQ8} vs NF4 {lossNf4} vs BF16 {reference}");
        Assert.True(Math.Abs(lossNf4 - reference) < 0.05 * reference, $"NF4 loss {lossNf4} vs BF16 {reference}");
    }
}
