namespace Scalpel.Models;

/// <summary>A config.json that Scalpel cannot use; the message names the file and the field.</summary>
public sealed class ModelConfigException(string message) : Exception(message);

/// <summary>
/// The shape and per-architecture switches of a Llama-family decoder, read from Hugging Face config.json.
/// One DecoderModel covers the family through these flags.
/// </summary>
public sealed record ModelSpec
{
    public required string Architecture { get; init; }   // e.g. "LlamaForCausalLM"
    public required string ModelType { get; init; }      // e.g. "llama"
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public int MaxPositions { get; init; } = 2048;
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling Rope { get; init; } = RopeScaling.None;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>q/k/v projections have a bias (Qwen2; Llama's attention_bias).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>o_proj has a bias (Llama's attention_bias covers it; Qwen2 does not).</summary>
    public bool AttentionOutputBias { get; init; }
    public bool MlpBias { get; init; }
    /// <summary>Per-head RMSNorm on q and k before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>Added to every RMSNorm weight (Gemma stores w − 1).</summary>
    public float NormWeightOffset { get; init; }
    /// <summary>Multiplies the embeddings (Gemma: √hidden).</summary>
    public float EmbeddingScale { get; init; } = 1f;
    public Activation Activation { get; init; } = Activation.Silu;
    /// <summary>0 = full causal attention.</summary>
    public int SlidingWindow { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public static ModelSpec FromConfigFile(string path) => throw new NotImplementedException();

    /// <param name="sourceName">file name used in error messages</param>
    public static ModelSpec FromConfigJson(string json, string sourceName) => throw new NotImplementedException();

    /// <summary>The config.json (transformers 4.x spelling) that describes this spec, for writing test checkpoints and exports.</summary>
    public string ToConfigJson() => throw new NotImplementedException();
}
