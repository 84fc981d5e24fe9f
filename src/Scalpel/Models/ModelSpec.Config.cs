using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Scalpel.Models;

/// <summary>
/// config.json ⇄ <see cref="ModelSpec"/>. Each supported architecture differs from Llama in a few fields, and the
/// defaults for missing fields are the ones its transformers config class uses:
/// <list type="bullet">
/// <item>LlamaForCausalLM (SmolLM too): attention_bias covers q/k/v/o, mlp_bias; max positions 2048.</item>
/// <item>MistralForCausalLM: sliding_window (4096 when missing, null = full attention); no biases.</item>
/// <item>Qwen2ForCausalLM: q/k/v always have a bias, o_proj never; sliding window only with use_sliding_window.</item>
/// <item>Qwen3ForCausalLM: per-head q/k RMSNorm; attention_bias covers q/k/v/o; head_dim 128 when missing.</item>
/// <item>GemmaForCausalLM: RMSNorm weight + 1, embeddings × √hidden, GeGLU with the tanh GELU (hidden_activation, else
/// gelu_pytorch_tanh whatever hidden_act says, as transformers does), head_dim 256 and tied embeddings when missing.</item>
/// </list>
/// Rope settings come from transformers 4.x <c>rope_theta</c> + <c>rope_scaling</c> or 5.x <c>rope_parameters</c>.
/// </summary>
internal static class ConfigJson
{
    private sealed record Arch(string Name, string ModelType, int MaxPositions, bool TieDefault, int? HeadDimDefault);

    private static readonly Arch Llama = new("LlamaForCausalLM", "llama", 2048, false, null);
    private static readonly Arch Mistral = new("MistralForCausalLM", "mistral", 4096 * 32, false, null);
    private static readonly Arch Qwen2 = new("Qwen2ForCausalLM", "qwen2", 32768, false, null);
    private static readonly Arch Qwen3 = new("Qwen3ForCausalLM", "qwen3", 32768, false, 128);
    private static readonly Arch Gemma = new("GemmaForCausalLM", "gemma", 8192, true, 256);
    private static readonly Arch[] Supported = [Llama, Mistral, Qwen2, Qwen3, Gemma];

    private static string SupportedList => string.Join(", ", Supported.Select(a => a.Name));

    public static ModelSpec Read(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        sourceName = string.IsNullOrEmpty(sourceName) ? "config.json" : sourceName;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelConfigException($"{sourceName}: not valid JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelConfigException($"{sourceName}: must be a JSON object");
            return Read(new Fields(document.RootElement, sourceName, ""));
        }
    }

