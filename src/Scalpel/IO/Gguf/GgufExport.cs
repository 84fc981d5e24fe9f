using System.Text.Json;
using Scalpel.Adapters;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.IO.Gguf;

/// <summary>A model Scalpel cannot express as GGUF (architecture, tokenizer, option); the message says what and why.</summary>
public sealed class GgufExportException(string message) : Exception(message);

/// <summary>
/// A loaded model (adapter already folded or applied) as a GGUF v3 file llama.cpp loads: architecture metadata,
/// the byte-level BPE tokenizer (tokens, types, merges, special ids, add-bos flag, pre-tokenizer name), the chat
/// template, and tensors under llama.cpp's names. Norms, biases and rope factors stay F32.
/// </summary>
/// <remarks>
/// What each Hugging Face architecture becomes, as llama.cpp's convert_hf_to_gguf.py and src/models/*.cpp have it:
/// <list type="bullet">
/// <item>Llama, Mistral, SmolLM → "llama": q/k rows permuted from HF's rotate-half layout to llama.cpp's interleaved
/// pairs; optional q/k/v/o and MLP biases; linear rope scaling as rope.scaling.type/factor; Llama 3 rope scaling as the
/// per-frequency divisors in <c>rope_freqs.weight</c> [headDim/2].</item>
/// <item>Qwen2 → "qwen2" and Qwen3 → "qwen3": NeoX (rotate-half) rope, so no permutation; Qwen2's q/k/v biases;
/// Qwen3's per-head q/k RMSNorm as <c>attn_q_norm</c>/<c>attn_k_norm</c>.</item>
/// <item>Gemma → "gemma": llama.cpp multiplies RMSNorm by the stored weight, so the +1 Gemma applies is folded into
/// every norm weight; it scales embeddings by √hidden itself, uses the tanh GELU, and always ties the output to
/// token_embd (no lm_head).</item>
/// </list>
/// What llama.cpp's graph for an architecture would compute differently (a bias it never loads, a sliding window it
/// does not apply) is refused by <see cref="Architecture"/> rather than exported wrong.
/// </remarks>
public static class GgufExport
{
    public static GgmlType ParseType(string text) => text.ToLowerInvariant() switch
    {
        "f32" => GgmlType.F32,
        "f16" => GgmlType.F16,
        "bf16" => GgmlType.BF16,
        "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0,
        _ => throw new ArgumentException($"'{text}' is not a GGUF type: f32, f16, bf16, q8_0 or q4_0"),
    };

