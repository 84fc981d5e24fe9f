using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Scalpel.Training;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.IO;

/// <summary>
/// GGUF export of every architecture variant llama.cpp has a graph for, each a tiny random model with the pipeline
/// check's byte-level BPE tokenizer: llama.cpp (node-llama-cpp's prebuilt CPU build) must give the same next-token
/// logits as Scalpel at every position of a prompt longer than the Llama 3 variant's original context, and the same
/// greedy continuation. Each variant also shows that the feature it exercises changes Scalpel's logits by far more
/// than the tolerance, so a file that dropped it (no rope_freqs, no +1 on Gemma's norms, no q/k norms...) fails.
/// </summary>
[Collection("console")]
public class GgufArchitectureTests(ITestOutputHelper output)
{
    public static TheoryData<string> Variants => new() { "qwen2", "qwen3", "gemma", "llama3-rope", "linear-rope-biases" };

    /// <summary>The variant's spec on the tiny model's vocabulary.</summary>
    private static ModelSpec Variant(string name, ModelSpec tiny) => name switch
    {
        "qwen2" => tiny with
        {
            Architecture = "Qwen2ForCausalLM", ModelType = "qwen2", AttentionBias = true, TieWordEmbeddings = true, NumKvHeads = 1, RopeTheta = 1e6,
        },
        "qwen3" => tiny with { Architecture = "Qwen3ForCausalLM", ModelType = "qwen3", QkNorm = true, HeadDim = 24, RmsNormEps = 1e-6 },
        "gemma" => tiny with
        {
            Architecture = "GemmaForCausalLM", ModelType = "gemma", NormWeightOffset = 1f, EmbeddingScale = 8f, Activation = Activation.GeluTanh,
            TieWordEmbeddings = true, NumKvHeads = 1,
        },
        // Wavelengths 2π·10000^(i/8) = 6.3, 20, 63, 199, ...: with original context 64, low 1 and high 4, frequency 0 stays,
        // 1 and 2 are blended and the rest divided by 8; the prompt runs past position 64.
        "llama3-rope" => tiny with { Rope = new RopeScaling(RopeType.Llama3, 8, 1, 4, 64), MaxPositions = 256 },
        "linear-rope-biases" => tiny with
        {
            Rope = new RopeScaling(RopeType.Linear, 4), AttentionBias = true, AttentionOutputBias = true, MlpBias = true, NumKvHeads = 4,
        },
        _ => throw new ArgumentException(name),
    };

    /// <summary>The same weights read without each feature the variant exercises (a bias left unread, a norm taken as stored).</summary>
    private static (string Feature, ModelSpec Spec)[] Without(string name, ModelSpec spec) => name switch
    {
        "qwen2" => [("q/k/v biases", spec with { AttentionBias = false })],
        "qwen3" => [("q/k norms", spec with { QkNorm = false })],
        "gemma" => [("norm weight +1", spec with { NormWeightOffset = 0 }), ("embedding scale", spec with { EmbeddingScale = 1 })],
        "llama3-rope" => [("llama3 rope scaling", spec with { Rope = RopeScaling.None })],
        "linear-rope-biases" =>
        [
            ("linear rope scaling", spec with { Rope = RopeScaling.None }), ("attention biases", spec with { AttentionBias = false, AttentionOutputBias = false }),
            ("MLP biases", spec with { MlpBias = false }),
        ],
        _ => throw new ArgumentException(name),
    };

    private static string LongPrompt =>
        "<|im_start|>system\nYou sort words.<|im_end|>\n<|im_start|>user\nWhich class: the wolf was at one tram, and the apple is red; " +
        "a flute and a plum said their way, which time if you will use your echo delta bravo charlie alpha, how each word " +
        "is sorted into one class: the wolf, the tram, the apple, the flute.<|im_end|>\n<|im_start|>assistant\n";

