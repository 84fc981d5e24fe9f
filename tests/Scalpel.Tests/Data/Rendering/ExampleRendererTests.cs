using Scalpel.Data;
using Scalpel.Data.Rendering;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Data.Rendering;

/// <summary>
/// The loss mask of rendered examples against the assistant spans, for real chat templates (../shared/fixtures/chat-templates)
/// with real tokenizers (../shared/fixtures/tokenizers): the trained tokens decode to exactly each trainable assistant
/// answer plus its end-of-turn token; prompts and weight-0 answers are untrained; train_on and truncation behave.
/// </summary>
public class ExampleRendererTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    private static string Tokenizers => Path.Combine(RepoPaths.Fixtures, "tokenizers");
    private static string Templates => Path.Combine(RepoPaths.Fixtures, "chat-templates");

    /// <summary>(name, tokenizer folder, template file or null for the tokenizer's own, what a trained turn looks like around its content).</summary>
    public static TheoryData<string, string, string?, string, string> Pairs => new()
    {
        { "llama3.1", "llama3", "llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja", "", "<|eot_id|>" },
        { "llama3-own", "llama3", null, "", "<|eot_id|>" },
        { "qwen2.5", "qwen2.5", "llama.cpp/Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>" },
        { "phi-3-mini", "phi-3-mini", null, "", "<|end|>" },
        // {% generation %} marks the whole turn: header, content, end-of-turn and its newline (not the next turn's <|im_start|>).
        { "smollm3", "qwen2.5", "onnxruntime-extensions/smollm3.jinja", "<|im_start|>assistant\n", "<|im_end|>\n" },
    };

    private (Tokenizer, ChatTemplate) Load(string name, string tokenizer, string? templateFile)
    {
        string dir = Path.Combine(Tokenizers, tokenizer);
        var tok = Tokenizer.FromDirectory(dir);
        if (templateFile is null) return (tok, ChatTemplate.FromDirectory(dir));
        // The template file beside the tokenizer's config (its special tokens), as chat_template.jinja.
        string model = Path.Combine(_files.Dir, name);
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(dir, "tokenizer_config.json"), Path.Combine(model, "tokenizer_config.json"));
        File.Copy(Path.Combine(Templates, templateFile), Path.Combine(model, "chat_template.jinja"));
        return (tok, ChatTemplate.FromDirectory(model));
    }

    private const string Conversation =
        """{"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "Five.", "weight": 0}, {"role": "user", "content": "Wrong. Again?"}, {"role": "assistant", "content": "4, because two and two make four."}, {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6."}]}""";

    private ChatExample Example(string line) => (ChatExample)Assert.Single(DataFiles.Examples(_files.WriteLines(Guid.NewGuid().ToString("N") + ".jsonl", line)));

    /// <summary>The decoded text of each contiguous run of trained tokens.</summary>
    private static List<string> TrainedRuns(Tokenizer tokenizer, RenderedExample r)
    {
        var runs = new List<string>();
        for (int i = 0; i < r.Ids.Length;)
        {
            if (!r.LossMask[i]) { i++; continue; }
            int j = i;
            while (j < r.Ids.Length && r.LossMask[j]) j++;
            runs.Add(tokenizer.Decode(r.Ids.AsSpan(i, j - i)));
            i = j;
        }
        return runs;
    }

    private static RenderedExample Render(Tokenizer t, ChatTemplate c, Example e, RenderOptions o, RenderStats? stats = null) =>
        new ExampleRenderer(t, c, o).Render(e, stats ?? new RenderStats())!;

    [Theory]
    [MemberData(nameof(Pairs))]
    public void TrainedTokensAreExactlyTheTrainableAnswersWithTheirEndOfTurn(string name, string tokenizer, string? templateFile, string before, string eot)
    {
        var (tok, template) = Load(name, tokenizer, templateFile);
        var example = Example(Conversation);
        var stats = new RenderStats();
        var r = Render(tok, template, example, new RenderOptions { MaxLength = int.MaxValue }, stats);

        Assert.Equal([before + "4, because two and two make four." + eot, before + "6." + eot], TrainedRuns(tok, r));
        // The weight-0 answer and every prompt are untrained; the whole text is the template's.
        string untrained = tok.Decode(r.Ids.Where((_, i) => !r.LossMask[i]).ToArray());
        Assert.Contains("Five.", untrained);
        Assert.Contains("What is 2+2?", untrained);
        Assert.Equal(tok.Encode(template.RenderConversationText(example.MessagesToJson(ChatJsonOptions.Template)), addSpecialTokens: false), r.Ids);
        Assert.Equal(1, stats.Rendered);
        Assert.Equal(r.Ids.Length, stats.Tokens);
        Assert.Equal(r.LossMask.Count(m => m), stats.TrainableTokens);

        var last = Render(tok, template, example, new RenderOptions { MaxLength = int.MaxValue, TrainOn = LossScope.LastAssistant });
        Assert.Equal([before + "6." + eot], TrainedRuns(tok, last));
        Assert.Equal(r.Ids, last.Ids);

        var all = Render(tok, template, example, new RenderOptions { MaxLength = int.MaxValue, TrainOn = LossScope.All });
        Assert.All(all.LossMask, Assert.True);
    }

    [Fact]
    public void AToolCallTurnIsTrainedAndTheToolResultIsNot()
    {
        var (tok, template) = Load("qwen-tools", "qwen2.5", "llama.cpp/Qwen-Qwen2.5-7B-Instruct.jinja");
        var example = Example("""{"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}], "messages": [{"role": "user", "content": "Weather in Lima?"}, {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Lima\"}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "22 C, sunny"}, {"role": "assistant", "content": "It is 22 C and sunny in Lima."}]}""");
        var r = Render(tok, template, example, new RenderOptions { MaxLength = int.MaxValue });
        var runs = TrainedRuns(tok, r);
        Assert.Equal(2, runs.Count);
        Assert.StartsWith("<tool_call>\n", runs[0]);
        Assert.Contains("\"name\": \"get_weather\"", runs[0]);
        Assert.Contains("\"city\": \"Lima\"", runs[0]);
        Assert.EndsWith("</tool_call><|im_end|>", runs[0]);
        Assert.Equal("It is 22 C and sunny in Lima.<|im_end|>", runs[1]);
        Assert.DoesNotContain("22 C, sunny", string.Concat(runs));
    }

    [Fact]
    public void TruncationPoliciesCutWhatTheySayAndCountIt()
    {
        var (tok, template) = Load("llama3.1-trunc", "llama3", "llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja");
        int bos = tok.BosTokenId!.Value;
        var example = Example(Conversation);
        var full = Render(tok, template, example, new RenderOptions { MaxLength = int.MaxValue });
        Assert.Equal(bos, full.Ids[0]);
        int n = full.Ids.Length, trainable = full.TrainableTokens;
        int firstTrained = Array.IndexOf(full.LossMask, true);
        Assert.Equal(n, full.Ids.Length);

        // Fits exactly: untouched.
        var fits = new RenderStats();
        Assert.Equal(full.Ids, Render(tok, template, example, new RenderOptions { MaxLength = n, Truncation = TruncationPolicy.Drop }, fits).Ids);
        Assert.Equal(0, fits.Dropped);

        var drop = new RenderStats();
        Assert.Null(new ExampleRenderer(tok, template, new RenderOptions { MaxLength = n - 1, Truncation = TruncationPolicy.Drop }).Render(example, drop));
        Assert.Equal((1, 0, 0L), (drop.Dropped, drop.Rendered, drop.Tokens));

        // truncate_prompt_left: BOS kept, 5 prompt tokens after it removed, the answers intact.
        var left = new RenderStats();
        var l = Render(tok, template, example, new RenderOptions { MaxLength = n - 5, Truncation = TruncationPolicy.TruncatePromptLeft }, left);
        Assert.Equal(n - 5, l.Ids.Length);
        Assert.Equal(bos, l.Ids[0]);
        Assert.Equal(full.Ids[6..], l.Ids[1..]);
        Assert.Equal(trainable, l.TrainableTokens);
        Assert.Equal(TrainedRuns(tok, full), TrainedRuns(tok, l));
        Assert.Equal((1, 0, 1), (left.PromptTruncated, left.AnswerTruncated, left.Rendered));
        Assert.Equal(trainable, left.TrainableTokens);

        // Shorter than BOS + the answers: the whole prompt goes, then the end is cut.
        var both = new RenderStats();
        int max = n - firstTrained;   // room for BOS + all but one token from the first trained one
        var b = Render(tok, template, example, new RenderOptions { MaxLength = max, Truncation = TruncationPolicy.TruncatePromptLeft }, both);
        Assert.Equal(max, b.Ids.Length);
        Assert.Equal(bos, b.Ids[0]);
        Assert.True(b.LossMask[1]);
        Assert.Equal(full.Ids[firstTrained..(firstTrained + max - 1)], b.Ids[1..]);
        Assert.Equal((1, 1), (both.PromptTruncated, both.AnswerTruncated));

        // truncate_answer: the first max tokens; the final <|eot_id|> (trained) is cut.
        var answer = new RenderStats();
        var a = Render(tok, template, example, new RenderOptions { MaxLength = n - 1, Truncation = TruncationPolicy.TruncateAnswer }, answer);
        Assert.Equal(full.Ids[..(n - 1)], a.Ids);
        Assert.Equal(full.LossMask[..(n - 1)], a.LossMask);
        Assert.Equal(trainable - 1, a.TrainableTokens);
        Assert.Equal((0, 1), (answer.PromptTruncated, answer.AnswerTruncated));
        Assert.Equal(trainable - 1, answer.TrainableTokens);

        // Cut before any trained token: nothing to train on, counted and left out.
        var none = new RenderStats();
        Assert.Null(new ExampleRenderer(tok, template, new RenderOptions { MaxLength = firstTrained, Truncation = TruncationPolicy.TruncateAnswer }).Render(example, none));
        Assert.Equal((1, 1, 0), (none.AnswerTruncated, none.NoTrainableTokens, none.Rendered));
    }
}