    /// <summary>general.file_type (llama_ftype) for an export of <paramref name="type"/>.</summary>
    private static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0, GgmlType.F16 => 1, GgmlType.Q4_0 => 2, GgmlType.Q8_0 => 7, GgmlType.BF16 => 32, _ => 0,
    };

    /// <summary>Writes <paramref name="model"/> (its LoRA delta, if any, folded in) with the tokenizer of <paramref name="modelDirectory"/>.</summary>
    public static void Write(DecoderModel model, string modelDirectory, string outputFile, GgmlType type)
    {
        var spec = model.Spec;
        string arch = Architecture(spec);
        if (arch == "gemma" && !model.TiedEmbeddings)
            throw new GgufExportException($"{spec.Architecture}: the adapter trained embed_tokens or lm_head apart (modules_to_save), which unties them; " +
                                          "llama.cpp's Gemma always reuses token_embd as the output, so it is not exported");
        bool permute = arch == "llama";
        var gguf = new GgufWriter();
        AddArchitecture(gguf, spec, arch, modelDirectory, type);
        AddTokenizer(gguf, modelDirectory, spec);

        foreach (var t in MergedExport.MergedTensors(model))
        {
            string name = TensorName(t.Name, spec);
            long[] shape = t.Shape.Select(d => (long)d).ToArray();
            bool matrix = shape.Length == 2;
            var storeAs = !matrix ? GgmlType.F32
                : Gguf.IsQuantized(type) && shape[1] % Gguf.BlockSize != 0 ? GgmlType.F16
                : type;
            Func<float[]> values = t.Values;
            int? heads = !permute ? null
                : name.EndsWith("attn_q.weight", StringComparison.Ordinal) || name.EndsWith("attn_q.bias", StringComparison.Ordinal) ? spec.NumHeads
                : name.EndsWith("attn_k.weight", StringComparison.Ordinal) || name.EndsWith("attn_k.bias", StringComparison.Ordinal) ? spec.NumKvHeads
                : null;
            if (heads is int h)
            {
                long cols = matrix ? shape[1] : 1;
                values = () => PermuteRows(t.Values(), h, (int)shape[0], (int)cols);
            }
            if (spec.NormWeightOffset != 0 && IsNormWeight(t.Name))
                values = () => AddOffset(t.Values(), spec.NormWeightOffset);
            gguf.AddTensor(new GgufTensor(name, shape, storeAs, values));
        }
        if (spec.Rope.Type == RopeType.Llama3)
        {
            var factors = RopeFrequencyFactors(spec);
            gguf.AddTensor(new GgufTensor("rope_freqs.weight", [factors.Length], GgmlType.F32, () => factors));
        }
        gguf.Write(outputFile);
    }

    /// <summary>RMSNorm weights: the layer norms, the final norm, Qwen3's per-head q/k norms.</summary>
    private static bool IsNormWeight(string hfName) =>
        hfName.EndsWith("layernorm.weight", StringComparison.Ordinal) || hfName == "model.norm.weight"
        || hfName.EndsWith("q_norm.weight", StringComparison.Ordinal) || hfName.EndsWith("k_norm.weight", StringComparison.Ordinal);

    private static float[] AddOffset(float[] values, float offset)
    {
        System.Numerics.Tensors.TensorPrimitives.Add(values, offset, values);
        return values;
    }

    /// <summary>
    /// <c>rope_freqs.weight</c> for Llama 3 rope scaling: llama.cpp's ggml_rope_ext divides each base frequency
    /// theta^(−2i/d) by factor[i], so the factors are plain inv_freq over scaled inv_freq, with the scaled one computed
    /// exactly as Scalpel's own rope table does (transformers' _compute_llama3_parameters). convert_hf_to_gguf.py writes
    /// the same numbers (1 for short wavelengths, the scaling factor for long ones, a blend between), except that it
    /// reads original_max_position_embeddings from the top level of config.json (falling back to 8192) where
    /// transformers reads it from rope_scaling; this export follows transformers, whose model it is.
    /// </summary>
    public static float[] RopeFrequencyFactors(ModelSpec spec)
    {
        double[] plain = Backends.Cpu.Kernels.RopeTable.InverseFrequencies(spec.HeadDim, spec.RopeTheta, RopeScaling.None);
        double[] scaled = Backends.Cpu.Kernels.RopeTable.InverseFrequencies(spec.HeadDim, spec.RopeTheta, spec.Rope);
        return plain.Zip(scaled, (p, s) => (float)(p / s)).ToArray();
    }

    /// <summary>general.* and the architecture's hyper-parameters, as convert_hf_to_gguf.py writes them (adapters too).</summary>
    private static void AddArchitecture(GgufWriter gguf, ModelSpec spec, string arch, string modelDirectory, GgmlType type)
    {
        gguf.Add("general.architecture", arch);
        gguf.Add("general.alignment", (uint)Gguf.DefaultAlignment);
        gguf.Add("general.name", Path.GetFileName(Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar)));
        gguf.Add("general.file_type", FileType(type));
        gguf.Add("general.quantization_version", 2u);
        gguf.Add($"{arch}.context_length", (uint)spec.MaxPositions);
        gguf.Add($"{arch}.embedding_length", (uint)spec.HiddenSize);
        gguf.Add($"{arch}.block_count", (uint)spec.NumLayers);
        gguf.Add($"{arch}.feed_forward_length", (uint)spec.IntermediateSize);
        gguf.Add($"{arch}.attention.head_count", (uint)spec.NumHeads);
        gguf.Add($"{arch}.attention.head_count_kv", (uint)spec.NumKvHeads);
        if (spec.HeadDim * spec.NumHeads != spec.HiddenSize)
        {
            gguf.Add($"{arch}.attention.key_length", (uint)spec.HeadDim);
            gguf.Add($"{arch}.attention.value_length", (uint)spec.HeadDim);
        }
        gguf.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)spec.RmsNormEps);
        gguf.Add($"{arch}.rope.freq_base", (float)spec.RopeTheta);
        gguf.Add($"{arch}.rope.dimension_count", (uint)spec.HeadDim);
        if (spec.Rope.Type == RopeType.Linear)
        {
            // llama.cpp: freq_scale = 1/factor, every frequency divided by the factor (position interpolation).
            gguf.Add($"{arch}.rope.scaling.type", "linear");
            gguf.Add($"{arch}.rope.scaling.factor", (float)spec.Rope.Factor);
        }
        gguf.Add($"{arch}.vocab_size", (uint)spec.VocabSize);
    }

    /// <summary>
    /// The model's LoRA adapter alone as a GGUF LoRA file, as llama.cpp's convert_lora_to_gguf.py writes it:
    /// general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per adapted linear
    /// <c>blk.N.attn_q.weight.lora_a</c> [r, in] and <c>.lora_b</c> [out, r]. llama.cpp scales B·A by alpha/r, so an
    /// rsLoRA adapter is written with alpha·√r. The Q/K row permutation acts on the output rows, i.e. on lora_b only.
    /// </summary>
    public static void WriteAdapter(DecoderModel model, string modelDirectory, string outputFile, GgmlType type)
    {
        var config = model.Lora ?? throw new GgufExportException("the model has no LoRA adapter to export");
        // llama.cpp's LoRA adapters hold lora_a / lora_b pairs only: no DoRA magnitude, no replaced embedding or head.
        if (config.UseDora)
            throw new GgufExportException("a DoRA adapter (use_dora) has a magnitude vector llama.cpp's GGUF LoRA format cannot hold; " +
                                          "export the merged model to GGUF instead (the magnitude folds into the weights)");
        if (config.ModulesToSave.Count > 0)
            throw new GgufExportException($"an adapter with modules_to_save ({string.Join(", ", config.ModulesToSave)}) replaces whole matrices, " +
                                          "which llama.cpp's GGUF LoRA format cannot hold; export the merged model to GGUF instead");
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new GgufExportException($"a GGUF LoRA adapter is written as f32, f16 or bf16, not {type}");
        var spec = model.Spec;
        string arch = Architecture(spec);
        bool permute = arch == "llama";
        var gguf = new GgufWriter();
        gguf.Add("general.type", "adapter");
        AddArchitecture(gguf, spec, arch, modelDirectory, type);
        gguf.Add("adapter.type", "lora");
        gguf.Add("adapter.lora.alpha", config.UseRsLora ? config.Alpha * MathF.Sqrt(config.Rank) : config.Alpha);
        foreach (var (module, a, b) in model.LoraModules)
        {
            string name = TensorName(module + ".weight", spec);
            int[] aShape = a.Value.Shape.ToArray(), bShape = b.Value.Shape.ToArray();
            int? heads = !permute ? null
                : name.EndsWith("attn_q.weight", StringComparison.Ordinal) ? spec.NumHeads
                : name.EndsWith("attn_k.weight", StringComparison.Ordinal) ? spec.NumKvHeads
                : null;
            gguf.AddTensor(new GgufTensor(name + ".lora_a", aShape.Select(d => (long)d).ToArray(), type, () => Download(model, a)));
            gguf.AddTensor(new GgufTensor(name + ".lora_b", bShape.Select(d => (long)d).ToArray(), type, () =>
                heads is int h ? PermuteRows(Download(model, b), h, bShape[0], bShape[1]) : Download(model, b)));
        }
        gguf.Write(outputFile);
    }

    private static float[] Download(DecoderModel model, Parameter p)
    {
        var values = new float[p.Value.Length];
        model.Backend.Download(p.Value, values);
        return values;
    }

    /// <summary>The GGUF architecture name, or a refusal that names what llama.cpp would compute differently.</summary>
    public static string Architecture(ModelSpec spec)
    {
        string arch = spec.ModelType switch
        {
            "llama" or "mistral" => "llama",
            "qwen2" => "qwen2",
            "qwen3" => "qwen3",
            "gemma" => "gemma",
            _ => throw new GgufExportException(
                $"GGUF export supports Llama, Mistral, SmolLM, Qwen2, Qwen3 and Gemma models; {spec.Architecture} ({spec.ModelType}) is not supported yet"),
        };
        void Refuse(bool condition, string what)
        {
            if (condition) throw new GgufExportException($"{spec.Architecture}: {what}; llama.cpp's \"{arch}\" graph would compute something else, so it is not exported");
        }
        bool gemma = arch == "gemma";
        Refuse(spec.Rope.Type == RopeType.Llama3 && arch != "llama", "Llama 3 rope scaling outside a Llama model");
        Refuse(spec.Activation != (gemma ? Activation.GeluTanh : Activation.Silu), $"activation {spec.Activation}");
        Refuse(spec.QkNorm != (arch == "qwen3"), spec.QkNorm ? "q/k norms" : "no q/k norms");
        Refuse(spec.NormWeightOffset != (gemma ? 1f : 0f), $"RMSNorm weight offset {spec.NormWeightOffset}");
        Refuse(spec.EmbeddingScale != (gemma ? MathF.Sqrt(spec.HiddenSize) : 1f), $"embedding scale {spec.EmbeddingScale}");
        Refuse(gemma && !spec.TieWordEmbeddings, "an untied lm_head (llama.cpp's Gemma always reuses token_embd)");
        Refuse(arch == "qwen2" && !spec.AttentionBias, "q/k/v without biases");
        Refuse(arch is "qwen3" or "gemma" && (spec.AttentionBias || spec.AttentionOutputBias), "attention biases");
        Refuse(arch != "llama" && spec.MlpBias, "MLP biases");
        Refuse(arch is "qwen2" or "qwen3" or "gemma" && spec.SlidingWindow > 0, $"sliding-window attention ({spec.SlidingWindow})");
        // Not refused: a Mistral sliding window. llama.cpp's "llama" graph attends to the whole context, as the GGUF from
        // convert_hf_to_gguf.py does; the two agree up to the window (4096 tokens for Mistral 7B v0.1, none later).
        return arch;
    }

    /// <summary>Hugging Face parameter name → llama.cpp tensor name.</summary>
    public static string TensorName(string hfName, ModelSpec spec)
    {
        switch (hfName)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        const string prefix = "model.layers.";
        if (hfName.StartsWith(prefix, StringComparison.Ordinal))
        {
            int dot = hfName.IndexOf('.', prefix.Length);
            string layer = hfName[prefix.Length..dot], rest = hfName[(dot + 1)..];
            int last = rest.LastIndexOf('.');
            string module = rest[..last], suffix = rest[(last + 1)..];
            string? mapped = module switch
            {
                "input_layernorm" => "attn_norm",
                "self_attn.q_proj" => "attn_q",
                "self_attn.k_proj" => "attn_k",
                "self_attn.v_proj" => "attn_v",
                "self_attn.o_proj" => "attn_output",
                "self_attn.q_norm" => "attn_q_norm",
                "self_attn.k_norm" => "attn_k_norm",
                "post_attention_layernorm" => "ffn_norm",
                "mlp.gate_proj" => "ffn_gate",
                "mlp.up_proj" => "ffn_up",
                "mlp.down_proj" => "ffn_down",
                _ => null,
            };
            if (mapped is not null) return $"blk.{layer}.{mapped}.{suffix}";
        }
        throw new GgufExportException($"{spec.Architecture}: parameter '{hfName}' has no llama.cpp tensor name");
    }

    /// <summary>
    /// convert_hf_to_gguf.py's permute(w, n_head): rows viewed as [heads, 2, rows/heads/2] with the last two axes
    /// swapped, i.e. each head's first and second halves interleave. <see cref="UnpermuteRows"/> undoes it.
    /// </summary>
    public static float[] PermuteRows(float[] w, int heads, int rows, int cols) => Reorder(w, heads, rows, cols, inverse: false);

    public static float[] UnpermuteRows(float[] w, int heads, int rows, int cols) => Reorder(w, heads, rows, cols, inverse: true);

    private static float[] Reorder(float[] w, int heads, int rows, int cols, bool inverse)
    {
        int half = rows / heads / 2;
        var result = new float[w.Length];
        for (int h = 0; h < heads; h++)
            for (int two = 0; two < 2; two++)
                for (int i = 0; i < half; i++)
                {
                    int src = h * 2 * half + two * half + i;   // [h, two, i] in HF order
                    int dst = h * 2 * half + i * 2 + two;      // [h, i, two] in llama.cpp order
                    if (inverse) (src, dst) = (dst, src);
                    Array.Copy(w, (long)src * cols, result, (long)dst * cols, cols);
                }
        return result;
    }

    private static void AddTokenizer(GgufWriter gguf, string modelDirectory, ModelSpec spec)
    {
        string path = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(path))
            throw new GgufExportException($"{modelDirectory}: no tokenizer.json; GGUF export needs the model's tokenizer");
        var tokenizer = Tokenizer.FromDirectory(modelDirectory);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        bool bpe = model.TryGetProperty("type", out var mt) && mt.GetString() == "BPE";
        if (bpe && IsSentencePieceBpe(root, model))
        {
            AddSentencePieceTokenizer(gguf, root, model, tokenizer, spec);
            AddSpecialIdsAndTemplate(gguf, tokenizer, spec, modelDirectory);
            return;
        }
        if (!bpe || !IsByteLevel(root))
            throw new GgufExportException($"{path}: GGUF export supports byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2, SmolLM) " +
                                          "and SentencePiece-style BPE with byte fallback (Llama 2, Mistral, Phi-3) only");

        int n = spec.VocabSize;
        var tokens = new string[n];
        var types = new int[n];
        var special = tokenizer.Config.AddedTokens.ToDictionary(t => t.Id);
        for (int id = 0; id < n; id++)
        {
            string? text = tokenizer.IdToToken(id);
            if (text is null) { tokens[id] = $"[PAD{id}]"; types[id] = 5; continue; }   // UNUSED
            tokens[id] = text;
            types[id] = special.TryGetValue(id, out var added) ? (added.Special || tokenizer.IsSpecial(id) ? 3 : 4) : tokenizer.IsSpecial(id) ? 3 : 1;
        }
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.Array ? m[0].GetString() + " " + m[1].GetString() : m.GetString()!)
            .ToArray();

        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", PreTokenizerName(root));
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.merges", merges);
        AddSpecialIdsAndTemplate(gguf, tokenizer, spec, modelDirectory);
    }

    private static void AddSpecialIdsAndTemplate(GgufWriter gguf, Tokenizer tokenizer, ModelSpec spec, string modelDirectory)
    {
        int? bos = tokenizer.BosTokenId ?? spec.BosTokenId;
        int? eos = tokenizer.EosTokenId ?? (spec.EosTokenIds.Count > 0 ? spec.EosTokenIds[0] : null);
        if (bos is int b) gguf.Add("tokenizer.ggml.bos_token_id", (uint)b);
        if (eos is int e) gguf.Add("tokenizer.ggml.eos_token_id", (uint)e);
        if (tokenizer.PadTokenId is int p) gguf.Add("tokenizer.ggml.padding_token_id", (uint)p);
        // Whether encode(add_special_tokens=True) puts BOS first / EOS last, measured rather than guessed from flags.
        var with = tokenizer.Encode("a", addSpecialTokens: true);
        var without = tokenizer.Encode("a", addSpecialTokens: false);
        bool addBos = bos is int bb && with.Length > without.Length && with[0] == bb;
        bool addEos = eos is int ee && with.Length > without.Length && with[^1] == ee;
        gguf.Add("tokenizer.ggml.add_bos_token", addBos);
        gguf.Add("tokenizer.ggml.add_eos_token", addEos);
        if (ChatTemplate.SourceFromDirectory(modelDirectory, tokenizer.Config).Source is { } template)
            gguf.Add("tokenizer.chat_template", template);
    }

    /// <summary>A Llama 2 / Mistral / Phi-3 style tokenizer.json: BPE over ▁-marked pieces with byte fallback.</summary>
    private static bool IsSentencePieceBpe(JsonElement root, JsonElement model) =>
        model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True && !IsByteLevel(root);

    /// <summary>
    /// tokenizer.ggml.model "llama" (llama.cpp's SentencePiece tokenizer): the pieces as they are (with ▁), token
    /// types (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, BYTE 6 for &lt;0xNN&gt;) and scores. llama.cpp merges
    /// the adjacent pair whose joined piece scores highest, so a piece scores −(rank of the first merge that makes it):
    /// the same priority order as the HF merges. Pieces no merge makes (characters, bytes) score 0, added tokens −1000
    /// as convert_hf_to_gguf.py writes them.
    /// </summary>
    private static void AddSentencePieceTokenizer(GgufWriter gguf, JsonElement root, JsonElement model, Tokenizer tokenizer, ModelSpec spec)
    {
        bool prefix = false, replacesSpaces = false;
        if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind == JsonValueKind.Object)
        {
            var parts = norm.GetProperty("type").GetString() == "Sequence" ? norm.GetProperty("normalizers").EnumerateArray().ToList() : [norm];
            foreach (var p in parts)
            {
                string? t = p.GetProperty("type").GetString();
                if (t == "Prepend" && p.GetProperty("prepend").GetString() == "\u2581") prefix = true;
                else if (t == "Replace" && p.GetProperty("content").GetString() == "\u2581") replacesSpaces = true;
                else throw new GgufExportException($"tokenizer.json normalizer step {t} has no llama.cpp SentencePiece equivalent");
            }
        }
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
        {
            if (pre.GetProperty("type").GetString() != "Metaspace")
                throw new GgufExportException($"tokenizer.json pre-tokenizer {pre.GetProperty("type").GetString()} has no llama.cpp SentencePiece equivalent");
            replacesSpaces = true;
            string scheme = pre.TryGetProperty("prepend_scheme", out var ps) ? ps.GetString() ?? "always"
                : pre.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False ? "never" : "always";
            if (pre.TryGetProperty("split", out var sp) && sp.ValueKind == JsonValueKind.True)
                throw new GgufExportException("tokenizer.json Metaspace with split=true has no llama.cpp SentencePiece equivalent");
            prefix = scheme != "never";
        }
        if (!replacesSpaces)
            throw new GgufExportException("tokenizer.json does not map spaces to ▁; llama.cpp's SentencePiece tokenizer would split differently");

        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        int r = 0;
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            string joined = m.ValueKind == JsonValueKind.Array ? m[0].GetString() + m[1].GetString() : m.GetString()!.Replace(" ", "");
            rank.TryAdd(joined, r++);
        }
        int? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? tokenizer.TokenToId(u.GetString()!) : null;
        var added = tokenizer.Config.AddedTokens.ToDictionary(t => t.Id);
        int n = spec.VocabSize;
        var tokens = new string[n];
        var types = new int[n];
        var scores = new float[n];
        for (int id = 0; id < n; id++)
        {
            string? text = tokenizer.IdToToken(id);
            if (text is null) { tokens[id] = $"[PAD{id}]"; types[id] = 5; scores[id] = -1000; continue; }
            tokens[id] = text;
            if (id == unk) { types[id] = 2; continue; }
            if (added.TryGetValue(id, out var a) || tokenizer.IsSpecial(id))
            {
                types[id] = (a?.Special ?? false) || tokenizer.IsSpecial(id) ? 3 : 4;
                scores[id] = -1000;
                continue;
            }
            if (text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>') { types[id] = 6; continue; }
            types[id] = 1;
            if (rank.TryGetValue(text, out int k)) scores[id] = -k;
        }
        gguf.Add("tokenizer.ggml.model", "llama");
        gguf.Add("tokenizer.ggml.tokens", tokens);
        gguf.Add("tokenizer.ggml.scores", scores);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.add_space_prefix", prefix);
        if (unk is int uid) gguf.Add("tokenizer.ggml.unknown_token_id", (uint)uid);
    }

    private static bool IsByteLevel(JsonElement root) =>
        root.TryGetProperty("decoder", out var d) && d.ValueKind == JsonValueKind.Object && d.TryGetProperty("type", out var t)
        && t.GetString() == "ByteLevel";

    // Split patterns of the pre-tokenizers llama.cpp knows by name (llama-vocab.cpp / convert_hf_to_gguf.py's hashes).
    private const string Llama3Split = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Split = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>tokenizer.ggml.pre: the llama.cpp pre-tokenizer that splits text as tokenizer.json does.</summary>
    public static string PreTokenizerName(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            throw new GgufExportException("tokenizer.json has no pre_tokenizer; llama.cpp would split the text differently");
        string type = pre.GetProperty("type").GetString() ?? "";
        if (type == "ByteLevel" && (!pre.TryGetProperty("use_regex", out var ur) || ur.GetBoolean()))
            return "gpt-2";   // GPT-2's own split pattern
        if (type == "Sequence")
        {
            var parts = pre.GetProperty("pretokenizers").EnumerateArray().ToList();
            var split = parts.FirstOrDefault(p => p.GetProperty("type").GetString() == "Split");
            string? regex = split.ValueKind == JsonValueKind.Object && split.TryGetProperty("pattern", out var pat)
                && pat.TryGetProperty("Regex", out var r) ? r.GetString() : null;
            bool digits = parts.Any(p => p.GetProperty("type").GetString() == "Digits");
            if (regex == Llama3Split && !digits) return "llama-bpe";
            if (regex == Qwen2Split && !digits) return "qwen2";
            if (digits && parts.Any(p => p.GetProperty("type").GetString() == "ByteLevel")) return "smollm";
        }
        throw new GgufExportException(
            $"tokenizer.json's pre-tokenizer ({type}) matches none llama.cpp knows by name (gpt-2, llama-bpe, qwen2, smollm); export refused rather than tokenize differently");
    }
}
