using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Adapters;

/// <summary>
/// DoRA, LoRA+ and modules_to_save against tests/oracles/decoder.py, which writes peft's DoRA formula
/// (DoraLinearLayer.forward: detached row norm of W + s·B·A, (g − 1)·x·Wᵀ + g·s·B·A·x on top of the base) and
/// groups parameters as peft's create_loraplus_optimizer; plus the PEFT file layout both ways.
/// </summary>
public class AdapterVariantsTests
{
    private static DecoderModel LoadAs(string precision, string dir) => precision switch
    {
        "NF4" => DecoderModel.Load(dir, new CpuBackend(), WeightPrecision.NF4),
        "Q8_0" => DecoderModel.Load(dir, new CpuBackend(), WeightPrecision.Q8_0),
        _ => DecoderModel.Load(dir, new CpuBackend()),
    };

    /// <summary>Random B (B = 0 hides A's gradient) and magnitudes off their initial norms (so g ≠ 1 and dm is non-trivial).</summary>
    private static void Perturb(DecoderModel model, int seed)
    {
        DecoderOracle.RandomizeLoraB(model, seed);
        var rng = new Random(seed + 1);
        foreach (var linear in model.LoraLinears)
        {
            var m = linear.Lora!.Dora!.Magnitude;
            var values = DecoderOracle.Download(model, m);
            for (int i = 0; i < values.Length; i++) values[i] *= 1f + 0.2f * (float)(rng.NextDouble() - 0.5);
            model.Backend.Upload(m.Value, values);
        }
    }

    private static string[] Modules(string list) => list.Length == 0 ? [] : list.Split(',');

    [Theory]
    [InlineData("BF16", "llama-gqa2", "")]
    [InlineData("NF4", "llama-gqa2", "")]
    [InlineData("Q8_0", "qwen3-qknorm", "lm_head")]
    [InlineData("BF16", "qwen2-bias-tied-gqa4", "lm_head")]
    [InlineData("F32", "gemma", "embed_tokens")]
    [InlineData("F32", "linear-rope-mlpbias", "embed_tokens,lm_head")]
    public void DoraLossAndGradientsMatchPeftsFormula(string precision, string variant, string modulesToSave)
    {
        var spec = DecoderModelOracleTests.Variant(variant);
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 41, storeAs: precision == "F32" ? DType.F32 : DType.BF16);
        using var model = LoadAs(precision, dir.Path);
        var lora = new LoraConfig { Rank = 4, Alpha = 8, UseDora = true, TargetModules = ["all-linear"], ModulesToSave = Modules(modulesToSave) };
        model.ApplyLora(lora, seed: 7);

        // peft initialises m to ‖W_i + s·(B·A)_i‖ = ‖W_i‖ (B = 0), of the weight as the layer holds it (dequantized).
        foreach (var linear in model.LoraLinears.Take(3))
        {
            var w = DecoderOracle.Download(model, linear.Weight);
            var norms = Enumerable.Range(0, linear.Out)
                .Select(i => (float)Math.Sqrt(w.AsSpan(i * linear.In, linear.In).ToArray().Sum(v => (double)v * v))).ToArray();
            AssertClose.Equal(norms, DecoderOracle.Download(model, linear.Lora!.Dora!.Magnitude), atol: 0, rtol: 1e-5f, what: linear.Name);
        }
        // Untied when one side of tied embeddings trains (peft wraps a copy); tied otherwise.
        Assert.Equal(spec.TieWordEmbeddings && modulesToSave.Length == 0, model.TiedEmbeddings);

        Perturb(model, 11);
        var batches = DecoderOracle.Batches(spec.VocabSize, 3, [5, 9, 1, 14], [17, 6]);
        model.ZeroGradients();
        double totalWeight = batches.Sum(b => b.LossWeight);
        double lossSum = batches.Sum(b => model.ForwardBackward(b, (float)(1 / totalWeight)).LossSum);

