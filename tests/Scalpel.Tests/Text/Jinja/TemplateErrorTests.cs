using System.Text.Json.Nodes;
using Scalpel.Tests.Models;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text.Jinja;

/// <summary>Errors name the template, line and column; pathological templates fail cleanly instead of crashing.</summary>
public class TemplateErrorTests
{
    private static TemplateException Fails(string template, JsonObject? context = null) =>
        Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template, "t.jinja").Render(context ?? []));

    [Theory]
    [InlineData("Hello\n  {{ 1 + }}", 2, 10, "unexpected 'end of print statement'")]
    [InlineData("{% if x %}\nabc", 2, 4, "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'")]
    [InlineData("a\n{% for x in y %}{% endif %}", 2, 20, "Encountered unknown tag 'endif'")]
    [InlineData("{{ x|nosuch }}", 1, 6, "No filter named 'nosuch'.")]
    [InlineData("\n\n   {{ x is nosuch }}", 3, 12, "No test named 'nosuch'.")]
    [InlineData("{% frob %}", 1, 4, "Encountered unknown tag 'frob'.")]
    [InlineData("{{ 'abc }}", 1, 4, "unexpected char")]
    [InlineData("x {# never closed", 1, 3, "Missing end of comment tag")]
    [InlineData("{% break %}", 1, 4, "'break' outside loop")]
    [InlineData("{% macro f(a=1, b) %}{% endmacro %}", 1, 17, "non-default argument follows default argument")]
    public void SyntaxErrorsHavePositions(string template, int line, int column, string reason)
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(template, "t.jinja"));
        Assert.Equal("t.jinja", e.TemplateName);
        Assert.Contains(reason, e.Reason);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith($"t.jinja:{line}:{column}: ", e.Message);
    }

    [Fact]
    public void RaiseExceptionKeepsTheMessage()
    {
        var e = Fails("{% for m in messages %}\n  {%- if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}\n{% endfor %}",
            new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "system" }) });
        Assert.Equal("System role not supported", e.Reason);
        Assert.Equal((2, 34), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("line1\n{{ n() }}", 2, 4, "'int' object is not callable")]
    [InlineData("{{ nothing.attr }}", 1, 12, "'nothing' is undefined")]
    [InlineData("{{ d.missing.deeper }}", 1, 14, "'dict object' has no attribute 'missing'")]
    [InlineData("{{ 'a' + n }}", 1, 8, "can only concatenate str (not \"int\") to str")]
    [InlineData("{{ 1 / 0 }}", 1, 6, "division by zero")]
    [InlineData("{% for x in n %}{% endfor %}", 1, 4, "'int' object is not iterable")]
    [InlineData("{{ n|tojson }}{{ nothing|tojson }}", 1, 26, "Object of type Undefined is not JSON serializable")]
    [InlineData("{% if true %}{{ 1|nosuch }}{% endif %}", 1, 19, "No filter named 'nosuch' found.")]
    public void RuntimeErrorsHavePositions(string template, int line, int column, string reason)
    {
        var e = Fails(template, new JsonObject { ["n"] = 3, ["d"] = new JsonObject() });
        Assert.Equal(reason, e.Reason);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void DeepNestingIsAnErrorNotACrash()
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}"));
        Assert.Contains("nesting is too deep", e.Message);
        e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(string.Concat(Enumerable.Repeat("{% if true %}", 3000)) + string.Concat(Enumerable.Repeat("{% endif %}", 3000))));
        Assert.Contains("nesting is too deep", e.Message);
        Assert.Equal("((1))", ChatTemplate.Parse("{{ '((' ~ " + new string('(', 100) + "1" + new string(')', 100) + " ~ '))' }}").Render([]));
    }

    [Fact]
    public void EndlessRecursionIsAnErrorNotACrash()
    {
        var e = Fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        Assert.Contains("maximum recursion depth exceeded", e.Reason);
        var list = Fails("{% set l = [] %}{% set _ = l.append(l) %}{{ l }}");
        Assert.Contains("maximum recursion depth", list.Reason);
    }

    [Fact]
    public void ContextSpecialTokensAndClock()
    {
        var t = new ChatTemplate("{{ bos_token }}|{{ eos_token }}|{{ strftime_now('%d %b %Y') }}") { BosToken = "<s>", EosToken = "</s>", Clock = () => new DateTime(2025, 1, 2) };
        Assert.Equal("<s>|</s>|02 Jan 2025", t.Render([]));
        Assert.Equal("B|</s>|02 Jan 2025", t.Render(new JsonObject { ["bos_token"] = "B" }));
        Assert.Equal("||02 Jan 2025", new ChatTemplate("{{ bos_token }}|{{ eos_token }}|{{ strftime_now('%d %b %Y') }}") { Clock = () => new DateTime(2025, 1, 2) }.Render([]));
    }

    [Fact]
    public void ConversationContextIsTransformers()
    {
        var t = new ChatTemplate("{{ tools is none }} {{ tools is defined }} {{ documents is none }} {{ add_generation_prompt }} {{ bos_token }} {{ extra }}") { BosToken = "<s>" };
        var r = t.RenderConversation([], null, true, new JsonObject { ["extra"] = 5, ["bos_token"] = "<b>" });
        Assert.Equal("True True True True <b> 5", r.Text);
        Assert.Throws<ArgumentException>(() => t.RenderConversation([], null, false, new JsonObject { ["messages"] = new JsonArray() }));
    }

    [Fact]
    public void FromDirectoryReadsTheTemplateAndTokens()
    {
        using var dir = new TinyCheckpoint.TempDir();
        var config = new JsonObject
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = new JsonObject { ["content"] = "</s>", ["special"] = true },
            ["chat_template"] = "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}",
        };
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), config.ToJsonString());
        var t = ChatTemplate.FromDirectory(dir.Path);
        Assert.Equal(("<s>", "</s>"), (t.BosToken, t.EosToken));
        Assert.Equal("<s>[hi]</s>", t.RenderConversation([new JsonObject { ["role"] = "user", ["content"] = "hi" }]).Text);
        Assert.Contains("tokenizer_config.json", t.Name);

        // chat_template.jinja (what transformers saves today) wins over tokenizer_config.json.
        File.WriteAllText(Path.Combine(dir.Path, "chat_template.jinja"), "jinja file {{ eos_token }}\n");
        t = ChatTemplate.FromDirectory(dir.Path);
        Assert.Equal("jinja file </s>", t.Render([]));
        Assert.EndsWith("chat_template.jinja", t.Name);

        // The real fixture tokenizers.
        var phi3 = ChatTemplate.FromDirectory(Path.Combine(Scalpel.Tests.Oracles.RepoPaths.Fixtures, "tokenizers", "phi-3-mini"));
        Assert.Contains("<|assistant|>", phi3.RenderConversation([new JsonObject { ["role"] = "user", ["content"] = "hi" }], addGenerationPrompt: true).Text);
    }

    [Fact]
    public void FromDirectoryWithoutTemplateSaysSo()
    {
        using var dir = new TinyCheckpoint.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"bos_token": "<s>"}""");
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.FromDirectory(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("no chat template", e.Message);
        Assert.Throws<DirectoryNotFoundException>(() => ChatTemplate.FromDirectory(Path.Combine(dir.Path, "missing")));
    }
}
