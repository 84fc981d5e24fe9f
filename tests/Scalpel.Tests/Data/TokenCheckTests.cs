using System.Text.Json.Nodes;
using Scalpel.Data;
using Scalpel.Data.Rendering;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>check with a tokenizer: token counts equal the tokenizer's on the rendered text, trainable tokens equal the renderer's, over-length and template errors with their lines.</summary>
public class TokenCheckTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    public static string ModelDir(string name) => Path.Combine(RepoPaths.Fixtures, "tokenizers", name);

    private static readonly string[] Lines =
    [
        """{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4, since two and two make four."}]}""",
        """{"messages": [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "Nine.", "weight": 0}, {"role": "user", "content": "Wrong, try again."}, {"role": "assistant", "content": "Seven is prime."}]}""",
        """{"messages": [{"role": "user", "content": "Tell me a long story about cats and dogs and everything else in the whole wide world, please, with details."}, {"role": "assistant", "content": "Once upon a time there was a cat who met a dog, and they became friends for life."}]}""",
    ];

    [Theory]
    [InlineData("phi-3-mini")]
    [InlineData("qwen2.5")]
    public void CountsEqualTheTokenizerOnTheRenderedTextAndTrainableEqualsTheRenderer(string model)
    {
        var tokenizer = Tokenizer.FromDirectory(ModelDir(model));
        var template = ChatTemplate.FromDirectory(ModelDir(model));
        string path = _files.WriteLines("chat.jsonl", Lines);
        var report = DataChecker.Check(path, new DataCheckOptions { Tokens = new TokenCheckOptions(tokenizer, template) });
        Assert.Empty(report.Errors.Items);
        var t = report.Stats.Tokens!;

        var examples = DataFiles.Examples(path);
        var lengths = examples.Select(e => tokenizer.Encode(template.RenderConversationText(((ChatExample)e).MessagesToJson(ChatJsonOptions.Template)), addSpecialTokens: false).Length).ToList();
        var renderStats = new RenderStats();
        var renderer = new ExampleRenderer(tokenizer, template, new RenderOptions { MaxLength = int.MaxValue });
        foreach (var e in examples) Assert.NotNull(renderer.Render(e, renderStats));

        Assert.Equal(3, t.RenderedExamples);
        Assert.Equal(lengths.Sum(), t.TotalTokens);
        Assert.Equal(renderStats.Tokens, t.TotalTokens);
        Assert.Equal(renderStats.TrainableTokens, t.TrainableTokens);
        Assert.Equal(lengths.Min(), t.ExampleTokens.Min);
        Assert.Equal(lengths.Max(), t.ExampleTokens.Max);
        Assert.Equal(3, t.ExampleTokens.Count);

        long ContentTokens(string role) => examples.Cast<ChatExample>().SelectMany(e => e.Messages).Where(m => m.Role == role)
            .Sum(m => (long)tokenizer.Encode(m.Content!, addSpecialTokens: false).Length);
        Assert.Equal(ContentTokens("user"), t.ContentTokensByRole["user"]);
        Assert.Equal(ContentTokens("assistant"), t.ContentTokensByRole["assistant"]);
        Assert.Equal(ContentTokens("system"), t.ContentTokensByRole["system"]);
        Assert.Null(t.MaxLength);
        Assert.Equal(0, report.Warnings.CountByCode.GetValueOrDefault(IssueCodes.OverMaxLength));

        // The JSON carries it under stats.tokens.
        var json = JsonNode.Parse(report.ToJson())!["stats"]!["tokens"]!;
        Assert.Equal(t.TotalTokens, json["total_tokens"]!.GetValue<long>());
        Assert.Equal(t.TrainableTokens, json["trainable_tokens"]!.GetValue<long>());
        Assert.Equal(ContentTokens("user"), json["content_tokens_by_role"]!["user"]!.GetValue<long>());
        Assert.NotEmpty(json["tokens_per_example"]!["histogram"]!.AsArray());
    }

    [Fact]
    public void ExamplesOverMaxLengthAreWarningsWithTheirLineAndWhatEachPolicyCuts()
    {
        var tokenizer = Tokenizer.FromDirectory(ModelDir("phi-3-mini"));
        var template = ChatTemplate.FromDirectory(ModelDir("phi-3-mini"));
        string path = _files.WriteLines("chat.jsonl", Lines);
        var examples = DataFiles.Examples(path);
        var renderer = new ExampleRenderer(tokenizer, template, new RenderOptions { MaxLength = int.MaxValue });
        var lengths = examples.Select(e => renderer.Render(e, new RenderStats())!.Ids.Length).ToList();
        int max = lengths[2] - 1;   // only the long third example is over
        Assert.True(lengths[0] <= max && lengths[1] <= max);

        var report = DataChecker.Check(path, new DataCheckOptions { Tokens = new TokenCheckOptions(tokenizer, template, max) });
        Assert.False(report.HasErrors);
        var over = report.Warnings.Items.Where(w => w.Code == IssueCodes.OverMaxLength).ToList();
        Assert.Equal(3, Assert.Single(over).Line);
        Assert.Contains("truncate_prompt_left removes 1 prompt tokens", over[0].Message);
        Assert.Matches("truncate_answer cuts (only untrained tokens|1 of)", over[0].Message);
        var t = report.Stats.Tokens!;
        Assert.Equal(1, t.OverMaxLength);
        Assert.Equal(1, t.DropPolicy.Dropped);
        Assert.Equal(1, t.PromptLeftPolicy.PromptTruncated);
        Assert.Equal(0, t.PromptLeftPolicy.AnswerTruncated);
        Assert.Equal(0, t.TrainableLostByPromptLeft);
        Assert.InRange(t.TrainableLostByAnswer, 0, 1);

        // The same counts as rendering with that limit.
        foreach (var (policy, lost) in new[] { (TruncationPolicy.Drop, t.TrainableLostByDrop), (TruncationPolicy.TruncatePromptLeft, t.TrainableLostByPromptLeft), (TruncationPolicy.TruncateAnswer, t.TrainableLostByAnswer) })
        {
            var stats = new RenderStats();
            var limited = new ExampleRenderer(tokenizer, template, new RenderOptions { MaxLength = max, Truncation = policy });
            foreach (var e in examples) limited.Render(e, stats);
            Assert.Equal(t.TrainableTokens - lost, stats.TrainableTokens);
        }
    }

    [Fact]
    public void ATemplateErrorIsAnErrorWithItsLine()
    {
        var tokenizer = Tokenizer.FromDirectory(ModelDir("qwen2.5"));
        var template = ChatTemplate.Parse(
            "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
            "<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}");
        string path = _files.WriteLines("chat.jsonl", Lines);
        var report = DataChecker.Check(path, new DataCheckOptions { Tokens = new TokenCheckOptions(tokenizer, template) });
        var e = Assert.Single(report.Errors.Items);
        Assert.Equal(IssueCodes.TemplateError, e.Code);
        Assert.Equal(1, e.Line);
        Assert.Contains("System role not supported", e.Message);
        Assert.Equal(2, report.Stats.Tokens!.RenderedExamples);
        Assert.Equal(1, report.Stats.Tokens.RenderErrors);
    }

    [Fact]
    public void TextExamplesNeedNoTemplateAndChatExamplesWithoutOneAreErrors()
    {
        var tokenizer = Tokenizer.FromDirectory(ModelDir("qwen2.5"));
        string text = _files.WriteLines("text.jsonl", """{"text": "Plain text for pretraining."}""", """{"text": "Another document."}""");
        var report = DataChecker.Check(text, new DataCheckOptions { Tokens = new TokenCheckOptions(tokenizer, null) });
        Assert.False(report.HasErrors);
        long expected = tokenizer.Encode("Plain text for pretraining.").Length + tokenizer.Encode("Another document.").Length
                        + (tokenizer.EosTokenId is null ? 0 : 2);
        Assert.Equal(expected, report.Stats.Tokens!.TotalTokens);
        Assert.Equal(expected, report.Stats.Tokens.TrainableTokens);

        var chat = DataChecker.Check(_files.WriteLines("chat.jsonl", Lines), new DataCheckOptions { Tokens = new TokenCheckOptions(tokenizer, null) });
        Assert.Equal(3, chat.Errors.CountByCode[IssueCodes.TemplateError]);
    }
}
