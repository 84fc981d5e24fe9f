using System.Text.Json.Nodes;
using Scalpel.Backends.Cpu;
using Scalpel.Generation;
using Scalpel.Models;
using Scalpel.Tests.Models;
using Scalpel.Text;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Generation;

/// <summary>Generation end to end on a tiny model folder with a real byte-level BPE tokenizer and a ChatML template.</summary>
public sealed class GeneratorTests : IDisposable
{
    private readonly TinyCheckpoint.TempDir _dir = new();
    private readonly DecoderModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly ChatTemplate _template;

    public GeneratorTests()
    {
        PipelineCheck.WriteTinyModel(_dir.Path, seed: 21);
        _model = DecoderModel.Load(_dir.Path, new CpuBackend());
        _tokenizer = Tokenizer.FromDirectory(_dir.Path);
        _template = ChatTemplate.FromDirectory(_dir.Path);
    }

    public void Dispose()
    {
        _model.Dispose();
        _dir.Dispose();
    }

    private Generator NewGenerator(IEnumerable<int>? stops = null) =>
        new(_model, _tokenizer, stops ?? GenerationDefaults.FromDirectory(_dir.Path, _tokenizer, _template).StopTokenIds);

    private int[] Prompt(string user) => _tokenizer.Encode(_template.Render(new JsonObject
    {
        ["messages"] = new JsonArray((JsonNode)new JsonObject { ["role"] = "user", ["content"] = user }),
        ["add_generation_prompt"] = true,
    }), addSpecialTokens: false);

    /// <summary>Greedy by recomputing the whole sequence each step (no cache), stopping on the same tokens.</summary>
    private int[] ReferenceGreedy(int[] prompt, int maxNew, IReadOnlySet<int> stops)
    {
        var ids = prompt.ToList();
        var output = new List<int>();
        for (int i = 0; i < maxNew; i++)
        {
            var all = ids.ToArray();
            var logits = _model.Logits(new TokenBatch(all, Enumerable.Range(0, all.Length).ToArray(), new int[all.Length],
                Enumerable.Repeat(TokenBatch.IgnoreIndex, all.Length).ToArray()), [all.Length - 1]);
            int next = Sampler.ArgMax(logits);
            if (stops.Contains(next)) break;
            output.Add(next);
            ids.Add(next);
        }
        return output.ToArray();
    }

    [Fact]
    public void StopTokensComeFromTheFolderAndTheTemplate()
    {
        var defaults = GenerationDefaults.FromDirectory(_dir.Path, _tokenizer, _template);
        Assert.Contains(_tokenizer.TokenToId("<|im_end|>")!.Value, defaults.StopTokenIds);
        Assert.True(defaults.Sampling.IsGreedy);
    }

    [Fact]
    public void BatchedContinuousGreedyEqualsOneAtATimeWithoutCache()
    {
        // Random weights rarely pick a stop token, so stop on a few common ones to make lengths differ.
        var generator = NewGenerator();
        string[] users = ["hello there", "Which class: apple", "a", "the quick brown fox jumps", "zz top"];
        var requests = users.Select((u, i) => new GenerationRequest { PromptIds = Prompt(u), MaxNewTokens = 6 + 3 * i }).ToArray();
        var results = generator.Generate(requests, maxBatch: 2);
        for (int i = 0; i < users.Length; i++)
        {
            var expected = ReferenceGreedy(requests[i].PromptIds, requests[i].MaxNewTokens, generator.StopTokens);
            Assert.Equal(expected, results[i].Tokens);
            Assert.Equal(expected.Length == requests[i].MaxNewTokens ? FinishReason.Length : FinishReason.Stop, results[i].FinishReason);
            Assert.Equal(_tokenizer.Decode(expected, skipSpecialTokens: true), results[i].Text);
            Assert.Equal(requests[i].PromptIds.Length, results[i].PromptTokens);
        }
    }

    [Fact]
    public void StopStringsCutTheTextAndStreamingNeverShowsThem()
    {
        var generator = NewGenerator(stops: []);          // random weights: let it run to the token limit
        var prompt = Prompt("the quick brown fox");
        var free = generator.Generate(new GenerationRequest { PromptIds = prompt, MaxNewTokens = 40 });
        Assert.True(free.Text.Length >= 6, $"the free run produced too little text to test with: '{free.Text}'");
        // A stop string from the middle of the free output: the text must end right before its first occurrence.
        string stop = free.Text.Substring(free.Text.Length / 2, 3);
        int first = free.Text.IndexOf(stop, StringComparison.Ordinal);
        var pieces = new List<string>();
        var stopped = generator.Generate(new GenerationRequest
        {
            PromptIds = prompt, MaxNewTokens = 40, StopStrings = ["never-appears-xyz", stop], OnText = pieces.Add,
        });
        Assert.Equal(free.Text[..first], stopped.Text);
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(stopped.Text, string.Concat(pieces));
    }

    [Fact]
    public void StreamedPiecesAddUpToTheText()
    {
        var pieces = new List<string>();
        var result = NewGenerator().Generate(new GenerationRequest { PromptIds = Prompt("apple"), MaxNewTokens = 25, OnText = pieces.Add });
        Assert.Equal(result.Text, string.Concat(pieces));
        Assert.True(pieces.Count > 1);
    }