    private static ModelSpec Read(Fields c)
    {
        Arch arch = ResolveArchitecture(c);
        string modelType = c.String("model_type") ?? arch.ModelType;

        int hidden = c.PositiveInt("hidden_size");
        int intermediate = c.PositiveInt("intermediate_size");
        int layers = c.PositiveInt("num_hidden_layers");
        int heads = c.PositiveInt("num_attention_heads");
        int kvHeads = c.PositiveInt("num_key_value_heads", heads);
        if (heads % kvHeads != 0)
            throw c.Error("num_key_value_heads", $"({kvHeads}) does not divide num_attention_heads ({heads})");
        int headDim;
        if (c.Has("head_dim")) headDim = c.PositiveInt("head_dim");
        else if (arch.HeadDimDefault is int fixedDefault) headDim = fixedDefault;
        else
        {
            if (hidden % heads != 0)
                throw c.Error("hidden_size", $"({hidden}) is not divisible by num_attention_heads ({heads}) and no head_dim is given");
            headDim = hidden / heads;
        }
        if (headDim % 2 != 0)
            throw c.Error("head_dim", $"({headDim}) is odd; rotary embeddings need an even head size");

        int vocab = c.PositiveInt("vocab_size");
        int maxPositions = c.PositiveInt("max_position_embeddings", arch.MaxPositions);
        double eps = c.PositiveNumber("rms_norm_eps", 1e-6);
        bool tie = c.Bool("tie_word_embeddings", arch.TieDefault);
        var (theta, rope) = ReadRope(c);

        bool qkvBias = false, outputBias = false, mlpBias = false, qkNorm = false;
        float normOffset = 0, embeddingScale = 1;
        Activation activation;
        int slidingWindow = 0;
        if (arch == Gemma)
        {
            qkvBias = outputBias = c.Bool("attention_bias", false);
            normOffset = 1;
            embeddingScale = MathF.Sqrt(hidden);
            // transformers' GemmaMLP: hidden_activation when set, otherwise the tanh GELU regardless of hidden_act.
            activation = c.Has("hidden_activation") ? ParseActivation(c, "hidden_activation") : Activation.GeluTanh;
        }
        else
        {
            activation = c.Has("hidden_act") ? ParseActivation(c, "hidden_act") : Activation.Silu;
            if (arch == Llama)
            {
                qkvBias = outputBias = c.Bool("attention_bias", false);
                mlpBias = c.Bool("mlp_bias", false);
            }
            else if (arch == Mistral)
            {
                slidingWindow = c.Present("sliding_window") ? c.NonNegativeIntOrNull("sliding_window") ?? 0 : 4096;
            }
            else if (arch == Qwen2)
            {
                qkvBias = true;
                slidingWindow = ReadQwenSlidingWindow(c, layers);
            }
            else // Qwen3
            {
                qkvBias = outputBias = c.Bool("attention_bias", false);
                qkNorm = true;
                slidingWindow = ReadQwenSlidingWindow(c, layers);
            }
        }

        return new ModelSpec
        {
            Architecture = arch.Name,
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositions = maxPositions,
            RmsNormEps = eps,
            RopeTheta = theta,
            Rope = rope,
            TieWordEmbeddings = tie,
            AttentionBias = qkvBias,
            AttentionOutputBias = outputBias,
            MlpBias = mlpBias,
            QkNorm = qkNorm,
            NormWeightOffset = normOffset,
            EmbeddingScale = embeddingScale,
            Activation = activation,
            SlidingWindow = slidingWindow,
            BosTokenId = c.NonNegativeIntOrNull("bos_token_id"),
            EosTokenIds = ReadEos(c),
        };
    }

    private static Arch ResolveArchitecture(Fields c)
    {
        if (c.Has("architectures"))
        {
            JsonElement list = c.Get("architectures");
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0 ||
                list.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                throw c.Error("architectures", $"must be a non-empty array of strings, found {Fields.Describe(list)}");
            string[] names = list.EnumerateArray().Select(e => e.GetString()!).ToArray();
            Arch? found = names.Select(n => Supported.FirstOrDefault(a => a.Name == n)).FirstOrDefault(a => a is not null);
            return found ?? throw new ModelConfigException(
                $"{c.Source}: architecture {string.Join(", ", names.Select(n => $"'{n}'"))} is not supported (supported: {SupportedList})");
        }
        string? modelType = c.String("model_type");
        if (modelType is null)
            throw c.Error("architectures", $"is missing, and so is model_type (supported architectures: {SupportedList})");
        return Supported.FirstOrDefault(a => a.ModelType == modelType) ?? throw new ModelConfigException(
            $"{c.Source}: model_type '{modelType}' is not supported and no architectures are given (supported: {SupportedList})");
    }

    private static Activation ParseActivation(Fields c, string field)
    {
        string name = c.String(field) ?? throw c.Error(field, "must be a string");
        return name switch
        {
            "silu" or "swish" => Activation.Silu,
            // The three spellings transformers uses for the tanh approximation of GELU.
            "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => Activation.GeluTanh,
            _ => throw c.Error(field, $"names activation '{name}', which is not supported (supported: silu, gelu_pytorch_tanh)"),
        };
    }

