using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Scalpel.Tests.Training;
using Scalpel.Training;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.IO;

/// <summary>
/// <c>scalpel export gguf</c> on the pipeline check's tiny Llama (GQA, byte-level BPE, ChatML): round trips through
/// Scalpel's reader, and llama.cpp itself (node-llama-cpp's prebuilt CPU binary) as the oracle for tokenization and
/// greedy generation. A missing node or package is a failure, never a skip: ./run-tests installs them.
/// </summary>
[Collection("console")]
public class GgufExportTests(ITestOutputHelper output)
{
    private static (int Code, string Out, string Err) Cli(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args);

    private static readonly string[] TokenizeInputs =
    [
        "Which class: the apple is red", " the wolf and a flute", "hello, world!  12345 ünïcödé 🙂\n\ttabs",
        "<|im_start|>user\nWhich class: a plum<|im_end|>\n<|im_start|>assistant\n", "what's   up?? they'll", "",
    ];

    private static string Prompt => "<|im_start|>user\nWhich class: the wolf was at one tram<|im_end|>\n<|im_start|>assistant\n";

    private static string Export(string model, string dir, string type)
    {
        string file = Path.Combine(dir, $"model-{type}.gguf");
        var (code, stdout, stderr) = Cli("export", "gguf", "--model", model, "--out", file, "--type", type);
        Assert.True(code == 0, stderr);
        Assert.Equal(Path.GetFullPath(file), stdout.Trim());
        return file;
    }

    [Fact]
    public void F32RoundTripGivesIdenticalTensorsAndLlamaMetadata()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var spec = ModelSpec.FromConfigFile(model);
        var gguf = GgufReader.Open(Export(model, dir.Path, "f32"));

        Assert.Equal(3u, gguf.Version);
        Assert.Equal("llama", gguf.Get<string>("general.architecture"));
        Assert.Equal((uint)spec.NumLayers, gguf.Get<uint>("llama.block_count"));
        Assert.Equal((uint)spec.NumKvHeads, gguf.Get<uint>("llama.attention.head_count_kv"));
        Assert.Equal((uint)spec.HeadDim, gguf.Get<uint>("llama.rope.dimension_count"));
        Assert.Equal("gpt2", gguf.Get<string>("tokenizer.ggml.model"));
        Assert.Equal("gpt-2", gguf.Get<string>("tokenizer.ggml.pre"));
        var tokenizer = Tokenizer.FromDirectory(model);
        var tokens = gguf.Get<string[]>("tokenizer.ggml.tokens");
        Assert.Equal(spec.VocabSize, tokens.Length);
        int imEnd = tokenizer.TokenToId("<|im_end|>")!.Value;
        Assert.Equal(3, gguf.Get<int[]>("tokenizer.ggml.token_type")[imEnd]);
        Assert.Equal(1, gguf.Get<int[]>("tokenizer.ggml.token_type")[0]);
        Assert.Equal((uint)imEnd, gguf.Get<uint>("tokenizer.ggml.eos_token_id"));
        Assert.False(gguf.Get<bool>("tokenizer.ggml.add_bos_token"));
        Assert.Contains("<|im_start|>", gguf.Get<string>("tokenizer.chat_template"));
        Assert.NotEmpty(gguf.Get<string[]>("tokenizer.ggml.merges"));
        Assert.All(gguf.Tensors, t => Assert.Equal(0, t.Offset % 32));

