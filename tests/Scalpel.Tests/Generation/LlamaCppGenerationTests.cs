using System.Text.Json.Nodes;
using Scalpel.Backends.Cpu;
using Scalpel.Generation;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Scalpel.Training;
using Xunit;
using Xunit.Abstractions;

namespace Scalpel.Tests.Generation;

/// <summary>
/// Scalpel's cached greedy generation (prefill, then one token per step from the KV cache) against llama.cpp on the
/// same weights exported as GGUF F32: every generated token must be the same, for each prompt alone and for the three
/// prompts decoded together in one batch. Stop tokens are off on both sides, so all tokens are compared.
/// </summary>
public class LlamaCppGenerationTests(ITestOutputHelper output)
{
    private const int Steps = 32;

    private static readonly string[] Users = ["Which class: the wolf was at one tram", "hello", "a plum and a flute and the apple is red, which class"];

    public static TheoryData<string> Models => new() { "llama-gqa", "qwen2-bias-tied" };

    /// <summary>The pipeline check's tiny Llama (4 query heads over 2 KV heads), or the same tokenizer on a Qwen2 body.</summary>
    private static string WriteModel(string name, string directory)
    {
        PipelineCheck.WriteTinyModel(directory, seed: 7);
        if (name == "qwen2-bias-tied")
        {
            // Qwen2: q/k/v biases, tied embeddings, NeoX RoPE in llama.cpp (no q/k row permutation in the GGUF).
            var spec = ModelSpec.FromConfigFile(directory) with
            {
                Architecture = "Qwen2ForCausalLM", ModelType = "qwen2", AttentionBias = true, TieWordEmbeddings = true, RopeTheta = 1e6,
            };
            File.Delete(Path.Combine(directory, "model.safetensors"));
            RandomCheckpoint.Write(spec, directory, seed: 8);
        }
        return directory;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void CachedGreedyGenerationEqualsLlamaCpp(string name)
    {
        using var dir = new TinyCheckpoint.TempDir();
        string modelDir = WriteModel(name, Path.Combine(dir.Path, "model"));
        var tokenizer = Tokenizer.FromDirectory(modelDir);
        var template = ChatTemplate.FromDirectory(modelDir);
        int[][] prompts = Users.Select(u => tokenizer.Encode(template.Render(new JsonObject
        {
            ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = u }),
            ["add_generation_prompt"] = true,
        }), addSpecialTokens: false)).ToArray();

        using var model = DecoderModel.Load(modelDir, new CpuBackend(), WeightPrecision.F32);
        Assert.True(prompts.Max(p => p.Length) + Steps <= model.Spec.MaxPositions);
        string gguf = Path.Combine(dir.Path, "model-f32.gguf");
        GgufExport.Write(model, modelDir, gguf, GgmlType.F32);
        var theirs = LlamaCppOracle.Greedy(gguf, prompts, Steps);

        var generator = new Generator(model, tokenizer, stopTokenIds: []);
        var requests = prompts.Select(p => new GenerationRequest { PromptIds = p, MaxNewTokens = Steps }).ToArray();
        var batched = generator.Generate(requests, maxBatch: 3);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = generator.Generate(requests[i]);
            output.WriteLine($"{name} prompt {i} ({prompts[i].Length} tokens):\n  llama.cpp [{string.Join(",", theirs[i])}]\n  Scalpel   [{string.Join(",", alone.Tokens)}]");
            Assert.Equal(Steps, theirs[i].Length);
            Assert.Equal(FinishReason.Length, alone.FinishReason);
            Assert.Equal(theirs[i], alone.Tokens);
            Assert.Equal(theirs[i], batched[i].Tokens);
        }
    }
}