    /// <summary>Qwen2/Qwen3 slide only layers ≥ max_window_layers, and only with use_sliding_window; ModelSpec has one window for all.</summary>
    private static int ReadQwenSlidingWindow(Fields c, int layers)
    {
        if (!c.Bool("use_sliding_window", false)) return 0;
        int window = c.PositiveInt("sliding_window");
        if (c.Has("layer_types"))
        {
            JsonElement types = c.Get("layer_types");
            if (types.ValueKind != JsonValueKind.Array || types.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String))
                throw c.Error("layer_types", $"must be an array of strings, found {Fields.Describe(types)}");
            string[] distinct = types.EnumerateArray().Select(t => t.GetString()!).Distinct().ToArray();
            if (distinct is ["full_attention"]) return 0;
            if (distinct is ["sliding_attention"]) return window;
            throw c.Error("layer_types", $"mixes {string.Join(" and ", distinct)}; per-layer attention windows are not supported");
        }
        int firstSliding = c.NonNegativeInt("max_window_layers", 28);
        if (firstSliding >= layers) return 0;
        if (firstSliding == 0) return window;
        throw c.Error("max_window_layers",
            $"({firstSliding}) slides only layers {firstSliding}..{layers - 1}; per-layer attention windows are not supported");
    }

    private static int[] ReadEos(Fields c)
    {
        if (!c.Has("eos_token_id")) return [];
        JsonElement value = c.Get("eos_token_id");
        if (value.ValueKind == JsonValueKind.Array)
            return value.EnumerateArray().Select((e, i) => Fields.TokenId(e) ??
                throw c.Error("eos_token_id", $"entry {i} must be a non-negative integer, found {Fields.Describe(e)}")).ToArray();
        return [c.NonNegativeIntOrNull("eos_token_id")!.Value];
    }

    // ---- rope ----

    private static (double Theta, RopeScaling Scaling) ReadRope(Fields c)
    {
        double? topTheta = c.Has("rope_theta") ? c.PositiveNumber("rope_theta", 0) : null;
        RopeScaling? fromScaling = c.Has("rope_scaling") ? ReadScaling(c.Object("rope_scaling"), requireType: true) : null;
        if (!c.Has("rope_parameters"))
            return (topTheta ?? 10000, fromScaling ?? RopeScaling.None);

        // transformers 5.x: one object, or one per attention layer type (which must then agree).
        Fields p = c.Object("rope_parameters");
        var groups = new List<(double? Theta, RopeScaling Scaling, string Where)>();
        bool nested = !p.Present("rope_type") && !p.Present("rope_theta") && !p.Present("type") &&
                      p.Element.EnumerateObject().Any() && p.Element.EnumerateObject().All(e => e.Value.ValueKind == JsonValueKind.Object);
        if (nested)
            foreach (JsonProperty layerType in p.Element.EnumerateObject())
            {
                Fields g = p.Object(layerType.Name);
                groups.Add((g.Has("rope_theta") ? g.PositiveNumber("rope_theta", 0) : null, ReadScaling(g, requireType: false), g.Prefix));
            }
        else
            groups.Add((p.Has("rope_theta") ? p.PositiveNumber("rope_theta", 0) : null, ReadScaling(p, requireType: false), p.Prefix));

        var (theta, scaling, _) = groups[0];
        foreach (var other in groups.Skip(1))
            if (other.Theta != theta || other.Scaling != scaling)
                throw c.Error("rope_parameters", $"differ between layer types ({groups[0].Where} vs {other.Where}); per-layer rope is not supported");
        if (theta is not null && topTheta is not null && theta != topTheta)
            throw c.Error("rope_theta", $"({Fields.Number(topTheta.Value)}) disagrees with rope_parameters.rope_theta {Fields.Number(theta.Value)}");
        if (fromScaling is not null && fromScaling != scaling)
            throw c.Error("rope_scaling", "disagrees with rope_parameters");
        return (theta ?? topTheta ?? 10000, scaling);
    }

    private static RopeScaling ReadScaling(Fields r, bool requireType)
    {
        string field = r.Prefix.TrimEnd('.');
        string? type = r.String("rope_type") ?? r.String("type");
        if (type is null)
        {
            if (requireType) throw r.Error("rope_type", "is missing (expected \"default\", \"linear\" or \"llama3\")");
            type = "default";
        }
        switch (type)
        {
            case "default":
                return RopeScaling.None;
            case "linear":
                return new RopeScaling(RopeType.Linear, Factor: r.PositiveNumber("factor"));
            case "llama3":
            {
                double factor = r.PositiveNumber("factor");
                double low = r.PositiveNumber("low_freq_factor");
                double high = r.PositiveNumber("high_freq_factor");
                if (high <= low)
                    throw r.Error("high_freq_factor", $"({Fields.Number(high)}) must be greater than low_freq_factor ({Fields.Number(low)})");
                int original = r.PositiveInt("original_max_position_embeddings");
                return new RopeScaling(RopeType.Llama3, factor, low, high, original);
            }
            default:
                throw new ModelConfigException(
                    $"{r.Source}: {field} rope type '{type}' is not supported (supported: default, linear, llama3)");
        }
    }

    // ---- writing ----

    public static string Write(ModelSpec spec)
    {
        Arch arch = Supported.FirstOrDefault(a => a.Name == spec.Architecture) ?? throw new InvalidOperationException(
            $"architecture '{spec.Architecture}' is not supported (supported: {SupportedList})");
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue(spec.Architecture);
            w.WriteEndArray();
            w.WriteString("model_type", spec.ModelType);
            w.WriteNumber("hidden_size", spec.HiddenSize);
            w.WriteNumber("intermediate_size", spec.IntermediateSize);
            w.WriteNumber("num_hidden_layers", spec.NumLayers);
            w.WriteNumber("num_attention_heads", spec.NumHeads);
            w.WriteNumber("num_key_value_heads", spec.NumKvHeads);
            w.WriteNumber("head_dim", spec.HeadDim);
            w.WriteNumber("vocab_size", spec.VocabSize);
            w.WriteNumber("max_position_embeddings", spec.MaxPositions);
            w.WriteNumber("rms_norm_eps", spec.RmsNormEps);
            w.WriteNumber("rope_theta", spec.RopeTheta);
            WriteScaling(w, spec.Rope);
            w.WriteBoolean("tie_word_embeddings", spec.TieWordEmbeddings);
            string act = spec.Activation switch
            {
                Activation.Silu => "silu",
                Activation.GeluTanh => "gelu_pytorch_tanh",
                _ => throw new InvalidOperationException($"activation {spec.Activation} has no config.json name"),
            };
            w.WriteString("hidden_act", act);
            if (arch == Gemma)
            {
                w.WriteString("hidden_activation", act);
                w.WriteBoolean("attention_bias", spec.AttentionBias);
            }
            else if (arch == Llama)
            {
                w.WriteBoolean("attention_bias", spec.AttentionBias);
                w.WriteBoolean("mlp_bias", spec.MlpBias);
            }
            else if (arch == Mistral)
            {
                if (spec.SlidingWindow > 0) w.WriteNumber("sliding_window", spec.SlidingWindow);
                else w.WriteNull("sliding_window");
            }
            else
            {
                if (arch == Qwen3) w.WriteBoolean("attention_bias", spec.AttentionBias);
                bool sliding = spec.SlidingWindow > 0;
                w.WriteBoolean("use_sliding_window", sliding);
                if (sliding) w.WriteNumber("sliding_window", spec.SlidingWindow);
                else w.WriteNull("sliding_window");
                w.WriteNumber("max_window_layers", sliding ? 0 : spec.NumLayers);
            }
            if (spec.BosTokenId is int bos) w.WriteNumber("bos_token_id", bos);
            else w.WriteNull("bos_token_id");
            if (spec.EosTokenIds.Count == 1) w.WriteNumber("eos_token_id", spec.EosTokenIds[0]);
            else if (spec.EosTokenIds.Count == 0) w.WriteNull("eos_token_id");
            else
            {
                w.WriteStartArray("eos_token_id");
                foreach (int id in spec.EosTokenIds) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        string json = Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";

        // The flags an architecture fixes (Qwen2's biases, Gemma's norm offset, ...) are not written; make sure the
        // file says everything the spec does.
        ModelSpec back = Read(json, "ToConfigJson");
        if (back != spec)
            throw new InvalidOperationException(
                $"this spec cannot be written as a {spec.Architecture} config.json: it would read back as {back}, not {spec}");
        return json;
    }

    private static void WriteScaling(Utf8JsonWriter w, RopeScaling rope)
    {
        if (rope.Type == RopeType.Default)
        {
            w.WriteNull("rope_scaling");
            return;
        }
        w.WriteStartObject("rope_scaling");
        w.WriteString("rope_type", rope.Type == RopeType.Linear ? "linear" : "llama3");
        w.WriteNumber("factor", rope.Factor);
        if (rope.Type == RopeType.Llama3)
        {
            w.WriteNumber("low_freq_factor", rope.LowFreqFactor);
            w.WriteNumber("high_freq_factor", rope.HighFreqFactor);
            w.WriteNumber("original_max_position_embeddings", rope.OriginalMaxPositions);
        }
        w.WriteEndObject();
    }

    /// <summary>Typed access to one JSON object of the config; every error names the file and the dotted field.</summary>
    private readonly record struct Fields(JsonElement Element, string Source, string Prefix)
    {
        public bool Present(string name) => Element.TryGetProperty(name, out _);

        /// <summary>Present and not null: null means "use the default", as transformers reads it.</summary>
        public bool Has(string name) => Element.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null;

        public JsonElement Get(string name) => Element.GetProperty(name);

        public ModelConfigException Error(string name, string message) => new($"{Source}: field '{Prefix}{name}' {message}");

        public Fields Object(string name)
        {
            JsonElement v = Get(name);
            if (v.ValueKind != JsonValueKind.Object) throw Error(name, $"must be an object, found {Describe(v)}");
            return new Fields(v, Source, Prefix + name + ".");
        }

        public string? String(string name)
        {
            if (!Has(name)) return null;
            JsonElement v = Get(name);
            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error(name, $"must be a string, found {Describe(v)}");
        }

        public bool Bool(string name, bool fallback)
        {
            if (!Has(name)) return fallback;
            JsonElement v = Get(name);
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(name, $"must be true or false, found {Describe(v)}"),
            };
        }

        public int PositiveInt(string name, int? fallback = null)
        {
            int value = IntOrDefault(name, fallback);
            return value > 0 ? value : throw Error(name, $"must be positive, found {value}");
        }

        public int NonNegativeInt(string name, int fallback)
        {
            int value = IntOrDefault(name, fallback);
            return value >= 0 ? value : throw Error(name, $"must not be negative, found {value}");
        }

        public int? NonNegativeIntOrNull(string name) => Has(name) ? NonNegativeInt(name, 0) : null;

        private int IntOrDefault(string name, int? fallback)
        {
            if (!Has(name)) return fallback ?? throw Error(name, "is required");
            JsonElement v = Get(name);
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int value)) return value;
            throw Error(name, $"must be an integer, found {Describe(v)}");
        }

        public double PositiveNumber(string name, double? fallback = null)
        {
            if (!Has(name)) return fallback ?? throw Error(name, "is required");
            JsonElement v = Get(name);
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
                throw Error(name, $"must be a number, found {Describe(v)}");
            return value > 0 ? value : throw Error(name, $"must be positive, found {Number(value)}");
        }

        public static int? TokenId(JsonElement e) =>
            e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0 ? id : null;

        public static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        public static string Describe(JsonElement e)
        {
            string text = e.GetRawText();
            if (text.Length > 60) text = text[..57] + "...";
            return e.ValueKind switch
            {
                JsonValueKind.Object => "an object",
                JsonValueKind.Array => $"the array {text}",
                JsonValueKind.String => $"the string {text}",
                JsonValueKind.True or JsonValueKind.False => $"the boolean {text}",
                JsonValueKind.Null => "null",
                _ => text,
            };
        }
    }
}