    [Theory]
    [MemberData(nameof(Variants))]
    public void LlamaCppComputesTheSameLogitsAndTokens(string variant)
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 11);
        var spec = Variant(variant, ModelSpec.FromConfigFile(model));
        RandomCheckpoint.Write(spec, model, seed: 5);
        Assert.Equal(spec, ModelSpec.FromConfigFile(model));

        string file = Path.Combine(dir.Path, $"{variant}.gguf");
        var (code, _, err) = Cli.CliRunner.Run("export", "gguf", "--model", model, "--out", file, "--type", "f32");
        Assert.True(code == 0, err);
        output.WriteLine($"{variant}: general.architecture {GgufReader.Open(file).Get<string>("general.architecture")}");

        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode(LongPrompt, addSpecialTokens: false);
        Assert.True(prompt.Length > 72, $"prompt has {prompt.Length} tokens");
        const int steps = 16;
        const double tolerance = 5e-3;
        var llama = LlamaCppOracle.Run([new LlamaJob(file, [], steps, Logits: true, Vocab: spec.VocabSize)], prompt)[0];

        float[][] ours;
        int[] greedy;
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            ours = LlamaCppOracle.AllLogits(m, prompt);
            greedy = LlamaCppOracle.Greedy(m, prompt, steps);
        }
        double error = LlamaCppOracle.MaxRelativeDifference(llama.Logits!, ours);
        output.WriteLine($"llama.cpp vs Scalpel: max relative logit difference {error:E2} over {prompt.Length} positions");
        output.WriteLine($"Scalpel greedy:   [{string.Join(",", greedy)}]");
        output.WriteLine($"llama.cpp greedy: [{string.Join(",", llama.Generated)}]");

        foreach (var (feature, without) in Without(variant, spec))
        {
            using var reader = CheckpointReader.Open(model);
            using var m = DecoderModel.Load(without, reader, new CpuBackend(), WeightPrecision.F32);
            double effect = LlamaCppOracle.MaxRelativeDifference(LlamaCppOracle.AllLogits(m, prompt), ours);
            output.WriteLine($"without {feature}, Scalpel's logits move by {effect:E2}");
            Assert.True(effect > 20 * tolerance, $"{variant}: {feature} changes the logits by only {effect:E2}; the comparison could not tell");
        }
        // llama.cpp keeps the KV cache in F16 (and Gemma's GELU goes through an F16 table): agreement to ~1e-3, not 1e-6.
        Assert.True(error < tolerance, $"{variant}: llama.cpp's logits differ from Scalpel's by {error:E2} (relative to the largest logit)");
        Assert.Equal(greedy, llama.Generated);
    }

    [Theory]
    [InlineData("qwen3")]
    [InlineData("gemma")]
    public void AdapterGgufOnTheBaseGgufGivesScalpelsLogits(string variant)
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), adapter = Path.Combine(dir.Path, "adapter");
        PipelineCheck.WriteTinyModel(model, seed: 11);
        var spec = Variant(variant, ModelSpec.FromConfigFile(model));
        RandomCheckpoint.Write(spec, model, seed: 5);
        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode(LongPrompt, addSpecialTokens: false);
        float[][] ours, baseLogits;
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            baseLogits = LlamaCppOracle.AllLogits(m, prompt);
            m.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 4, Alpha = 32, TargetModules = ["all-linear"] }, seed: 2);
            DecoderOracle.RandomizeLoraB(m, 3);
            ours = LlamaCppOracle.AllLogits(m, prompt);
            Scalpel.Adapters.PeftAdapter.Save(m, adapter);
        }
        string baseFile = Path.Combine(dir.Path, "base.gguf"), loraFile = Path.Combine(dir.Path, "lora.gguf");
        Assert.Equal(0, Cli.CliRunner.Run("export", "gguf", "--model", model, "--out", baseFile, "--type", "f32").Code);
        var (code, _, err) = Cli.CliRunner.Run("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraFile);
        Assert.True(code == 0, err);

        var llama = LlamaCppOracle.Run([new LlamaJob(baseFile, [], 0, Lora: loraFile, Logits: true, Vocab: spec.VocabSize)], prompt)[0];
        double error = LlamaCppOracle.MaxRelativeDifference(llama.Logits!, ours);
        double effect = LlamaCppOracle.MaxRelativeDifference(baseLogits, ours);
        output.WriteLine($"{variant} base GGUF + LoRA GGUF vs Scalpel base+adapter: {error:E2}; the adapter moves the logits by {effect:E2}");
        Assert.True(effect > 0.1, $"the adapter changes the logits by only {effect:E2}");
        Assert.True(error < 5e-3, $"{variant}: llama.cpp with the LoRA GGUF differs from Scalpel by {error:E2}");
    }

    [Fact]
    public void Llama3RopeFactorsAreWhatConvertHfToGgufComputes()
    {
        // convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors, worked by hand for head_dim 16, theta 10000, factor 8,
        // low 1, high 4, original context 64: wavelength 2π·10000^(i/8); below 16 → 1, above 64 → 8, else
        // 1 / ((1 − s)/8 + s) with s = (64/wavelength − 1)/3.
        var spec = TinyCheckpoint.Llama(headDim: 16) with { Rope = new RopeScaling(RopeType.Llama3, 8, 1, 4, 64) };
        var factors = GgufExport.RopeFrequencyFactors(spec);
        Assert.Equal(8, factors.Length);
        Assert.Equal(1f, factors[0]);
        foreach (int i in new[] { 1, 2 })
        {
            double wavelength = 2 * Math.PI * Math.Pow(10000, i / 8.0);
            double s = (64 / wavelength - 1) / 3;
            Assert.Equal(1 / ((1 - s) / 8 + s), factors[i], 5);
        }
        Assert.All(factors[3..], f => Assert.Equal(8f, f, 5));
    }

    [Fact]
    public void VariantsLlamaCppWouldComputeDifferentlyAreRefusedByName()
    {
        var tiny = TinyCheckpoint.Llama();
        var cases = new (ModelSpec Spec, string Says)[]
        {
            (tiny with { Architecture = "GemmaForCausalLM", ModelType = "gemma", NormWeightOffset = 1f, EmbeddingScale = 8f,
                Activation = Activation.GeluTanh, TieWordEmbeddings = false }, "untied lm_head"),
            (tiny with { Architecture = "Qwen2ForCausalLM", ModelType = "qwen2", AttentionBias = true, SlidingWindow = 16 }, "sliding-window"),
            (tiny with { Architecture = "Qwen3ForCausalLM", ModelType = "qwen3", QkNorm = true, Rope = new RopeScaling(RopeType.Llama3, 8, 1, 4, 64) },
                "Llama 3 rope scaling"),
            (tiny with { Activation = Activation.GeluTanh }, "activation"),
        };
        foreach (var (spec, says) in cases)
        {
            var e = Assert.Throws<GgufExportException>(() => GgufExport.Architecture(spec));
            output.WriteLine(e.Message);
            Assert.Contains(says, e.Message);
            Assert.Contains(spec.Architecture, e.Message);
        }
    }
}