        var trainable = model.TrainableParameters.Select(p => p.Name).ToArray();
        var expected = TorchOracle.Run("decoder.py", DecoderOracle.Inputs(spec, [], model, batches), new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = batches.Length, mode = "grads", trainable,
        });
        Assert.Equal(expected["loss"].Floats[0], lossSum / totalWeight, 1e-4);
        foreach (var p in model.TrainableParameters)
            DecoderOracle.AssertTensorClose(expected["grad." + p.Name].Floats, DecoderOracle.DownloadGrad(model, p), 2e-4f, 2e-3f, p.Name);
        Assert.Equal(spec.NumLayers * 7 * 3 + Modules(modulesToSave).Length, trainable.Length);
        Assert.Equal(spec.NumLayers * 7, trainable.Count(n => n.EndsWith(".lora_magnitude_vector", StringComparison.Ordinal)));
    }

    /// <summary>
    /// With dropout, peft keeps the base term on the undropped x and computes DoRA's correction on the dropped x̃:
    /// base(x) + (g − 1)·x̃·Wᵀ + g·s·B·A·x̃. The oracle gets the very masks the engine drew (rebuilt from their seeds);
    /// gradient checkpointing recomputes the same forward bit for bit.
    /// </summary>
    [Fact]
    public void DoraWithDropoutMatchesPeftOnTheSameMasks()
    {
        var spec = DecoderModelOracleTests.Variant("qwen2-bias-tied-gqa4");
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 43);
        var batches = DecoderOracle.Batches(spec.VocabSize, 9, [9, 14]);
        var lora = new LoraConfig { Rank = 4, Alpha = 8, Dropout = 0.3f, UseDora = true, TargetModules = ["all-linear"], ModulesToSave = ["embed_tokens"] };
        const ulong pass = 100;
        float[][] Grads(bool checkpointing, Action<DecoderModel, double>? check = null)
        {
            using var model = DecoderModel.Load(dir.Path, new CpuBackend());
            model.ApplyLora(lora, seed: 2);
            Perturb(model, 3);
            model.GradientCheckpointing = checkpointing;
            model.ZeroGradients();
            model.ForwardCount = pass;
            double loss = model.ForwardBackward(batches[0], (float)(1 / batches[0].LossWeight)).Mean;
            check?.Invoke(model, loss);
            return model.TrainableParameters.Select(p => DecoderOracle.DownloadGrad(model, p)).ToArray();
        }
        var plain = Grads(false, (model, loss) =>
        {
            var inputs = DecoderOracle.Inputs(spec, [], model, batches.Take(1).ToList());
            int tokens = batches[0].Count;
            for (int l = 0; l < spec.NumLayers; l++)
            {
                var linears = model.Blocks[l].Linears;
                for (int i = 0; i < linears.Length; i++)
                {
                    // The forward above ran as pass + 1; its mask on ones is the mask itself (0 or 1/(1 − p)).
                    using var ones = model.Backend.Allocate(DType.F32, tokens, linears[i].In);
                    model.Backend.Upload(ones, Enumerable.Repeat(1f, tokens * linears[i].In).ToArray());
                    model.Backend.Dropout(ones, ones, lora.Dropout, model.DropoutSeedFor(pass + 1, l, i));
                    var mask = new float[tokens * linears[i].In];
                    model.Backend.Download(ones, mask);
                    Assert.Contains(0f, mask);
                    inputs["mask." + linears[i].Name] = new OracleTensor(mask, tokens, linears[i].In);
                }
            }
            var expected = TorchOracle.Run("decoder.py", inputs, new
            {
                spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = 1, mode = "grads",
                trainable = model.TrainableParameters.Select(p => p.Name).ToArray(),
            });
            Assert.Equal(expected["loss"].Floats[0], loss, 1e-4);
            foreach (var p in model.TrainableParameters)
                DecoderOracle.AssertTensorClose(expected["grad." + p.Name].Floats, DecoderOracle.DownloadGrad(model, p), 2e-4f, 2e-3f, p.Name);
        });
        var recomputed = Grads(true);
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i], recomputed[i]);
    }

    [Fact]
    public void SaveWritesPeftKeysAndLoadGivesTheSameModel()
    {
        var spec = DecoderModelOracleTests.Variant("qwen2-bias-tied-gqa4");
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, baseDir.Path, seed: 5);
        var batch = DecoderOracle.Batches(spec.VocabSize, 2, [11, 7])[0];
        var lora = new LoraConfig { Rank = 2, Alpha = 4, UseDora = true, TargetModules = ["q_proj", "down_proj"], ModulesToSave = ["lm_head"] };
        double loss;
        Dictionary<string, float[]> saved;
        using (var model = DecoderModel.Load(baseDir.Path, new CpuBackend()))
        {
            model.ApplyLora(lora, seed: 1);
            Perturb(model, 2);
            var head = model.Parameters.Single(p => p.Name == "lm_head.weight");
            var values = DecoderOracle.Download(model, head);
            for (int i = 0; i < values.Length; i += 7) values[i] += 0.05f;
            model.Backend.Upload(head.Value, values);
            loss = model.Loss(batch).Mean;
            saved = model.TrainableParameters.ToDictionary(p => p.Name, p => DecoderOracle.Download(model, p));
            PeftAdapter.Save(model, adapterDir.Path, "org/tiny");
        }

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapterDir.Path, "adapter_config.json")))!;
        Assert.True((bool)config["use_dora"]!);
        Assert.Equal(["lm_head"], config["modules_to_save"]!.AsArray().Select(t => (string)t!));
        using (var file = SafeTensorsFile.Open(Path.Combine(adapterDir.Path, "adapter_model.safetensors")))
        {
            Assert.Equal([spec.HiddenSize], file.Tensors["base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector"].Shape.Select(d => (int)d));
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", file.Tensors.Keys);
            Assert.Equal([spec.VocabSize, spec.HiddenSize], file.Tensors["base_model.model.lm_head.weight"].Shape.Select(d => (int)d));
            Assert.Equal(spec.NumLayers * 2 * 3 + 1, file.Tensors.Count);
        }

        using var reloaded = DecoderModel.Load(baseDir.Path, new CpuBackend());
        var read = PeftAdapter.Load(reloaded, adapterDir.Path);
        Assert.True(read.UseDora);
        Assert.False(reloaded.TiedEmbeddings);
        foreach (var p in reloaded.TrainableParameters) Assert.Equal(saved[p.Name], DecoderOracle.Download(reloaded, p));
        Assert.Equal(loss, reloaded.Loss(batch).Mean, 12);

        // Merged: DoRA folded into the weights, the untied head written, tie_word_embeddings off.
        using var mergedDir = new TinyCheckpoint.TempDir();
        string merged = Path.Combine(mergedDir.Path, "m");
        MergedExport.Write(reloaded, baseDir.Path, merged, DType.F32);
        Assert.False((bool)JsonNode.Parse(File.ReadAllText(Path.Combine(merged, "config.json")))!["tie_word_embeddings"]!);
        using var mergedModel = DecoderModel.Load(merged, new CpuBackend());
        Assert.False(mergedModel.TiedEmbeddings);
        Assert.Equal(loss, mergedModel.Loss(batch).Mean, 4);

        // llama.cpp's LoRA format has no magnitude: refused by name.
        var e = Assert.Throws<GgufExportException>(() => GgufExport.WriteAdapter(reloaded, baseDir.Path, Path.Combine(mergedDir.Path, "a.gguf"), GgmlType.F32));
        Assert.Contains("DoRA", e.Message);
    }

    /// <summary>An adapter folder written by hand the way peft writes one (keys, config) gives the loss the PyTorch formula gives.</summary>
    [Fact]
    public void AHandBuiltPeftFolderGivesTheOracleLoss()
    {
        var spec = DecoderModelOracleTests.Variant("llama-gqa2");
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        var weights = TinyCheckpoint.Write(spec, baseDir.Path, seed: 8);
        File.WriteAllText(Path.Combine(adapterDir.Path, "adapter_config.json"), """
            {"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "x", "bias": "none", "ensure_weight_tying": false,
             "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "layer_replication": null, "layers_pattern": null,
             "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 16, "lora_bias": false, "lora_dropout": 0.0,
             "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": ["embed_tokens"], "peft_type": "LORA",
             "r": 2, "rank_pattern": {}, "revision": null, "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM",
             "use_dora": true, "use_rslora": false}
            """);
        var rng = new Random(4);
        var writer = new SafeTensorsWriter();
        var oracleWeights = new Dictionary<string, float[]>(weights);
        void Add(string module, string suffix, int[] shape, float[] values)
        {
            writer.Add("base_model.model." + module + suffix, DType.F32, shape, values);
            oracleWeights[module + suffix] = values;
        }
        int d = spec.HiddenSize, q = spec.NumHeads * spec.HeadDim, kv = spec.NumKvHeads * spec.HeadDim;
        for (int l = 0; l < spec.NumLayers; l++)
            foreach (var (m, o) in new[] { ("self_attn.q_proj", q), ("self_attn.v_proj", kv) })
            {
                string module = $"model.layers.{l}.{m}";
                Add(module, ".lora_A.weight", [2, d], TestData.Uniform(rng, 2 * d, 0.3f));
                Add(module, ".lora_B.weight", [o, 2], TestData.Uniform(rng, o * 2, 0.3f));
                Add(module, ".lora_magnitude_vector", [o], Enumerable.Range(0, o).Select(_ => 0.5f + (float)rng.NextDouble()).ToArray());
            }
        var embed = weights["model.embed_tokens.weight"].Select(v => v + 0.02f * (float)(rng.NextDouble() - 0.5)).ToArray();
        Add("model.embed_tokens", ".weight", [spec.VocabSize, d], embed);
        writer.Save(Path.Combine(adapterDir.Path, "adapter_model.safetensors"), new Dictionary<string, string> { ["format"] = "pt" });

        using var model = DecoderModel.Load(baseDir.Path, new CpuBackend());
        var config = PeftAdapter.Load(model, adapterDir.Path);
        var batches = DecoderOracle.Batches(spec.VocabSize, 5, [12, 8]);
        double loss = model.Loss(batches[0]).Mean;
        var inputs = DecoderOracle.Inputs(spec, oracleWeights, model, batches.Take(1).ToList());
        var expected = TorchOracle.Run("decoder.py", inputs, new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = config.Scaling, micro_batches = 1, mode = "grads",
            trainable = new[] { "model.embed_tokens.weight" },
        });
        Assert.Equal(expected["loss"].Floats[0], loss, 1e-4);

        // An adapter that replaces the embedding cannot be one of several per-sequence adapters on a shared base.
        using var plain = DecoderModel.Load(baseDir.Path, new CpuBackend());
        var e = Assert.Throws<AdapterFormatException>(() => PeftAdapter.LoadDetached(plain, adapterDir.Path, "x"));
        Assert.Contains("modules_to_save", e.Message);
    }

    [Fact]
    public void DetachedDoraAdapterGivesTheAppliedLogits()
    {
        var spec = DecoderModelOracleTests.Variant("qwen2-bias-tied-gqa4");
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, baseDir.Path, seed: 6, storeAs: DType.BF16);
        using (var model = DecoderModel.Load(baseDir.Path, new CpuBackend()))
        {
            model.ApplyLora(new LoraConfig { Rank = 3, Alpha = 6, UseDora = true, TargetModules = ["all-linear"] }, seed: 1);
            Perturb(model, 9);
            PeftAdapter.Save(model, adapterDir.Path);
        }
        int[] prompt = [3, 14, 15, 92, 65, 35];
        int vocab = spec.VocabSize;
        float[] Logits(DecoderModel model, AdapterWeights? adapter)
        {
            using var cache = model.CreateKvCache(2, 16);
            var logits = new float[2 * vocab];
            // Sequence 0 with the adapter, sequence 1 bare, in one batch; then a decode step.
            model.ForwardCached(cache, [new CacheAppend(0, prompt), new CacheAppend(1, prompt)], logits, adapter is null ? null : new AdapterWeights?[] { adapter, null });
            var step = new float[2 * vocab];
            model.ForwardCached(cache, [new CacheAppend(0, [7]), new CacheAppend(1, [7])], step, adapter is null ? null : new AdapterWeights?[] { adapter, null });
            return logits.Concat(step).ToArray();
        }
        using var applied = DecoderModel.Load(baseDir.Path, new CpuBackend());
        PeftAdapter.Load(applied, adapterDir.Path);
        using var bare = DecoderModel.Load(baseDir.Path, new CpuBackend());
        var withAdapter = Logits(applied, null);
        var bareLogits = Logits(bare, null);
        using var detached = PeftAdapter.LoadDetached(bare, adapterDir.Path, "dora");
        var mixed = Logits(bare, detached);
        AssertClose.Equal(withAdapter.AsSpan(0, vocab).ToArray(), mixed.AsSpan(0, vocab).ToArray(), atol: 1e-4f, rtol: 1e-4f, what: "prefill, adapter");
        AssertClose.Equal(withAdapter.AsSpan(2 * vocab, vocab).ToArray(), mixed.AsSpan(2 * vocab, vocab).ToArray(), atol: 1e-4f, rtol: 1e-4f, what: "decode, adapter");
        Assert.Equal(bareLogits.AsSpan(vocab, vocab).ToArray(), mixed.AsSpan(vocab, vocab).ToArray());
        Assert.NotEqual(bareLogits.AsSpan(0, vocab).ToArray(), mixed.AsSpan(0, vocab).ToArray());
    }

    /// <summary>LoRA+ with DoRA and a trained head: three AdamW steps against torch.optim.AdamW with peft's LoRA+ parameter groups.</summary>
    [Fact]
    public void LoraPlusStepsMatchPeftsParameterGroups()
    {
        var spec = DecoderModelOracleTests.Variant("llama-gqa2");
        using var dir = new TinyCheckpoint.TempDir();
        var weights = TinyCheckpoint.Write(spec, dir.Path, seed: 21);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        var lora = new LoraConfig { Rank = 4, Alpha = 8, UseDora = true, TargetModules = ["q_proj", "v_proj", "down_proj"], ModulesToSave = ["lm_head"] };
        model.ApplyLora(lora, seed: 3);
        Perturb(model, 4);
        var options = new TrainerOptions
        {
            LearningRate = 2e-3f, WarmupSteps = 1, TotalSteps = 4, WeightDecay = 0.1f, MaxGradNorm = 0f, LoraPlusLrRatio = 16f,
        };
        var batches = DecoderOracle.Batches(spec.VocabSize, 8, [7, 11, 4], [19, 2]);
        var inputs = DecoderOracle.Inputs(spec, weights, model, batches);
        var before = model.TrainableParameters.ToDictionary(p => p.Name, p => DecoderOracle.Download(model, p));
        using var trainer = new Trainer(model, options);
        var losses = Enumerable.Range(0, 3).Select(_ => trainer.TrainStep(batches).Loss).ToList();

        var expected = TorchOracle.Run("decoder.py", inputs, new
        {
            spec = DecoderOracle.SpecArgs(spec), lora_scaling = lora.Scaling, micro_batches = batches.Length, mode = "train",
            trainable = model.TrainableParameters.Select(p => p.Name).ToArray(),
            optimizer = new
            {
                lr = options.LearningRate, warmup = options.WarmupSteps, total = options.TotalSteps, min_ratio = 0f, weight_decay = options.WeightDecay,
                beta1 = options.Beta1, beta2 = options.Beta2, eps = options.Epsilon, max_grad_norm = 1e9, steps = 3, loraplus_ratio = 16f,
            },
        });
        for (int s = 0; s < 3; s++) Assert.Equal(expected["losses"].Floats[s], losses[s], 2e-4);
        foreach (var p in model.TrainableParameters)
        {
            // The rate each parameter got shows in how far Adam moved it: ~lr per step, ×16 for B and magnitudes.
            float scale = p.Name.Contains(".lora_B.") || p.Value.Shape.Length == 1 ? 16f : 1f;
            AssertClose.Equal(expected["param." + p.Name].Floats, DecoderOracle.Download(model, p), atol: 1e-3f * 3 * options.LearningRate * scale,
                rtol: 1e-4f, what: p.Name);
        }
        var b = model.TrainableParameters.First(p => p.Name.EndsWith("q_proj.lora_B.weight"));
        var a = model.TrainableParameters.First(p => p.Name.EndsWith("q_proj.lora_A.weight"));
        double Moved(Parameter p) => DecoderOracle.Download(model, p).Zip(before[p.Name], (x, y) => Math.Abs(x - y)).Max();
        Assert.True(Moved(b) > 8 * Moved(a), $"B moved {Moved(b)}, A moved {Moved(a)}");
    }
}
