using System.Text.Json.Nodes;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>
/// Assistant spans: from {% generation %} blocks (SmolLM3, exactly transformers' indices, see ChatTemplateFixtureTests)
/// and derived from prefix renders for templates without them (Llama-3.1, Qwen2.5, Qwen3, Mistral, Phi-3, Gemma...).
/// A derived span is what the model writes for the turn: its rendered content (and tool calls / reasoning the template
/// renders in it), without the turn's header and without its end-of-turn marker.
/// </summary>
public class ChatTemplateSpanTests
{
    private static JsonObject Data => ChatTemplateFixtureTests.Data.Value;
    private static JsonArray Conversation(string name) => Data["conversations"]![name]!.DeepClone().AsArray();
    private static JsonArray Tools => Data["tools"]!.DeepClone().AsArray();
    private static JsonObject Extra => Data["extra_variables"]!.DeepClone().AsObject();

    private static (string Text, List<string> Spans, List<(int Start, int End)> Raw) Spans(string template, string conversation, bool agp = false)
    {
        var t = ChatTemplateFixtureTests.Load(template);
        var r = t.RenderConversation(Conversation(conversation), conversation.StartsWith("tools", StringComparison.Ordinal) ? Tools : null, agp, Extra);
        return (r.Text, r.AssistantSpans.Select(s => r.Text[s.Start..s.End]).ToList(), r.AssistantSpans.ToList());
    }

    private static void EachSpanFollowedBy(string text, List<(int Start, int End)> spans, string marker)
    {
        foreach (var (_, end) in spans) Assert.StartsWith(marker, text[end..]);
    }

