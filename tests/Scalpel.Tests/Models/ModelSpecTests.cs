using System.Text.Json.Nodes;
using Scalpel.Models;
using Xunit;

namespace Scalpel.Tests.Models;

public class ModelSpecTests
{
    // ---- real configs, as published on the Hugging Face hub ----

    private const string SmolLM2_135M = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 0,
          "hidden_act": "silu",
          "hidden_size": 576,
          "initializer_range": 0.041666666666666664,
          "intermediate_size": 1536,
          "is_llama_config": true,
          "max_position_embeddings": 8192,
          "model_type": "llama",
          "num_attention_heads": 9,
          "num_hidden_layers": 30,
          "num_key_value_heads": 3,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_interleaved": false,
          "rope_scaling": null,
          "rope_theta": 100000,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "vocab_size": 49152
        }
        """;

    private const string Llama32_1B = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": 128001,
          "head_dim": 64,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 8192,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 16,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.45.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    private const string Mistral7B = """
        {
          "architectures": ["MistralForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 32768,
          "model_type": "mistral",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "sliding_window": 4096,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.34.0.dev0",
          "use_cache": true,
          "vocab_size": 32000
        }
        """;

    private const string Qwen25_05B = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_mrope": false,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    private const string Qwen3_06B = """
        {
          "architectures": ["Qwen3ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151645,
          "head_dim": 128,
          "hidden_act": "silu",
          "hidden_size": 1024,
          "initializer_range": 0.02,
          "intermediate_size": 3072,
          "max_position_embeddings": 40960,
          "max_window_layers": 28,
          "model_type": "qwen3",
          "num_attention_heads": 16,
          "num_hidden_layers": 28,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 1000000,
          "sliding_window": null,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.51.0",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    private const string Gemma2B = """
        {
          "architectures": ["GemmaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 2,
          "eos_token_id": 1,
          "head_dim": 256,
          "hidden_act": "gelu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 16384,
          "max_position_embeddings": 8192,
          "model_type": "gemma",
          "num_attention_heads": 8,
          "num_hidden_layers": 18,
          "num_key_value_heads": 1,
          "pad_token_id": 0,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 10000.0,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.38.0.dev0",
          "vocab_size": 256000
        }
        """;

    public static TheoryData<string> RealConfigs => new() { "smollm2", "llama3.2", "mistral", "qwen2.5", "qwen3", "gemma" };

    private static string Config(string name) => name switch
    {
        "smollm2" => SmolLM2_135M,
        "llama3.2" => Llama32_1B,
        "mistral" => Mistral7B,
        "qwen2.5" => Qwen25_05B,
        "qwen3" => Qwen3_06B,
        "gemma" => Gemma2B,
        _ => throw new ArgumentException(name),
    };

    private static ModelSpec Parse(string json) => ModelSpec.FromConfigJson(json, "test/config.json");

    /// <summary>Stands for a JSON null in <see cref="Edit"/>.</summary>
    private static JsonNode Null => JsonValue.Create("\u0000null");

    /// <summary>The config with fields changed: C# null removes the field, <see cref="Null"/> sets it to JSON null.</summary>
    private static string Edit(string json, params (string Field, JsonNode? Value)[] changes)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        foreach (var (field, value) in changes)
        {
            if (value is null) node.Remove(field);
            else if (value is JsonValue v && v.TryGetValue(out string? s) && s == "\u0000null") node[field] = null;
            else node[field] = value;
        }
        return node.ToJsonString();
    }

    private static ModelConfigException Rejected(string json, params string[] mentions)
    {
        var e = Assert.Throws<ModelConfigException>(() => Parse(json));
        Assert.Contains("test/config.json", e.Message);
        foreach (string m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    // ---- each architecture ----

    [Fact]
    public void SmolLM2()
    {
        var expected = new ModelSpec
        {
            Architecture = "LlamaForCausalLM", ModelType = "llama",
            HiddenSize = 576, IntermediateSize = 1536, NumLayers = 30, NumHeads = 9, NumKvHeads = 3, HeadDim = 64,
            VocabSize = 49152, MaxPositions = 8192, RmsNormEps = 1e-5, RopeTheta = 100000, Rope = RopeScaling.None,
            TieWordEmbeddings = true, Activation = Activation.Silu, BosTokenId = 0, EosTokenIds = [0],
        };
        Assert.Equal(expected, Parse(SmolLM2_135M));
    }

    [Fact]
    public void Llama32WithLlama3RopeScaling()
    {
        var expected = new ModelSpec
        {
            Architecture = "LlamaForCausalLM", ModelType = "llama",
            HiddenSize = 2048, IntermediateSize = 8192, NumLayers = 16, NumHeads = 32, NumKvHeads = 8, HeadDim = 64,
            VocabSize = 128256, MaxPositions = 131072, RmsNormEps = 1e-5, RopeTheta = 500000,
            Rope = new RopeScaling(RopeType.Llama3, Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192),
            TieWordEmbeddings = true, BosTokenId = 128000, EosTokenIds = [128001],
        };
        Assert.Equal(expected, Parse(Llama32_1B));

        var instruct = Parse(Edit(Llama32_1B, ("eos_token_id", new JsonArray(128001, 128008, 128009))));
        Assert.Equal([128001, 128008, 128009], instruct.EosTokenIds);
    }

    [Fact]
    public void Mistral7BWithSlidingWindow()
    {
        var spec = Parse(Mistral7B);
        Assert.Equal(new ModelSpec
        {
            Architecture = "MistralForCausalLM", ModelType = "mistral",
            HiddenSize = 4096, IntermediateSize = 14336, NumLayers = 32, NumHeads = 32, NumKvHeads = 8, HeadDim = 128,
            VocabSize = 32000, MaxPositions = 32768, RmsNormEps = 1e-5, RopeTheta = 10000,
            SlidingWindow = 4096, BosTokenId = 1, EosTokenIds = [2],
        }, spec);
        Assert.Equal(0, Parse(Edit(Mistral7B, ("sliding_window", Null))).SlidingWindow);
        Assert.Equal(0, Parse(Mistral7B.Replace("\"sliding_window\": 4096", "\"sliding_window\": null")).SlidingWindow);
        Assert.Equal(4096, Parse(Edit(Mistral7B, ("sliding_window", null))).SlidingWindow); // MistralConfig's default
    }

    [Fact]
    public void Qwen25WithQkvBiasButNoOutputBias()
    {
        Assert.Equal(new ModelSpec
        {
            Architecture = "Qwen2ForCausalLM", ModelType = "qwen2",
            HiddenSize = 896, IntermediateSize = 4864, NumLayers = 24, NumHeads = 14, NumKvHeads = 2, HeadDim = 64,
            VocabSize = 151936, MaxPositions = 32768, RmsNormEps = 1e-6, RopeTheta = 1000000,
            TieWordEmbeddings = true, AttentionBias = true, AttentionOutputBias = false, SlidingWindow = 0,
            BosTokenId = 151643, EosTokenIds = [151643],
        }, Parse(Qwen25_05B));
    }

    [Fact]
    public void Qwen3WithQkNormAndExplicitHeadDim()
    {
        var spec = Parse(Qwen3_06B);
        Assert.Equal(new ModelSpec
        {
            Architecture = "Qwen3ForCausalLM", ModelType = "qwen3",
            HiddenSize = 1024, IntermediateSize = 3072, NumLayers = 28, NumHeads = 16, NumKvHeads = 8, HeadDim = 128,
            VocabSize = 151936, MaxPositions = 40960, RmsNormEps = 1e-6, RopeTheta = 1000000,
            TieWordEmbeddings = true, QkNorm = true, BosTokenId = 151643, EosTokenIds = [151645],
        }, spec);
        Assert.NotEqual(spec.HiddenSize / spec.NumHeads, spec.HeadDim);
        Assert.Equal(128, Parse(Edit(Qwen3_06B, ("head_dim", null))).HeadDim); // Qwen3Config's default
        var biased = Parse(Edit(Qwen3_06B, ("attention_bias", true)));
        Assert.True(biased.AttentionBias && biased.AttentionOutputBias);
    }

    [Fact]
    public void Gemma2BWithNormOffsetAndEmbeddingScale()
    {
        var spec = Parse(Gemma2B);
        Assert.Equal(new ModelSpec
        {
            Architecture = "GemmaForCausalLM", ModelType = "gemma",
            HiddenSize = 2048, IntermediateSize = 16384, NumLayers = 18, NumHeads = 8, NumKvHeads = 1, HeadDim = 256,
            VocabSize = 256000, MaxPositions = 8192, RmsNormEps = 1e-6, RopeTheta = 10000,
            TieWordEmbeddings = true, NormWeightOffset = 1, EmbeddingScale = MathF.Sqrt(2048),
            Activation = Activation.GeluTanh, BosTokenId = 2, EosTokenIds = [1],
        }, spec);
        Assert.Equal(45.254834f, spec.EmbeddingScale, 5);

        // gemma-7b: head_dim 256 is not hidden / heads.
        var gemma7b = Parse(Edit(Gemma2B, ("hidden_size", 3072), ("num_attention_heads", 16), ("num_key_value_heads", 16),
            ("intermediate_size", 24576), ("num_hidden_layers", 28)));
        Assert.Equal(256, gemma7b.HeadDim);
        Assert.Equal(MathF.Sqrt(3072), gemma7b.EmbeddingScale);
        Assert.False(Parse(Edit(Gemma2B, ("tie_word_embeddings", false))).TieWordEmbeddings);
    }

    [Fact]
    public void GemmaActivationFollowsTransformers()
    {
        // hidden_act "gelu" is ignored: without hidden_activation transformers uses the tanh GELU.
        Assert.Equal(Activation.GeluTanh, Parse(Gemma2B).Activation);
        Assert.Equal(Activation.GeluTanh, Parse(Edit(Gemma2B, ("hidden_activation", "gelu_pytorch_tanh"))).Activation);
        Assert.Equal(Activation.GeluTanh, Parse(Edit(Gemma2B, ("hidden_activation", Null))).Activation);
        Rejected(Edit(Gemma2B, ("hidden_activation", "gelu")), "'hidden_activation'", "'gelu'");
    }

    [Fact]
    public void ActivationsOutsideGemma()
    {
        Assert.Equal(Activation.GeluTanh, Parse(Edit(SmolLM2_135M, ("hidden_act", "gelu_pytorch_tanh"))).Activation);
        Assert.Equal(Activation.Silu, Parse(Edit(SmolLM2_135M, ("hidden_act", null))).Activation);
        Rejected(Edit(SmolLM2_135M, ("hidden_act", "gelu")), "'hidden_act'", "'gelu'", "not supported");
        Rejected(Edit(Mistral7B, ("hidden_act", "relu")), "'hidden_act'", "'relu'");
        Rejected(Edit(Qwen3_06B, ("hidden_act", 3)), "'hidden_act'", "must be a string");
    }

    [Fact]
    public void LlamaAttentionBiasCoversTheOutputProjection()
    {
        var spec = Parse(Edit(SmolLM2_135M, ("attention_bias", true), ("mlp_bias", true)));
        Assert.True(spec.AttentionBias);
        Assert.True(spec.AttentionOutputBias);
        Assert.True(spec.MlpBias);
        // Qwen2's bias is fixed by the architecture, whatever the file says.
        var qwen = Parse(Edit(Qwen25_05B, ("attention_bias", false), ("mlp_bias", true)));
        Assert.True(qwen.AttentionBias);
        Assert.False(qwen.AttentionOutputBias);
        Assert.False(qwen.MlpBias);
    }

    // ---- defaults ----

    [Fact]
    public void MissingOptionalFieldsTakeTransformersDefaults()
    {
        const string minimal = """
            {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100}
            """;
        Assert.Equal(new ModelSpec
        {
            Architecture = "LlamaForCausalLM", ModelType = "llama",
            HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 4, HeadDim = 16, VocabSize = 100,
            MaxPositions = 2048, RmsNormEps = 1e-6, RopeTheta = 10000, Rope = RopeScaling.None, TieWordEmbeddings = false,
            BosTokenId = null, EosTokenIds = [],
        }, Parse(minimal));

        // null means "default" too, as in transformers.
        var nulls = Parse(Edit(minimal, ("num_key_value_heads", Null), ("head_dim", Null),
            ("rope_theta", Null), ("eos_token_id", Null)));
        Assert.Equal(Parse(minimal), nulls);

        Assert.True(Parse(Edit(Gemma2B, ("tie_word_embeddings", null))).TieWordEmbeddings);
        Assert.False(Parse(Edit(Qwen3_06B, ("tie_word_embeddings", null))).TieWordEmbeddings);
        Assert.Equal(256, Parse(Edit(Gemma2B, ("head_dim", null))).HeadDim);
        Assert.Equal(131072, Parse(Edit(Mistral7B, ("max_position_embeddings", null))).MaxPositions);
    }

    [Fact]
    public void ArchitectureFallsBackToModelType()
    {
        var spec = Parse(Edit(Qwen25_05B, ("architectures", null)));
        Assert.Equal("Qwen2ForCausalLM", spec.Architecture);
        Assert.Equal("qwen2", spec.ModelType);
        Assert.Equal("llama", Parse(Edit(SmolLM2_135M, ("model_type", null))).ModelType);
        Rejected(Edit(SmolLM2_135M, ("architectures", null), ("model_type", null)), "'architectures'");
        Rejected(Edit(SmolLM2_135M, ("architectures", null), ("model_type", "gpt2")), "'gpt2'", "LlamaForCausalLM");
    }

    // ---- rope ----

    [Fact]
    public void Transformers5RopeParametersGiveTheSameSpec()
    {
        string llama5 = Edit(Llama32_1B, ("rope_theta", null), ("rope_scaling", null), ("rope_parameters", JsonNode.Parse("""
            {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
            """)));
        Assert.Equal(Parse(Llama32_1B), Parse(llama5));

        string smol5 = Edit(SmolLM2_135M, ("rope_theta", null), ("rope_scaling", null),
            ("rope_parameters", JsonNode.Parse("""{"rope_type": "default", "rope_theta": 100000}""")));
        Assert.Equal(Parse(SmolLM2_135M), Parse(smol5));

        // Both spellings at once, agreeing, are fine; so is one object per attention layer type when they agree.
        Assert.Equal(Parse(Llama32_1B), Parse(Edit(llama5, ("rope_theta", 500000), ("rope_scaling", JsonNode.Parse(
            """{"rope_type": "llama3", "factor": 32, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}""")))));
        Assert.Equal(Parse(SmolLM2_135M), Parse(Edit(SmolLM2_135M, ("rope_parameters", JsonNode.Parse("""
            {"full_attention": {"rope_type": "default", "rope_theta": 100000}, "sliding_attention": {"rope_type": "default", "rope_theta": 100000}}
            """)))));
        // rope_theta only at the top level, rope_parameters without it.
        Assert.Equal(Parse(SmolLM2_135M), Parse(Edit(SmolLM2_135M, ("rope_parameters", JsonNode.Parse("""{"rope_type": "default"}""")))));
    }

    [Fact]
    public void RopeSpellingsThatDisagreeAreRejected()
    {
        Rejected(Edit(SmolLM2_135M, ("rope_parameters", JsonNode.Parse("""{"rope_type": "default", "rope_theta": 10000}"""))),
            "'rope_theta'", "100000", "10000");
        Rejected(Edit(SmolLM2_135M, ("rope_parameters", JsonNode.Parse("""
            {"full_attention": {"rope_type": "default", "rope_theta": 100000}, "sliding_attention": {"rope_type": "default", "rope_theta": 10000}}
            """))), "'rope_parameters'", "per-layer rope");
        Rejected(Edit(Llama32_1B, ("rope_parameters", JsonNode.Parse("""{"rope_type": "linear", "factor": 2.0, "rope_theta": 500000}"""))),
            "'rope_scaling'", "disagrees");
    }

    [Fact]
    public void LinearRopeInBothTypeSpellings()
    {
        var expected = new RopeScaling(RopeType.Linear, Factor: 4);
        Assert.Equal(expected, Parse(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse("""{"type": "linear", "factor": 4.0}""")))).Rope);
        Assert.Equal(expected, Parse(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse("""{"rope_type": "linear", "factor": 4}""")))).Rope);
        Assert.Equal(RopeScaling.None, Parse(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse("""{"rope_type": "default"}""")))).Rope);
    }

    [Theory]
    [InlineData("yarn")]
    [InlineData("dynamic")]
    [InlineData("longrope")]
    [InlineData("su")]
    public void UnsupportedRopeTypesAreNamed(string type)
    {
        Rejected(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse($$"""{"rope_type": "{{type}}", "factor": 4.0, "original_max_position_embeddings": 4096}"""))),
            $"'{type}'", "rope_scaling", "not supported");
        Rejected(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse($$"""{"type": "{{type}}", "factor": 4.0}"""))), $"'{type}'");
        Rejected(Edit(SmolLM2_135M, ("rope_theta", null), ("rope_parameters", JsonNode.Parse($$"""{"rope_type": "{{type}}", "rope_theta": 10000.0, "factor": 4.0}"""))),
            $"'{type}'", "rope_parameters");
    }

    [Theory]
    [InlineData("""{"rope_type": "llama3", "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}""", "'rope_scaling.factor' is required")]
    [InlineData("""{"rope_type": "llama3", "factor": 8, "high_freq_factor": 4, "original_max_position_embeddings": 8192}""", "'rope_scaling.low_freq_factor' is required")]
    [InlineData("""{"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4}""", "'rope_scaling.original_max_position_embeddings' is required")]
    [InlineData("""{"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}""", "'rope_scaling.high_freq_factor'")]
    [InlineData("""{"rope_type": "linear", "factor": "2"}""", "'rope_scaling.factor' must be a number")]
    [InlineData("""{"rope_type": "linear", "factor": -2}""", "'rope_scaling.factor' must be positive")]
    [InlineData("""{"factor": 2}""", "'rope_scaling.rope_type' is missing")]
    [InlineData("""{"rope_type": 3}""", "'rope_scaling.rope_type' must be a string")]
    [InlineData("\"linear\"", "'rope_scaling' must be an object")]
    public void BadRopeScalingIsNamed(string scaling, string mention) =>
        Rejected(Edit(SmolLM2_135M, ("rope_scaling", JsonNode.Parse(scaling))), mention);

    // ---- sliding windows ----

    [Fact]
    public void QwenSlidingWindowNeedsUseSlidingWindowAndOneWindowForAllLayers()
    {
        Assert.Equal(0, Parse(Qwen25_05B).SlidingWindow);
        Assert.Equal(0, Parse(Edit(Qwen25_05B, ("use_sliding_window", true))).SlidingWindow); // max_window_layers 24 = every layer full
        Assert.Equal(4096, Parse(Edit(Qwen25_05B, ("use_sliding_window", true), ("sliding_window", 4096), ("max_window_layers", 0))).SlidingWindow);
        Rejected(Edit(Qwen25_05B, ("use_sliding_window", true), ("max_window_layers", 12)), "'max_window_layers'", "per-layer");
        Assert.Equal(4096, Parse(Edit(Qwen3_06B, ("use_sliding_window", true), ("sliding_window", 4096),
            ("layer_types", new JsonArray(Enumerable.Range(0, 28).Select(_ => (JsonNode?)"sliding_attention").ToArray())))).SlidingWindow);
        Rejected(Edit(Qwen3_06B, ("use_sliding_window", true), ("sliding_window", 4096),
            ("layer_types", new JsonArray("sliding_attention", "full_attention"))), "'layer_types'", "per-layer");
        Rejected(Edit(Qwen3_06B, ("use_sliding_window", true)), "'sliding_window'");
    }

    // ---- errors ----

    [Theory]
    [InlineData("GPT2LMHeadModel")]
    [InlineData("Phi3ForCausalLM")]
    [InlineData("Gemma2ForCausalLM")]
    [InlineData("MixtralForCausalLM")]
    public void UnsupportedArchitecturesAreNamedWithTheSupportedOnes(string arch)
    {
        Rejected(Edit(SmolLM2_135M, ("architectures", new JsonArray(arch))), $"'{arch}'", "not supported",
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM");
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("intermediate_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    [InlineData("vocab_size")]
    public void MissingRequiredFieldsAreNamed(string field) =>
        Rejected(Edit(SmolLM2_135M, (field, null)), $"'{field}'", "required");

    [Theory]
    [InlineData("hidden_size", "\"576\"", "must be an integer")]
    [InlineData("hidden_size", "576.5", "must be an integer")]
    [InlineData("hidden_size", "true", "must be an integer")]
    [InlineData("num_key_value_heads", "[3]", "must be an integer")]
    [InlineData("vocab_size", "1e12", "must be an integer")]
    [InlineData("rms_norm_eps", "\"1e-5\"", "must be a number")]
    [InlineData("rope_theta", "\"100000\"", "must be a number")]
    [InlineData("tie_word_embeddings", "\"true\"", "must be true or false")]
    [InlineData("tie_word_embeddings", "1", "must be true or false")]
    [InlineData("attention_bias", "\"no\"", "must be true or false")]
    [InlineData("eos_token_id", "\"2\"", "must be an integer")]
    [InlineData("eos_token_id", "[2, \"3\"]", "entry 1")]
    [InlineData("eos_token_id", "-1", "must not be negative")]
    [InlineData("bos_token_id", "1.5", "must be an integer")]
    [InlineData("architectures", "\"LlamaForCausalLM\"", "non-empty array of strings")]
    [InlineData("architectures", "[]", "non-empty array of strings")]
    [InlineData("model_type", "7", "must be a string")]
    [InlineData("rope_scaling", "[]", "must be an object")]
    [InlineData("rope_parameters", "\"default\"", "must be an object")]
    public void WrongJsonTypesAreNamed(string field, string value, string mention) =>
        Rejected(Edit(SmolLM2_135M, (field, JsonNode.Parse(value))), $"'{field}", mention);

    [Theory]
    [InlineData("num_key_value_heads", 4, "does not divide num_attention_heads (9)")]
    [InlineData("hidden_size", 580, "not divisible by num_attention_heads (9)")]
    [InlineData("hidden_size", 0, "must be positive")]
    [InlineData("num_hidden_layers", -1, "must be positive")]
    [InlineData("intermediate_size", 0, "must be positive")]
    [InlineData("vocab_size", 0, "must be positive")]
    [InlineData("num_attention_heads", 0, "must be positive")]
    [InlineData("num_key_value_heads", 0, "must be positive")]
    [InlineData("max_position_embeddings", 0, "must be positive")]
    [InlineData("head_dim", 0, "must be positive")]
    [InlineData("head_dim", 63, "odd")]
    [InlineData("rms_norm_eps", 0, "must be positive")]
    [InlineData("rope_theta", -1, "must be positive")]
    public void InconsistentSizesAreNamed(string field, int value, string mention) =>
        Rejected(Edit(SmolLM2_135M, (field, value)), $"'{field}'", mention);

    [Fact]
    public void HeadDimFreesHiddenFromDividingByHeads()
    {
        var spec = Parse(Edit(SmolLM2_135M, ("hidden_size", 580), ("head_dim", 64)));
        Assert.Equal(64, spec.HeadDim);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("")]
    [InlineData("[1, 2]")]
    [InlineData("null")]
    public void InvalidJsonNamesTheFile(string json)
    {
        var e = Assert.Throws<ModelConfigException>(() => Parse(json));
        Assert.Contains("test/config.json", e.Message);
    }

    // ---- files and round trips ----

    [Fact]
    public void FromConfigFileReadsAFileOrAFolderAndNamesAMissingOne()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalpel-spec-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, Qwen3_06B);
            Assert.Equal(Parse(Qwen3_06B), ModelSpec.FromConfigFile(path));
            Assert.Equal(Parse(Qwen3_06B), ModelSpec.FromConfigFile(dir));

            File.WriteAllText(path, Edit(Qwen3_06B, ("vocab_size", null)));
            var bad = Assert.Throws<ModelConfigException>(() => ModelSpec.FromConfigFile(path));
            Assert.Contains(path, bad.Message);
            Assert.Contains("'vocab_size'", bad.Message);

            string missing = Path.Combine(dir, "nope", "config.json");
            var e = Assert.Throws<ModelConfigException>(() => ModelSpec.FromConfigFile(missing));
            Assert.Contains(missing, e.Message);
            Assert.Contains("does not exist", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(RealConfigs))]
    public void ToConfigJsonRoundTrips(string name)
    {
        ModelSpec spec = Parse(Config(name));
        string json = spec.ToConfigJson();
        Assert.Equal(spec, ModelSpec.FromConfigJson(json, "written.json"));

        // It is a transformers 4.x config: architectures list, model_type, rope_theta at the top level.
        var node = JsonNode.Parse(json)!.AsObject();
        Assert.Equal(spec.Architecture, (string)node["architectures"]![0]!);
        Assert.Equal(spec.ModelType, (string)node["model_type"]!);
        Assert.Equal(spec.RopeTheta, (double)node["rope_theta"]!);
        Assert.Equal(spec.NumKvHeads, (int)node["num_key_value_heads"]!);
        Assert.False(node.ContainsKey("rope_parameters"));
    }

    [Fact]
    public void VariedSpecsRoundTrip()
    {
        ModelSpec llama = Parse(Llama32_1B);
        ModelSpec[] specs =
        [
            llama with { Rope = new RopeScaling(RopeType.Linear, Factor: 2.5), EosTokenIds = [1, 2, 3], BosTokenId = null },
            llama with { EosTokenIds = [], AttentionBias = true, AttentionOutputBias = true, MlpBias = true, RmsNormEps = 1.25e-7 },
            llama with { Activation = Activation.GeluTanh, TieWordEmbeddings = false, RopeTheta = 123456.789 },
            Parse(Mistral7B) with { SlidingWindow = 0 },
            Parse(Qwen25_05B) with { SlidingWindow = 8192 },
            Parse(Qwen3_06B) with { SlidingWindow = 1024, AttentionBias = true, AttentionOutputBias = true },
            Parse(Gemma2B) with { TieWordEmbeddings = false, AttentionBias = true, AttentionOutputBias = true },
            Parse(Gemma2B) with { Activation = Activation.Silu }, // written as hidden_activation, which Gemma honours
        ];
        foreach (ModelSpec spec in specs)
            Assert.Equal(spec, ModelSpec.FromConfigJson(spec.ToConfigJson(), "written.json"));
    }

    [Fact]
    public void SpecsNoConfigCanDescribeAreRefused()
    {
        Assert.Throws<InvalidOperationException>(() => (Parse(Qwen25_05B) with { MlpBias = true }).ToConfigJson());
        Assert.Throws<InvalidOperationException>(() => (Parse(Qwen25_05B) with { AttentionOutputBias = true }).ToConfigJson());
        Assert.Throws<InvalidOperationException>(() => (Parse(Llama32_1B) with { QkNorm = true }).ToConfigJson());
        Assert.Throws<InvalidOperationException>(() => (Parse(Llama32_1B) with { AttentionOutputBias = true }).ToConfigJson());
        Assert.Throws<InvalidOperationException>(() => (Parse(Gemma2B) with { EmbeddingScale = 1 }).ToConfigJson());
        Assert.Throws<InvalidOperationException>(() => (Parse(Llama32_1B) with { Architecture = "Phi3ForCausalLM" }).ToConfigJson());
    }

    [Fact]
    public void EqualityComparesEosIdsByValue()
    {
        ModelSpec a = Parse(Llama32_1B) with { EosTokenIds = new List<int> { 1, 2 } };
        ModelSpec b = Parse(Llama32_1B) with { EosTokenIds = new[] { 1, 2 } };
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, b with { EosTokenIds = [2, 1] });
        Assert.Contains("EosTokenIds = [1, 2]", a.ToString());
    }
}
