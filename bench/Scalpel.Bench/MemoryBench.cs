using System.Globalization;
using System.Text;
using System.Text.Json;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// `memory-cpu prepare DIR SIZE TOKENIZER_DIR`: writes what `bench/run memory-cpu` trains on for one Qwen2.5 size
/// (0.5b or 1.5b): DIR/model (the real Qwen2.5 config.json, random BF16 weights in the HF layout, the real Qwen2.5
/// tokenizer), DIR/train.jsonl (text examples longer than 1024 tokens, cut to 1024 by truncate_answer) and one
/// `scalpel train` config per method (lora, qlora, full), each batch 1 × 1024 with gradient checkpointing.
/// The weights are drawn and written in chunks, so preparing 1.5B shapes holds a few MB, not 6 GB.
/// </summary>
public static class MemoryBench
{
    /// <summary>LoRA settings shared with bench/peers/lora_torch_qwen.py: every linear of every block.</summary>
    public const int LoraRank = 16, LoraAlpha = 32, SequenceLength = 1024;

    // The config.json files of Qwen/Qwen2.5-0.5B and Qwen/Qwen2.5-1.5B as published (sizes differ; the rest is shared).
    private static string QwenConfigJson(string size)
    {
        var (hidden, inter, layers, heads, windowLayers) = size switch
        {
            "0.5b" => (896, 4864, 24, 14, 24),
            "1.5b" => (1536, 8960, 28, 12, 21),
            _ => throw new ArgumentException($"unknown size '{size}' (0.5b or 1.5b)"),
        };
        return $$"""
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": {{hidden}},
          "initializer_range": 0.02,
          "intermediate_size": {{inter}},
          "max_position_embeddings": 32768,
          "max_window_layers": {{windowLayers}},
          "model_type": "qwen2",
          "num_attention_heads": {{heads}},
          "num_hidden_layers": {{layers}},
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;
    }

    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["prepare", var dir, var size, var tokenizerDir]:
                Prepare(dir, size, tokenizerDir);
                return 0;
            default:
                Console.Error.WriteLine("usage: memory-cpu prepare DIR 0.5b|1.5b TOKENIZER_DIR");
                return 2;
        }
    }

    private static void Prepare(string dir, string size, string tokenizerDir)
    {
        string modelDir = Path.Combine(dir, "model");
        Directory.CreateDirectory(modelDir);
        string configPath = Path.Combine(modelDir, "config.json");
        string done = Path.Combine(modelDir, ".complete");
        if (!File.Exists(done))
        {
            File.WriteAllText(configPath, QwenConfigJson(size));
            var spec = ModelSpec.FromConfigFile(configPath);
            foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" })
            {
                string target = Path.Combine(modelDir, file);
                File.Delete(target);   // a copy left by an interrupted prepare may be read-only, like the fixture
                File.Copy(Path.Combine(tokenizerDir, file), target);
            }
            var watch = System.Diagnostics.Stopwatch.StartNew();
            long parameters = WriteRandomWeights(spec, modelDir);
            File.WriteAllText(done, "");
            Console.Error.WriteLine($"memory-cpu: wrote {parameters / 1e6:F0}M random BF16 parameters to {modelDir} in {watch.Elapsed.TotalSeconds:F0} s " +
                                    $"(peak RSS {LoraBench.PeakRssMb():F0} MB)");
        }
        WriteTrainingText(Path.Combine(dir, "train.jsonl"));
        foreach (string method in new[] { "lora", "qlora", "full" })
            File.WriteAllText(Path.Combine(dir, method + ".yaml"), TrainConfigYaml(method));
    }

    /// <summary>
    /// Random weights in the tensor names and order of a Qwen2 checkpoint, as one BF16 model.safetensors (as the real
    /// Qwen2.5-0.5B and 1.5B repositories ship them), written tensor by tensor in chunks of 1 M values: the process holds
    /// a few MB whatever the model size. Linears and embeddings are uniform with standard deviation 0.02 (the config's
    /// initializer_range), norms 1, biases small, so the loss of a random model stays finite.
    /// </summary>
    private static long WriteRandomWeights(ModelSpec spec, string modelDir)
    {
        var tensors = new List<(string Name, long[] Shape, float Scale, float Offset)>();
        const float matrix = 0.0346f;   // uniform on ±0.0346 has standard deviation 0.02
        int d = spec.HiddenSize, q = spec.NumHeads * spec.HeadDim, kv = spec.NumKvHeads * spec.HeadDim, inter = spec.IntermediateSize;
        tensors.Add(("model.embed_tokens.weight", [spec.VocabSize, d], matrix, 0));
        for (int l = 0; l < spec.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.Add((p + "input_layernorm.weight", [d], 0, 1));
            foreach (var (m, o, i) in new[] { ("q_proj", q, d), ("k_proj", kv, d), ("v_proj", kv, d), ("o_proj", d, q) })
            {
                tensors.Add((p + "self_attn." + m + ".weight", [o, i], matrix, 0));
                bool bias = m == "o_proj" ? spec.AttentionOutputBias : spec.AttentionBias;
                if (bias) tensors.Add((p + "self_attn." + m + ".bias", [o], 0.01f, 0));
            }
            tensors.Add((p + "post_attention_layernorm.weight", [d], 0, 1));
            foreach (var (m, o, i) in new[] { ("gate_proj", inter, d), ("up_proj", inter, d), ("down_proj", d, inter) })
                tensors.Add((p + "mlp." + m + ".weight", [o, i], matrix, 0));
        }
        tensors.Add(("model.norm.weight", [d], 0, 1));
        if (!spec.TieWordEmbeddings) tensors.Add(("lm_head.weight", [spec.VocabSize, d], matrix, 0));

        // The safetensors header: {name: {dtype, shape, data_offsets}} in file order, padded with spaces to 8 bytes.
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Shape.Aggregate(1L, (a, b) => a * b) * 2;
            header[t.Name] = new { dtype = "BF16", shape = t.Shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        byte[] headerBytes = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (headerBytes.Length + 7) / 8 * 8;

        foreach (string stale in Directory.GetFiles(modelDir, "model*.safetensors*")) File.Delete(stale);   // an older sharded layout
        string path = Path.Combine(modelDir, "model.safetensors"), temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            var chunk = new ushort[1 << 20];
            for (int index = 0; index < tensors.Count; index++)
            {
                var (_, shape, scale, bias) = tensors[index];
                var rng = new XorShift(index + 1);
                for (long left = shape.Aggregate(1L, (a, b) => a * b); left > 0; left -= chunk.Length)
                {
                    int n = (int)Math.Min(left, chunk.Length);
                    for (int k = 0; k < n; k++) chunk[k] = BFloat16Bits.FromSingle(bias + (rng.NextUnit() * 2 - 1) * scale);
                    stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
                }
            }
        }
        File.Move(temp, path, overwrite: true);

        // Read the file back with Scalpel's own reader: every tensor present, with its shape and dtype.
        using var reader = CheckpointReader.Open(modelDir);
        if (reader.TensorNames.Count() != tensors.Count)
            throw new InvalidDataException($"{path}: {reader.TensorNames.Count()} tensors read back, {tensors.Count} written");
        foreach (var t in tensors)
        {
            var info = reader.Info(t.Name);
            if (info.DType != DType.BF16 || !info.Shape.Select(x => (long)x).SequenceEqual(t.Shape))
                throw new InvalidDataException($"{path}: '{t.Name}' reads back as {info.DType} [{string.Join(", ", info.Shape)}]");
        }
        return offset / 2;
    }

    /// <summary>Marsaglia's xorshift64: fast enough for 1.5 B values, and seeded per tensor.</summary>
    private struct XorShift(int seed)
    {
        private ulong _state = 0x9E3779B97F4A7C15UL * (ulong)seed + 1;

        /// <summary>A uniform value in [0, 1).</summary>
        public float NextUnit()
        {
            _state ^= _state << 13; _state ^= _state >> 7; _state ^= _state << 17;
            return (_state >> 40) * (1f / (1 << 24));
        }
    }

    /// <summary>16 text examples of seeded English-like words, each well over 1024 Qwen2.5 tokens.</summary>
    private static void WriteTrainingText(string path)
    {
        string[] words =
        [
            "the", "model", "learns", "from", "examples", "of", "text", "and", "memory", "is", "measured", "while", "training",
            "a", "small", "language", "with", "adapters", "on", "every", "linear", "layer", "gradient", "checkpointing", "keeps",
            "activations", "short", "quantized", "weights", "save", "space", "but", "cost", "time", "when", "they", "are", "read",
        ];
        var rng = new Random(7);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        for (int e = 0; e < 16; e++)
        {
            var text = new StringBuilder();
            for (int w = 0; w < 2000; w++)
            {
                text.Append(words[rng.Next(words.Length)]);
                text.Append(w % 17 == 16 ? ". " : " ");
            }
            writer.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = text.ToString().TrimEnd() }));
        }
    }

    /// <summary>One `scalpel train` config; steps and the run folder come from --set (bench/run sets them per run).</summary>
    private static string TrainConfigYaml(string method)
    {
        string model = method switch
        {
            "lora" => "  path: model\n  precision: bf16\n",
            "qlora" => "  path: model\n  quantize: nf4\n",
            _ => "  path: model\n",
        };
        string lora = method == "full" ? "" : string.Create(CultureInfo.InvariantCulture,
            $"lora:\n  rank: {LoraRank}\n  alpha: {LoraAlpha}\n  dropout: 0\n  target_modules: all-linear\n");
        return $"""
            # bench/run memory-cpu: {method}, batch 1 x {SequenceLength} tokens, gradient checkpointing on.
            model:
            {model}data:
              train: train.jsonl
              format: text
              max_length: {SequenceLength}
              truncation: truncate_answer
            method: {method}
            {lora}training:
              max_steps: 3
              batch_size: 1
              lr: 0.0001
              schedule: constant
              max_grad_norm: 1.0
              weight_decay: 0
              gradient_checkpointing: true
            checkpoints:
              interval: 1000
              keep: 1
            output:
              dir: runs/{method}

            """;
    }
}
