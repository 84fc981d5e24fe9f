using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Adapters;

public class PeftAdapterTests
{
    private static readonly ModelSpec Spec = TinyCheckpoint.Llama();

    private static DecoderModel LoadBase(string dir) => DecoderModel.Load(dir, new CpuBackend());

    [Fact]
    public void SaveThenLoadGivesTheSameWeightsAndTheSameLoss()
    {
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(Spec, baseDir.Path, seed: 1);
        var batch = DecoderOracle.Batches(Spec.VocabSize, 2, [11, 7])[0];

        double trainedLoss;
        Dictionary<string, float[]> saved;
        using (var model = LoadBase(baseDir.Path))
        {
            model.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, UseRsLora = true, TargetModules = ["q_proj", "v_proj", "down_proj"] }, seed: 5);
            DecoderOracle.RandomizeLoraB(model, 6);
            trainedLoss = model.Loss(batch).Mean;
            saved = model.TrainableParameters.ToDictionary(p => p.Name, p => DecoderOracle.Download(model, p));
            PeftAdapter.Save(model, adapterDir.Path, "org/tiny-llama");
        }

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapterDir.Path, "adapter_config.json")))!;
        Assert.Equal("LORA", (string)config["peft_type"]!);
        Assert.Equal("CAUSAL_LM", (string)config["task_type"]!);
        Assert.Equal(4, (int)config["r"]!);
        Assert.True((bool)config["use_rslora"]!);
        Assert.Equal(["down_proj", "q_proj", "v_proj"], config["target_modules"]!.AsArray().Select(t => (string)t!));
        using (var file = SafeTensorsFile.Open(Path.Combine(adapterDir.Path, "adapter_model.safetensors")))
        {
            Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", file.Tensors.Keys);
            Assert.Equal(Spec.NumLayers * 3 * 2, file.Tensors.Count);
        }

        using var reloaded = LoadBase(baseDir.Path);
        var loaded = PeftAdapter.Load(reloaded, adapterDir.Path);
        Assert.True(loaded.UseRsLora);
        foreach (var p in reloaded.TrainableParameters) Assert.Equal(saved[p.Name], DecoderOracle.Download(reloaded, p));
        Assert.Equal(trainedLoss, reloaded.Loss(batch).Mean, 12);
    }

    /// <summary>adapter_config.json as peft 0.19 writes it (every field), weights named with the adapter name kept.</summary>
    [Fact]
    public void LoadsAPeftStyleFolder()
    {
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(Spec, baseDir.Path, seed: 1);
        File.WriteAllText(Path.Combine(adapterDir.Path, "adapter_config.json"), """
            {"alora_invocation_tokens": null, "alpha_pattern": {}, "arrow_config": null, "auto_mapping": null,
             "base_model_name_or_path": "x", "bias": "none", "corda_config": null, "ensure_weight_tying": false,
             "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false, "inference_mode": true,
             "init_lora_weights": true, "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
             "loftq_config": {}, "lora_alpha": 32.0, "lora_bias": false, "lora_dropout": 0.05, "megatron_config": null,
             "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "peft_version": "0.19.1",
             "qalora_group_size": 16, "r": 2, "rank_pattern": {}, "revision": null, "target_modules": ["v_proj", "q_proj"],
             "target_parameters": null, "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_dora": false,
             "use_qalora": false, "use_rslora": false}
            """);
        var writer = new SafeTensorsWriter();
        var rng = new Random(3);
        int d = Spec.HiddenSize, q = Spec.NumHeads * Spec.HeadDim, kv = Spec.NumKvHeads * Spec.HeadDim;
        for (int l = 0; l < Spec.NumLayers; l++)
        {
            foreach (var (m, o) in new[] { ("q_proj", q), ("v_proj", kv) })
            {
                string p = $"base_model.model.model.layers.{l}.self_attn.{m}";
                writer.Add(p + ".lora_A.default.weight", DType.BF16, [2, d], TestData.Uniform(rng, 2 * d));
                writer.Add(p + ".lora_B.default.weight", DType.BF16, [o, 2], TestData.Uniform(rng, o * 2));
            }
        }
        writer.Save(Path.Combine(adapterDir.Path, "adapter_model.safetensors"));

        using var model = LoadBase(baseDir.Path);
        var config = PeftAdapter.Load(model, adapterDir.Path);
        Assert.Equal(16f, config.Scaling);
        Assert.Equal(Spec.NumLayers * 2, model.LoraModules.Count());
        Assert.All(model.LoraModules, m => Assert.Contains(DecoderOracle.Download(model, m.B), v => v != 0));
    }

    [Theory]
    [InlineData("peft_type", "\"PREFIX_TUNING\"", "PREFIX_TUNING")]
    [InlineData("modules_to_save", "[\"score\"]", "modules_to_save: 'score'")]
    [InlineData("modules_to_save", "\"lm_head\"", "modules_to_save")]
    [InlineData("trainable_token_indices", "[5, 7]", "trainable_token_indices")]
    [InlineData("rank_pattern", "{\"q_proj\": 4}", "rank_pattern")]
    [InlineData("target_modules", "\".*proj\"", "regular expressions")]
    [InlineData("target_modules", "[\"c_attn\"]", "c_attn")]
    [InlineData("bias", "\"all\"", "bias")]
    public void UnsupportedOptionsAreRefusedByName(string field, string value, string expected)
    {
        using var adapterDir = new TinyCheckpoint.TempDir();
        var config = JsonNode.Parse(PeftAdapter.ConfigJson(new LoraConfig(), "x"))!.AsObject();
        config[field] = JsonNode.Parse(value);
        File.WriteAllText(Path.Combine(adapterDir.Path, "adapter_config.json"), config.ToJsonString());
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.ReadConfig(adapterDir.Path));
        Assert.Contains("adapter_config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void AnAdapterForAnotherShapeIsRefusedBeforeAnythingIsApplied()
    {
        using var smallDir = new TinyCheckpoint.TempDir();
        using var otherDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(Spec, smallDir.Path, seed: 1);
        TinyCheckpoint.Write(TinyCheckpoint.Llama(hidden: 48, headDim: 12), otherDir.Path, seed: 1);
        using (var other = LoadBase(otherDir.Path))
        {
            other.ApplyLora(new LoraConfig { Rank = 2 });
            PeftAdapter.Save(other, adapterDir.Path);
        }
        using var model = LoadBase(smallDir.Path);
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.Load(model, adapterDir.Path));
        Assert.Contains("shape", e.Message);
        Assert.Null(model.Lora);
        Assert.Empty(model.TrainableParameters);
    }

    [Fact]
    public void MissingFolderContentIsNamed()
    {
        using var empty = new TinyCheckpoint.TempDir();
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.ReadConfig(empty.Path));
        Assert.Contains("adapter_config.json", e.Message);
    }
}