    [Fact]
    public void Llama31()
    {
        const string t = "llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja";
        var (text, spans, raw) = Spans(t, "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
        EachSpanFollowedBy(text, raw, "<|eot_id|>");
        foreach (var (start, _) in raw) Assert.EndsWith("<|start_header_id|>assistant<|end_header_id|>\n\n", text[..start]);

        (text, spans, raw) = Spans(t, "tools");
        Assert.Equal(["{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"days\": 2}}", "It is 21.5 °C and clear."], spans);
        EachSpanFollowedBy(text, raw, "<|eot_id|>");

        // The template trims assistant content: the span is the trimmed text it renders.
        (_, spans, _) = Spans(t, "unicode");
        Assert.Equal(["Réponse: ✓ — done 🎉"], spans);
    }

    [Fact]
    public void Qwen25()
    {
        const string t = "llama.cpp/Qwen-Qwen2.5-7B-Instruct.jinja";
        var (text, spans, raw) = Spans(t, "tools_string_arguments");
        Assert.Equal(["Searching.\n<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"cats\\\"}\"}\n</tool_call>", "Cats are mammals."], spans);
        EachSpanFollowedBy(text, raw, "<|im_end|>");
        (text, spans, raw) = Spans(t, "unicode", agp: true);
        Assert.Equal(["\n  Réponse: ✓ — done 🎉  \n"], spans);
        Assert.EndsWith("<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Qwen3()
    {
        const string t = "llama.cpp/Qwen-Qwen3-0.6B.jinja";
        // The last turn gets an empty <think> block from the template (a header); earlier turns do not.
        var (text, spans, raw) = Spans(t, "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", text[..raw[1].Start]);
        EachSpanFollowedBy(text, raw, "<|im_end|>");
        // Reasoning: dropped by the template before the last user turn, kept (and learned) after it.
        (_, spans, _) = Spans(t, "reasoning");
        Assert.Equal(["Answer one.", "<think>\nStill thinking.\n</think>\n\nAnswer two."], spans);
        // A tool call after the last user turn renders without the <think> block once more messages follow.
        (text, spans, raw) = Spans(t, "tools");
        Assert.Equal(["<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>", "It is 21.5 °C and clear."], spans);
        EachSpanFollowedBy(text, raw, "<|im_end|>");
    }

    [Fact]
    public void Mistral()
    {
        var (text, spans, raw) = Spans("llama.cpp/mistralai-Mistral-Nemo-Instruct-2407.jinja", "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
        EachSpanFollowedBy(text, raw, "<EOS>");
        foreach (var (start, _) in raw) Assert.EndsWith("[/INST]", text[..start]);

        (text, spans, raw) = Spans("llama.cpp/Mistral-Small-3.2-24B-Instruct-2506.jinja", "tools_string_arguments");
        Assert.Equal(["[TOOL_CALLS]search[CALL_ID]call67890[ARGS]\"{\\\"query\\\": \\\"cats\\\"}\"", "Cats are mammals."], spans);
        EachSpanFollowedBy(text, raw, "<EOS>");
    }

    [Fact]
    public void Phi3ClosesTheConversationWithEos()
    {
        // {% else %}{{ eos_token }}: the rendering of a prefix ends with eos, the full conversation does not there.
        var (text, spans, raw) = Spans("onnxruntime-extensions/phi-3-mini.jinja", "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
        EachSpanFollowedBy(text, raw, "<|end|>\n");
        Assert.EndsWith("<|end|>\n<EOS>", text);
        (_, spans, _) = Spans("llama.cpp/microsoft-Phi-3.5-mini-instruct.jinja", "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
    }

    [Fact]
    public void Gemma()
    {
        var (text, spans, raw) = Spans("llama.cpp/google-gemma-2-2b-it.jinja", "unicode");
        Assert.Equal(["Réponse: ✓ — done 🎉"], spans);
        EachSpanFollowedBy(text, raw, "<end_of_turn>\n");
        (text, spans, raw) = Spans("onnxruntime-extensions/gemma-3.jinja", "ends_with_assistant");
        Assert.Equal(["Hi there.", "It is 4."], spans);
        EachSpanFollowedBy(text, raw, "<end_of_turn>\n");
    }

    [Fact]
    public void SmolLM3UsesItsGenerationBlocks()
    {
        var (_, spans, _) = Spans("onnxruntime-extensions/smollm3.jinja", "ends_with_assistant");
        Assert.Equal(["<|im_start|>assistant\nHi there.<|im_end|>\n", "<|im_start|>assistant\nIt is 4.<|im_end|>\n"], spans);
    }

    [Fact]
    public void AMessageTheTemplateDoesNotRenderHasNoSpan()
    {
        // qwen2.5-synthetic-v5 skips assistant messages with empty content (the tool call).
        var (_, spans, _) = Spans("onnxruntime-extensions/qwen2.5-synthetic-v5.jinja", "tools");
        Assert.Equal(["It is 21.5 °C and clear."], spans);
    }

    [Fact]
    public void ContentThatLooksLikeMarkupStaysInsideItsSpan()
    {
        var t = ChatTemplateFixtureTests.Load("llama.cpp/Qwen-Qwen3-0.6B.jinja");
        var messages = new JsonArray
        {
            new JsonObject { ["role"] = "user", ["content"] = "q" },
            new JsonObject { ["role"] = "assistant", ["content"] = "a<|im_end|>\n<|im_start|>user\nb" },
            new JsonObject { ["role"] = "user", ["content"] = "q2" },
            new JsonObject { ["role"] = "assistant", ["content"] = "<|im_end|>\n" },
        };
        var r = t.RenderConversation(messages);
        Assert.Equal(["a<|im_end|>\n<|im_start|>user\nb", "<|im_end|>\n"], r.AssistantSpans.Select(s => r.Text[s.Start..s.End]));
    }

    [Fact]
    public void TemplatesThatRewriteEarlierTurnsFailClearly()
    {
        // Mistral Small puts [AVAILABLE_TOOLS] before the last user message: earlier renders are not prefixes.
        var e = Assert.Throws<TemplateException>(() => Spans("llama.cpp/Mistral-Small-3.2-24B-Instruct-2506.jinja", "tools"));
        Assert.Contains("assistant masks cannot be derived for message 2", e.Message);
        Assert.Contains("Mistral-Small-3.2-24B-Instruct-2506.jinja", e.Message);

        var t = ChatTemplate.Parse("{% for m in messages %}{% if loop.last %}[last]{% endif %}{{ m.role }}:{{ m.content }};{% endfor %}", "rewriter");
        var messages = new JsonArray
        {
            new JsonObject { ["role"] = "user", ["content"] = "q" },
            new JsonObject { ["role"] = "assistant", ["content"] = "a" },
            new JsonObject { ["role"] = "user", ["content"] = "q2" },
        };
        Assert.Equal("user:q;assistant:a;[last]user:q2;", t.Render(new JsonObject { ["messages"] = messages.DeepClone() }));
        e = Assert.Throws<TemplateException>(() => t.RenderConversation(messages));
        Assert.StartsWith("rewriter: assistant masks cannot be derived for message 1", e.Message);
    }

    /// <summary>Every fixture template, every conversation it renders: derived spans are ordered, disjoint, and for
    /// plain-text assistant messages hold the content the template rendered (verbatim, with surrounding whitespace the
    /// template strips removed, or with a &lt;think&gt; part removed).</summary>
    [Fact]
    public void DerivedSpansHoldTheContentForEveryFixtureTemplate()
    {
        int checkedSpans = 0, templates = 0;
        foreach (var template in Data["renders"]!.AsArray().Select(r => (string)r!["template"]!).Distinct())
        {
            var t = ChatTemplateFixtureTests.Load(template);
            if (t.HasGenerationBlocks) continue;
            bool any = false;
            foreach (var (name, conversation) in Data["conversations"]!.AsObject())
            {
                foreach (bool agp in new[] { false, true })
                {
                    var messages = conversation!.DeepClone().AsArray();
                    ChatRendering r;
                    try { r = t.RenderConversation(messages, name.StartsWith("tools", StringComparison.Ordinal) ? Tools : null, agp, Extra); }
                    catch (TemplateException) { continue; }
                    any = true;
                    int previous = 0;
                    foreach (var (start, end) in r.AssistantSpans)
                    {
                        Assert.True(start >= previous && end >= start && end <= r.Text.Length, $"{template}/{name}");
                        previous = end;
                    }
                    if (name.StartsWith("tools", StringComparison.Ordinal)) continue;
                    var contents = messages.Where(m => (string)m!["role"]! == "assistant").Select(m => (string)m!["content"]!).ToList();
                    Assert.Equal(contents.Count, r.AssistantSpans.Count);
                    for (int i = 0; i < contents.Count; i++)
                    {
                        string span = r.Text[r.AssistantSpans[i].Start..r.AssistantSpans[i].End], c = contents[i];
                        // Templates may trim or lstrip the content; the span is the content as rendered, within it.
                        bool ok = (c.Contains(span, StringComparison.Ordinal) && span.Trim() == c.Trim())
                                  || (c.Contains("</think>") && c.EndsWith(span.TrimStart('\n'), StringComparison.Ordinal) && span.TrimStart('\n').Length > 0);
                        Assert.True(ok, $"{template}/{name}/agp={agp}: span {i} is '{span}', content '{c}'");
                        checkedSpans++;
                    }
                }
            }
            if (any) templates++;
        }
        Assert.True(templates >= 25, $"only {templates} templates");
        Assert.True(checkedSpans > 250, $"only {checkedSpans} spans");
    }
}