        using var reader = CheckpointReader.Open(model);
        int n = 0;
        foreach (var name in reader.TensorNames)
        {
            var info = reader.Info(name);
            var expected = new float[info.ElementCount];
            reader.ReadAsF32(name, expected);
            string ggufName = GgufExport.TensorName(name, spec);
            var t = gguf.Tensor(ggufName);
            Assert.Equal(info.Shape.Select(d => (long)d), t.Shape);
            Assert.Equal(info.Shape.Length == 1 ? GgmlType.F32 : GgmlType.F32, t.Type);
            var actual = gguf.ReadF32(ggufName);
            if (ggufName.EndsWith("attn_q.weight")) actual = GgufExport.UnpermuteRows(actual, spec.NumHeads, info.Shape[0], info.Shape[1]);
            if (ggufName.EndsWith("attn_k.weight")) actual = GgufExport.UnpermuteRows(actual, spec.NumKvHeads, info.Shape[0], info.Shape[1]);
            Assert.Equal(expected, actual);
            n++;
        }
        Assert.Equal(n, gguf.Tensors.Count);
    }

    [Theory]
    [InlineData("f16", 1e-3)]
    [InlineData("bf16", 8e-3)]
    [InlineData("q8_0", 1e-2)]
    [InlineData("q4_0", 0.15)]
    public void ReducedTypesDecodeCloseToF32AndKeepNormsF32(string type, double relTolerance)
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var gguf = GgufReader.Open(Export(model, dir.Path, type));
        var expectedType = GgufExport.ParseType(type);
        using var reader = CheckpointReader.Open(model);
        var w = new float[reader.Info("model.layers.1.mlp.down_proj.weight").ElementCount];
        reader.ReadAsF32("model.layers.1.mlp.down_proj.weight", w);
        Assert.Equal(expectedType, gguf.Tensor("blk.1.ffn_down.weight").Type);
        Assert.Equal(GgmlType.F32, gguf.Tensor("blk.1.ffn_norm.weight").Type);
        Assert.Equal(GgmlType.F32, gguf.Tensor("output_norm.weight").Type);
        var back = gguf.ReadF32("blk.1.ffn_down.weight");
        double err = Math.Sqrt(w.Zip(back, (a, b) => (double)(a - b) * (a - b)).Sum() / w.Sum(a => (double)a * a));
        output.WriteLine($"{type}: relative RMS error {err:E2}");
        Assert.True(err < relTolerance, $"{type}: relative RMS error {err}");
    }

    [Fact]
    public void QuantizersMatchLlamaCppReferenceOnKnownBlock()
    {
        var x = Enumerable.Range(0, 32).Select(i => (i - 10) * 0.25f).ToArray();   // max |x| = 5.25, signed max 5.25
        var q8 = Gguf.Encode(GgmlType.Q8_0, x);
        Assert.Equal(34, q8.Length);
        Assert.Equal((Half)(5.25f / 127), BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(q8)));
        Assert.Equal(127, (sbyte)q8[2 + 31]);
        Assert.Equal(0, (sbyte)q8[2 + 10]);
        var q4 = Gguf.Encode(GgmlType.Q4_0, x);
        Assert.Equal(18, q4.Length);
        Assert.Equal((Half)(5.25f / -8), BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(q4)));
        Assert.Equal(0, q4[2 + 15] >> 4);                    // element 31 (the max) → nibble 0 (= -8 · d)
        Assert.Equal(8, q4[2 + 10] & 0x0F);                  // element 10 (zero) → nibble 8
        var back = Gguf.Decode(GgmlType.Q4_0, q4, 32);
        Assert.Equal(5.25f, back[31], 2);
    }

    [Fact]
    public void MetadataValueTypesMatchLlamaCppVocabFixture()
    {
        var fixture = GgufReader.Open(Path.Combine(RepoPaths.Fixtures, "vocab-tests", "ggml-vocab-gpt-2.gguf"));
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var ours = GgufReader.Open(Export(model, dir.Path, "f32"));
        int compared = 0;
        foreach (var (key, value) in fixture.Metadata)
        {
            if (!key.StartsWith("tokenizer.") || !ours.Metadata.TryGetValue(key, out var mine)) continue;
            Assert.True(value.GetType() == mine.GetType(), $"{key}: llama.cpp writes {value.GetType().Name}, Scalpel {mine.GetType().Name}");
            compared++;
        }
        output.WriteLine($"{compared} tokenizer keys compared with ggml-vocab-gpt-2.gguf");
        Assert.True(compared >= 5);
    }

    [Fact]
    public void LlamaCppTokenizesAndGeneratesAsScalpel()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        string f32 = Export(model, dir.Path, "f32"), f16 = Export(model, dir.Path, "f16"), q8 = Export(model, dir.Path, "q8_0"),
            q4 = Export(model, dir.Path, "q4_0");
        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode(Prompt, addSpecialTokens: false);
        const int steps = 16;

        var results = LlamaCppOracle.Run([new(f32, TokenizeInputs, steps), new(f16, [], steps), new(q8, [], steps), new(q4, [], steps)], prompt);

        for (int i = 0; i < TokenizeInputs.Length; i++)
            Assert.True(tokenizer.Encode(TokenizeInputs[i], addSpecialTokens: false).SequenceEqual(results[0].Tokens[i]),
                $"tokenization of {TokenizeInputs[i]!.Replace("\n", "\\n")}: Scalpel [{string.Join(",", tokenizer.Encode(TokenizeInputs[i], false))}], llama.cpp [{string.Join(",", results[0].Tokens[i])}]");

        using var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32);
        var ours = LlamaCppOracle.Greedy(m, prompt, steps);
        output.WriteLine($"Scalpel greedy:    [{string.Join(",", ours)}] {tokenizer.Decode(ours)}");
        output.WriteLine($"llama.cpp f32:     [{string.Join(",", results[0].Generated)}]");
        output.WriteLine($"llama.cpp f16:     [{string.Join(",", results[1].Generated)}]");
        output.WriteLine($"llama.cpp q8_0:    [{string.Join(",", results[2].Generated)}]");
        Assert.Equal(ours, results[0].Generated);
        // Quantized: Scalpel's F32 arg-max along llama.cpp's own q8_0 trajectory (teacher forcing).
        double agreeF16 = LlamaCppOracle.TopOneAgreement(m, prompt, results[1].Generated), agreeQ8 = LlamaCppOracle.TopOneAgreement(m, prompt, results[2].Generated);
        double agreeQ4 = LlamaCppOracle.TopOneAgreement(m, prompt, results[3].Generated);
        output.WriteLine($"llama.cpp q4_0:    [{string.Join(",", results[3].Generated)}]");
        output.WriteLine($"top-1 agreement with F32: f16 {agreeF16:P0}, q8_0 {agreeQ8:P0}, q4_0 {agreeQ4:P0}");
        Assert.True(agreeF16 >= 0.9, $"f16 top-1 agreement {agreeF16}");
        Assert.True(agreeQ8 >= 0.75, $"q8_0 top-1 agreement {agreeQ8}");
    }

    [Fact]
    public void AdapterIsFoldedIntoTheGgufAsLlamaCppSees()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), adapter = Path.Combine(dir.Path, "adapter");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode(Prompt, addSpecialTokens: false);
        const int steps = 12;
        int[] ours, baseTokens;
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            baseTokens = LlamaCppOracle.Greedy(m, prompt, steps);
            m.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] }, seed: 2);
            DecoderOracle.RandomizeLoraB(m, 3);
            ours = LlamaCppOracle.Greedy(m, prompt, steps);
            Scalpel.Adapters.PeftAdapter.Save(m, adapter);
        }
        Assert.NotEqual(baseTokens, ours);   // the adapter changes what the model says
        string file = Path.Combine(dir.Path, "merged.gguf");
        var (code, _, err) = Cli("export", "gguf", "--model", model, "--adapter", adapter, "--out", file, "--type", "f32");
        Assert.True(code == 0, err);
        var results = LlamaCppOracle.Run([new(file, [], steps)], prompt);
        output.WriteLine($"Scalpel base+adapter: [{string.Join(",", ours)}]; llama.cpp merged GGUF: [{string.Join(",", results[0].Generated)}]");
        Assert.Equal(ours, results[0].Generated);
    }

    [Fact]
    public void AdapterGgufOnTheBaseGgufGeneratesAsScalpel()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), adapter = Path.Combine(dir.Path, "adapter");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode(Prompt, addSpecialTokens: false);
        const int steps = 12;
        int[] ours, baseTokens;
        var spec = ModelSpec.FromConfigFile(model);
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            baseTokens = LlamaCppOracle.Greedy(m, prompt, steps);
            m.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] }, seed: 2);
            DecoderOracle.RandomizeLoraB(m, 3);
            ours = LlamaCppOracle.Greedy(m, prompt, steps);
            Scalpel.Adapters.PeftAdapter.Save(m, adapter);
        }
        Assert.NotEqual(baseTokens, ours);
        string baseFile = Export(model, dir.Path, "f32");
        string loraF32 = Path.Combine(dir.Path, "adapter-f32.gguf"), loraF16 = Path.Combine(dir.Path, "adapter-f16.gguf");
        var (code, stdout, err) = Cli("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraF32);
        Assert.True(code == 0, err);
        Assert.Equal(Path.GetFullPath(loraF32), stdout.Trim());
        (code, _, err) = Cli("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraF16, "--type", "f16");
        Assert.True(code == 0, err);

        var gguf = GgufReader.Open(loraF32);
        Assert.Equal("adapter", gguf.Get<string>("general.type"));
        Assert.Equal("lora", gguf.Get<string>("adapter.type"));
        Assert.Equal(8f, gguf.Get<float>("adapter.lora.alpha"));
        Assert.Equal("llama", gguf.Get<string>("general.architecture"));
        Assert.False(gguf.Metadata.ContainsKey("tokenizer.ggml.tokens"));
        Assert.Equal(spec.NumLayers * 7 * 2, gguf.Tensors.Count);
        Assert.Equal([4L, spec.HiddenSize], gguf.Tensor("blk.0.attn_q.weight.lora_a").Shape);
        Assert.Equal([(long)spec.NumKvHeads * spec.HeadDim, 4L], gguf.Tensor("blk.0.attn_k.weight.lora_b").Shape);
        Assert.Equal([(long)spec.HiddenSize, 4L], gguf.Tensor("blk.1.ffn_down.weight.lora_b").Shape);
        Assert.Equal(GgmlType.F16, GgufReader.Open(loraF16).Tensor("blk.0.attn_q.weight.lora_a").Type);

        var results = LlamaCppOracle.Run([new(baseFile, [], steps), new(baseFile, [], steps, Lora: loraF32), new(baseFile, [], steps, Lora: loraF16)], prompt);
        output.WriteLine($"Scalpel base: [{string.Join(",", baseTokens)}]; llama.cpp base: [{string.Join(",", results[0].Generated)}]");
        output.WriteLine($"Scalpel base+adapter: [{string.Join(",", ours)}]; llama.cpp base+adapter f32: [{string.Join(",", results[1].Generated)}]; f16: [{string.Join(",", results[2].Generated)}]");
        Assert.Equal(baseTokens, results[0].Generated);
        Assert.Equal(ours, results[1].Generated);
        Assert.Equal(ours, results[2].Generated);

        var refused = Cli("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", loraF32, "--type", "q4_0");
        Assert.Equal(2, refused.Code);
        Assert.Equal(2, Cli("export", "gguf-adapter", "--model", model, "--out", loraF32).Code);
    }

    private static readonly string[] SentencePieceInputs =
    [
        "Hello world", " Hello world", "Hello  world", "  leading and trailing  ", "hello, world!  12345 ünïcödé 🙂\n\ttabs",
        "The quick brown fox jumps over the lazy dog.", "日本語のテキスト", "a\n\nb", "what's   up?? they'll", "x",
        "ℵ₀ ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    ];

    /// <summary>A tiny random Llama with the Llama 2 SentencePiece-style tokenizer (vocab 32000, byte fallback).</summary>
    private static string SentencePieceModel(string dir)
    {
        string model = Path.Combine(dir, "spm-model");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(Path.Combine(RepoPaths.Fixtures, "tokenizers", "llama2")))
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var spec = KeywordTask.TinySpec(vocab: 32000) with { HiddenSize = 32, IntermediateSize = 64, NumHeads = 2, NumKvHeads = 1, HeadDim = 16,
            BosTokenId = 1, EosTokenIds = [2] };
        RandomCheckpoint.Write(spec, model, 11);
        return model;
    }

    [Fact]
    public void SentencePieceTokenizerGgufTokenizesAsScalpelInLlamaCpp()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = SentencePieceModel(dir.Path);
        string file = Export(model, dir.Path, "f32");
        var gguf = GgufReader.Open(file);
        Assert.Equal("llama", gguf.Get<string>("tokenizer.ggml.model"));
        Assert.False(gguf.Metadata.ContainsKey("tokenizer.ggml.merges"));
        Assert.True(gguf.Get<bool>("tokenizer.ggml.add_bos_token"));
        Assert.False(gguf.Get<bool>("tokenizer.ggml.add_eos_token"));
        Assert.True(gguf.Get<bool>("tokenizer.ggml.add_space_prefix"));
        Assert.Equal(1u, gguf.Get<uint>("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2u, gguf.Get<uint>("tokenizer.ggml.eos_token_id"));
        Assert.Equal(0u, gguf.Get<uint>("tokenizer.ggml.unknown_token_id"));
        var tokens = gguf.Get<string[]>("tokenizer.ggml.tokens");
        var types = gguf.Get<int[]>("tokenizer.ggml.token_type");
        Assert.Equal(32000, tokens.Length);
        Assert.Equal(32000, gguf.Get<float[]>("tokenizer.ggml.scores").Length);

        // llama.cpp's own conversion of the same vocabulary (its SPM vocab test file): same types; the pieces differ only
        // where tokenizer.json spells U+00A0 pieces with plain spaces (4 pieces no input reaches, spaces being ▁).
        var reference = GgufReader.Open(Path.Combine(RepoPaths.Fixtures, "vocab-tests", "ggml-vocab-llama-spm.gguf"));
        var refTokens = reference.Get<string[]>("tokenizer.ggml.tokens");
        var refTypes = reference.Get<int[]>("tokenizer.ggml.token_type");
        int sameText = Enumerable.Range(0, 32000).Count(i => tokens[i] == refTokens[i]);
        int sameType = Enumerable.Range(0, 32000).Count(i => types[i] == refTypes[i]);
        output.WriteLine($"vs ggml-vocab-llama-spm.gguf: {sameText}/32000 pieces, {sameType}/32000 token types equal");
        foreach (int i in Enumerable.Range(0, 32000).Where(i => tokens[i] != refTokens[i]))
            output.WriteLine($"  piece {i}: ours {System.Text.Json.JsonSerializer.Serialize(tokens[i])}, llama.cpp's {System.Text.Json.JsonSerializer.Serialize(refTokens[i])}");
        Assert.True(sameText >= 31996);
        Assert.Equal(32000, sameType);

        var tokenizer = Tokenizer.FromDirectory(model);
        int[] prompt = tokenizer.Encode("The quick brown fox", addSpecialTokens: true);
        const int steps = 8;
        var results = LlamaCppOracle.Run([new(file, SentencePieceInputs, steps)], prompt);
        for (int i = 0; i < SentencePieceInputs.Length; i++)
        {
            var ours = tokenizer.Encode(SentencePieceInputs[i], addSpecialTokens: false);
            output.WriteLine($"{SentencePieceInputs[i].Replace("\n", "\\n")}: [{string.Join(",", ours)}]");
            Assert.True(ours.SequenceEqual(results[0].Tokens[i]),
                $"tokenization of {SentencePieceInputs[i].Replace("\n", "\\n")}: Scalpel [{string.Join(",", ours)}], llama.cpp [{string.Join(",", results[0].Tokens[i])}]");
        }
        using var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32);
        Assert.Equal(LlamaCppOracle.Greedy(m, prompt, steps), results[0].Generated);
    }

    [Fact]
    public void HuggingFaceGgufParserReadsEveryExportedFileAsScalpelWroteIt()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model"), adapter = Path.Combine(dir.Path, "adapter");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        var files = new[] { "f32", "f16", "bf16", "q8_0", "q4_0" }.Select(t => Export(model, dir.Path, t)).ToList();
        using (var m = DecoderModel.Load(model, new CpuBackend(), WeightPrecision.F32))
        {
            m.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] }, seed: 2);
            Scalpel.Adapters.PeftAdapter.Save(m, adapter);
        }
        foreach (var t in new[] { "f32", "f16" })
        {
            string file = Path.Combine(dir.Path, $"adapter-{t}.gguf");
            Assert.Equal(0, Cli("export", "gguf-adapter", "--model", model, "--adapter", adapter, "--out", file, "--type", t).Code);
            files.Add(file);
        }
        string spmDir = Path.Combine(dir.Path, "spm");
        Directory.CreateDirectory(spmDir);
        files.Add(Export(SentencePieceModel(dir.Path), spmDir, "f16"));

        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        if (!Directory.Exists(Path.Combine(scriptDir, "node_modules", "@huggingface", "gguf")))
            throw new InvalidOperationException("@huggingface/gguf is missing: run ./run-tests (it runs npm install in tests/oracles/js)");
        string outPath = Path.Combine(dir.Path, "parsed.json");
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = scriptDir };
        psi.ArgumentList.Add(Path.Combine(scriptDir, "gguf_parse.mjs"));
        psi.ArgumentList.Add(outPath);
        foreach (var f in files) psi.ArgumentList.Add(f);
        using (var p = Process.Start(psi)!)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            string err = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(60_000), "gguf_parse.mjs ran over 60 s");
            Assert.True(p.ExitCode == 0, $"gguf_parse.mjs failed: {err}");
        }
        var parsed = JsonNode.Parse(File.ReadAllText(outPath))!["files"]!.AsArray();
        Assert.Equal(files.Count, parsed.Count);
        for (int i = 0; i < files.Count; i++)
        {
            var ours = GgufReader.Open(files[i]);
            var theirs = parsed[i]!;
            var meta = theirs["metadata"]!.AsObject();
            Assert.Equal(3, (int)theirs["version"]!);
            foreach (var (key, value) in ours.Metadata)
            {
                Assert.True(meta.ContainsKey(key), $"{Path.GetFileName(files[i])}: @huggingface/gguf lacks {key}");
                switch (value)
                {
                    case string v: Assert.Equal(v, (string)meta[key]!); break;
                    case uint v: Assert.Equal(v, (uint)meta[key]!); break;
                    case float v: Assert.Equal(v, (float)meta[key]!); break;
                    case bool v: Assert.Equal(v, (bool)meta[key]!); break;
                    case Array a: Assert.Equal(a.Length, (int)meta[key]!["length"]!); break;
                }
            }
            var tensors = theirs["tensors"]!.AsArray();
            Assert.Equal(ours.Tensors.Count, tensors.Count);
            foreach (var (t, j) in ours.Tensors.Select((t, j) => (t, j)))
            {
                Assert.Equal(t.Name, (string)tensors[j]!["name"]!);
                Assert.Equal(t.Shape.Reverse(), tensors[j]!["shape"]!.AsArray().Select(x => (long)x!));   // ggml order: ne0 first
                Assert.Equal((int)t.Type, (int)tensors[j]!["dtype"]!);
            }
            output.WriteLine($"{Path.GetFileName(files[i])}: {ours.Metadata.Count} keys, {tensors.Count} tensors agree");
        }
    }

    [Fact]
    public void ErrorsAreClear()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        string file = Path.Combine(dir.Path, "x.gguf");

        var bad = Cli("export", "gguf", "--model", model, "--out", file, "--type", "q2_k");
        Assert.Equal(2, bad.Code);
        Assert.Contains("q8_0", bad.Err);
        Assert.Equal(2, Cli("export", "gguf", "--model", model, "--out", file).Code);
        Assert.Equal(2, Cli("export", "gguf", "--model", model, "--out", file, "--type", "f32", "--bogus").Code);

        // llama.cpp's qwen3 graph loads no attention biases: refused (before any weight is read), not exported wrong.
        var qwen3 = KeywordTask.TinySpec(vocab: 300) with
        {
            Architecture = "Qwen3ForCausalLM", ModelType = "qwen3", QkNorm = true, AttentionBias = true, AttentionOutputBias = true,
        };
        string q3 = Path.Combine(dir.Path, "qwen3");
        Directory.CreateDirectory(q3);
        File.WriteAllText(Path.Combine(q3, "config.json"), qwen3.ToConfigJson());
        var arch = Cli("export", "gguf", "--model", q3, "--out", file, "--type", "f32");
        Assert.Equal(1, arch.Code);
        Assert.Contains("attention biases", arch.Err);
        Assert.Single(arch.Err.Trim().Split('\n'));

        File.Delete(Path.Combine(model, "tokenizer.json"));
        var tok = Cli("export", "gguf", "--model", model, "--out", file, "--type", "f32");
        Assert.Equal(1, tok.Code);
        Assert.Contains("tokenizer.json", tok.Err);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void TruncatedGgufIsRefusedClearly()
    {
        using var dir = new TinyCheckpoint.TempDir();
        string model = Path.Combine(dir.Path, "model");
        PipelineCheck.WriteTinyModel(model, seed: 7);
        string file = Export(model, dir.Path, "q8_0");
        var bytes = File.ReadAllBytes(file);
        string cut = Path.Combine(dir.Path, "cut.gguf");
        File.WriteAllBytes(cut, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<GgufFormatException>(() => GgufReader.Open(cut));
        Assert.Contains("truncated", e.Message);
        File.WriteAllBytes(cut, bytes[..1000]);
        Assert.Throws<GgufFormatException>(() => GgufReader.Open(cut));
    }
}