    [Fact]
    public void SeededSamplingIsReproducibleAndSeedsDiffer()
    {
        var generator = NewGenerator();
        var prompt = Prompt("hello");
        GenerationResult Run(ulong seed) => generator.Generate(new GenerationRequest
        {
            PromptIds = prompt, MaxNewTokens = 20, Sampling = new SamplingOptions { Temperature = 1.5f, Seed = seed },
        });
        Assert.Equal(Run(7).Tokens, Run(7).Tokens);
        var outputs = Enumerable.Range(0, 4).Select(s => string.Join(",", Run((ulong)s).Tokens)).Distinct().Count();
        Assert.True(outputs > 1, "four seeds gave the same sample");
    }

    [Fact]
    public void LogprobsAreNormalisedAndNameTheChosenToken()
    {
        var result = NewGenerator().Generate(new GenerationRequest { PromptIds = Prompt("hello"), MaxNewTokens = 5, TopLogprobs = 3 });
        Assert.Equal(result.Tokens.Length, result.Logprobs!.Count(l => result.Tokens.Contains(l.Token)));
        foreach (var lp in result.Logprobs!)
        {
            Assert.True(lp.Logprob <= 0);
            Assert.Equal(3, lp.Top.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal(lp.Top[0].Token, lp.Token);
            Assert.Equal(lp.Top[0].Logprob, lp.Logprob, 5);
            Assert.True(lp.Top[0].Logprob >= lp.Top[1].Logprob && lp.Top[1].Logprob >= lp.Top[2].Logprob);
        }
    }

    [Fact]
    public void PromptsThatCannotFitAreRefused()
    {
        var generator = NewGenerator();
        var error = Assert.Throws<GenerationException>(() =>
            generator.Generate(new GenerationRequest { PromptIds = new int[_model.Spec.MaxPositions], MaxNewTokens = 1 }));
        Assert.Contains("max_position_embeddings", error.Message);
        Assert.Throws<GenerationException>(() => generator.Generate(new GenerationRequest { PromptIds = [], MaxNewTokens = 1 }));
    }

    [Fact]
    public void ChatSessionReusesItsCacheAndAnswersAsAFreshRun()
    {
        var generator = NewGenerator();
        using var session = new ChatSession(generator, _template, 512) { SystemPrompt = "be brief" };
        var settings = new GenerationRequest { PromptIds = [], MaxNewTokens = 8 };
        session.Send("hello", settings);
        var second = session.Send("apple banana", settings);

        // A fresh run on the whole rendered conversation gives the same answer.
        var messages = new JsonArray((JsonNode)new JsonObject { ["role"] = "system", ["content"] = "be brief" });
        foreach (var m in session.Messages.Take(3)) messages.Add(m.DeepClone());
        var ids = _tokenizer.Encode(_template.Render(new JsonObject { ["messages"] = messages, ["add_generation_prompt"] = true }), false);
        Assert.Equal(ReferenceGreedy(ids, 8, generator.StopTokens), second.Tokens);
        Assert.Equal(4, session.Messages.Count);
        session.Reset();
        Assert.Empty(session.Messages);
    }

    [Fact]
    public void OneBatchServesSeveralDetachedAdaptersLikeAppliedOnes()
    {
        string[] adapterDirs = [Path.Combine(_dir.Path, "adapter-a"), Path.Combine(_dir.Path, "adapter-b")];
        for (int i = 0; i < 2; i++)
        {
            using var trained = DecoderModel.Load(_dir.Path, new CpuBackend());
            trained.ApplyLora(new Scalpel.Adapters.LoraConfig { Rank = 4, Alpha = 8, TargetModules = i == 0 ? ["all-linear"] : ["q_proj", "v_proj"] }, seed: i);
            DecoderOracle.RandomizeLoraB(trained, 10 + i);
            Scalpel.Adapters.PeftAdapter.Save(trained, adapterDirs[i]);
        }
        using var a = Scalpel.Adapters.PeftAdapter.LoadDetached(_model, adapterDirs[0], "a");
        using var b = Scalpel.Adapters.PeftAdapter.LoadDetached(_model, adapterDirs[1], "b");
        var generator = NewGenerator(stops: []);
        string[] users = ["hello there", "apple", "the quick brown fox", "zz"];
        Scalpel.Models.AdapterWeights?[] choice = [a, null, b, a];
        var requests = users.Select((u, i) => new GenerationRequest { PromptIds = Prompt(u), MaxNewTokens = 8, Adapter = choice[i] }).ToArray();
        var batched = generator.Generate(requests, maxBatch: 4);

        for (int i = 0; i < users.Length; i++)
        {
            using var applied = DecoderModel.Load(_dir.Path, new CpuBackend());
            if (choice[i] is { } adapter) Scalpel.Adapters.PeftAdapter.Load(applied, adapter.Directory);
            var alone = new Generator(applied, _tokenizer, []).Generate(requests[i] with { Adapter = null });
            Assert.Equal(alone.Tokens, batched[i].Tokens);
        }
        // The adapters matter: without one, the answers differ.
        var bare = generator.Generate(requests[0] with { Adapter = null });
        Assert.NotEqual(bare.Tokens, batched[0].Tokens);
    }
}
