using System.Collections;

namespace Scalpel.Models;

/// <summary>A config.json that Scalpel cannot use; the message names the file and the field.</summary>
public sealed class ModelConfigException(string message) : Exception(message);

/// <summary>
/// The shape and per-architecture switches of a Llama-family decoder, read from Hugging Face config.json.
/// One DecoderModel covers the family through these flags.
/// </summary>
/// <remarks>
/// Supported architectures and how their config.json maps here: ModelSpec.Config.cs. Equality is by value,
/// <see cref="EosTokenIds"/> included, so a spec read back from <see cref="ToConfigJson"/> equals the original.
/// </remarks>
public sealed partial record ModelSpec
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

    // Held in a list type with value equality so the record's generated Equals compares the ids, not the reference.
    private readonly TokenIds _eosTokenIds = TokenIds.Empty;

    public IReadOnlyList<int> EosTokenIds
    {
        get => _eosTokenIds;
        init => _eosTokenIds = new TokenIds(value ?? throw new ArgumentNullException(nameof(EosTokenIds)));
    }

    /// <summary>Reads a config.json; <paramref name="path"/> may also be the checkpoint folder that holds it.</summary>
    public static ModelSpec FromConfigFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        if (!File.Exists(path))
            throw new ModelConfigException($"config file '{path}' does not exist");
        return FromConfigJson(File.ReadAllText(path), path);
    }

    /// <param name="sourceName">file name used in error messages</param>
    public static ModelSpec FromConfigJson(string json, string sourceName) => ConfigJson.Read(json, sourceName);

    /// <summary>The config.json (transformers 4.x spelling) that describes this spec, for writing test checkpoints and exports.</summary>
    /// <exception cref="InvalidOperationException">The spec's flags are not what its architecture implies (say, a Qwen2 spec with an MLP bias), so no config.json can describe it.</exception>
    public string ToConfigJson() => ConfigJson.Write(this);

    /// <summary>Token ids compared by value.</summary>
    private sealed class TokenIds(IEnumerable<int> ids) : IReadOnlyList<int>, IEquatable<TokenIds>
    {
        public static readonly TokenIds Empty = new([]);
        private readonly int[] _ids = ids.ToArray();

        public int this[int index] => _ids[index];
        public int Count => _ids.Length;
        public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_ids).GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public bool Equals(TokenIds? other) => other is not null && _ids.AsSpan().SequenceEqual(other._ids);
        public override bool Equals(object? obj) => Equals(obj as TokenIds);
        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (int id in _ids) hash.Add(id);
            return hash.ToHashCode();
        }
        public override string ToString() => "[" + string.Join(", ", _ids) + "]";
    }
}
