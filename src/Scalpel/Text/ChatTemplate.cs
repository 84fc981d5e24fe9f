using System.Text.Json.Nodes;
using Scalpel.Text.Jinja;

namespace Scalpel.Text;

/// <summary>Rendered conversation text and the [Start, End) spans (UTF-16 indices into Text) of the assistant text
/// that training learns. See <see cref="ChatTemplate.RenderConversation"/> for what a span covers.</summary>
public sealed record ChatRendering(string Text, IReadOnlyList<(int Start, int End)> AssistantSpans);

/// <summary>
/// A Hugging Face chat template (the Jinja <c>chat_template</c> of tokenizer_config.json), rendered exactly as
/// transformers' <c>apply_chat_template</c> renders it: Jinja2 with trim_blocks and lstrip_blocks, loop controls,
/// <c>raise_exception</c>, <c>strftime_now</c>, transformers' <c>tojson</c> (json.dumps, ensure_ascii=False) and the
/// <c>{% generation %}</c> block. Values follow Python: None prints "None", dicts and lists print as Python repr,
/// floats as Python floats, strings are indexed by code point.
/// </summary>
public sealed class ChatTemplate
{
    private readonly JinjaTemplate _template;

    private ChatTemplate(JinjaTemplate template) => _template = template;

    /// <summary>Parses a template (as <see cref="Parse"/>); use an object initializer to set the special tokens or the clock:
    /// <c>new ChatTemplate(source) { BosToken = "&lt;s&gt;", EosToken = "&lt;/s&gt;" }</c>.</summary>
    public ChatTemplate(string source, string sourceName = "chat_template") : this(JinjaTemplate.Parse(source, sourceName)) { }

    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? UnkToken { get; init; }
    /// <summary>The clock <c>strftime_now</c> reads (local time by default); fix it for reproducible renders.</summary>
    public Func<DateTime> Clock { get; init; } = () => DateTime.Now;

    /// <summary>The name errors report (a file name or "chat_template").</summary>
    public string Name => _template.Source.Name;
    /// <summary>Whether the template marks assistant text with {% generation %} (then spans come from those blocks).</summary>
    public bool HasGenerationBlocks => _template.HasGeneration;

    /// <summary>Parses a template; syntax errors, unknown filters/tests and unknown tags throw <see cref="TemplateException"/>.</summary>
    public static ChatTemplate Parse(string source, string sourceName = "chat_template") => new(JinjaTemplate.Parse(source, sourceName));

    /// <summary>
    /// Loads the default chat template and the special tokens of a model/tokenizer folder: chat_template.jinja when
    /// present (transformers saves templates there and prefers it), else tokenizer_config.json's chat_template
    /// (a string, or the "default" entry of a list), else chat_template.json's. Throws a clear error naming the
    /// folder when there is none.
    /// </summary>
    public static ChatTemplate FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such folder");
        var config = TokenizerConfig.FromDirectory(directory);
        string jinjaPath = Path.Combine(directory, "chat_template.jinja");
        string jsonPath = Path.Combine(directory, "chat_template.json");
        string? source = null, name = null;
        if (File.Exists(jinjaPath)) (source, name) = (File.ReadAllText(jinjaPath), jinjaPath);
        else if (config.ChatTemplate is { } fromConfig) (source, name) = (fromConfig, Path.Combine(directory, "tokenizer_config.json") + " (chat_template)");
        else if (File.Exists(jsonPath))
        {
            var fromJson = TokenizerConfig.Parse(File.ReadAllText(jsonPath), jsonPath).ChatTemplate;
            if (fromJson is not null) (source, name) = (fromJson, jsonPath + " (chat_template)");
        }
        if (source is null)
            throw new TemplateException(directory,
                "no chat template: tokenizer_config.json has no \"chat_template\" and there is no chat_template.jinja or chat_template.json");
        return new ChatTemplate(JinjaTemplate.Parse(source, name!))
        {
            BosToken = config.BosToken, EosToken = config.EosToken, PadToken = config.PadToken, UnkToken = config.UnkToken,
        };
    }

    /// <summary>
    /// Renders with an arbitrary context (messages, tools, add_generation_prompt, any extra variables). The special
    /// tokens this template knows (bos_token, eos_token, pad_token, unk_token) are added unless the context sets them,
    /// as transformers passes the tokenizer's special tokens.
    /// </summary>
    public string Render(JsonObject context) => RenderValues(ContextValues(context)).Text;

    /// <summary>
    /// Renders messages/tools in OpenAI chat format the way apply_chat_template does (tools=None and documents=None
    /// when not given, the special tokens, then <paramref name="extraVariables"/>), and finds the assistant spans:
    /// <list type="bullet">
    /// <item>Templates with {% generation %}: the text each generation block produced, exactly like transformers'
    /// return_assistant_tokens_mask (often the whole turn, header and end-of-turn token included).</item>
    /// <item>Other templates: one span per assistant message, covering what the model writes for it: the text after
    /// the template's fixed assistant header (what a plain assistant message at that position gets before its content,
    /// or else the generation prompt) up to the template's end-of-turn text (what follows a plain assistant message).
    /// For a plain message that is exactly its rendered content (after any trimming the template does); rendered tool
    /// calls and reasoning are included; the end-of-turn marker is not. Derived by rendering prefixes of the
    /// conversation: each must be a prefix of the full text, otherwise a <see cref="TemplateException"/> says the
    /// spans cannot be derived (e.g. templates that rewrite earlier turns).</item>
    /// </list>
    /// </summary>
    public ChatRendering RenderConversation(JsonArray messages, JsonArray? tools = null, bool addGenerationPrompt = false, JsonObject? extraVariables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var (text, generation) = RenderValues(ConversationContext(messages, messages.Count, tools, addGenerationPrompt, extraVariables));
        if (_template.HasGeneration) return new ChatRendering(text, generation);
        return new ChatRendering(text, DeriveSpans(messages, tools, addGenerationPrompt, extraVariables, text));
    }

    // ---------------------------------------------------------------- context

    private Dictionary<string, object?> SpecialTokens()
    {
        var d = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (BosToken is not null) d["bos_token"] = BosToken;
        if (EosToken is not null) d["eos_token"] = EosToken;
        if (PadToken is not null) d["pad_token"] = PadToken;
        if (UnkToken is not null) d["unk_token"] = UnkToken;
        return d;
    }

    private Dictionary<string, object?> ContextValues(JsonObject context)
    {
        var d = SpecialTokens();
        foreach (var (k, v) in context) d[k] = PyFormat.FromJson(v);
        return d;
    }

    private Dictionary<string, object?> ConversationContext(JsonArray messages, int count, JsonArray? tools, bool addGenerationPrompt,
        JsonObject? extra, JsonObject? appended = null)
    {
        var d = SpecialTokens();
        if (extra is not null)
            foreach (var (k, v) in extra)
            {
                if (k is "messages" or "tools" or "documents" or "add_generation_prompt")
                    throw new ArgumentException($"extra variable '{k}' would replace the argument of the same name", nameof(extra));
                d[k] = PyFormat.FromJson(v);
            }
        var list = new List<object?>(count + 1);
        for (int i = 0; i < count; i++) list.Add(PyFormat.FromJson(messages[i]));
        if (appended is not null) list.Add(PyFormat.FromJson(appended));
        d["messages"] = list;
        d["tools"] = tools is null ? null : PyFormat.FromJson(tools);
        d["documents"] = null;
        d["add_generation_prompt"] = addGenerationPrompt;
        return d;
    }

    private (string Text, List<(int Start, int End)> Generation) RenderValues(Dictionary<string, object?> context) =>
        _template.Render(context, Clock);

    // ---------------------------------------------------------------- assistant spans without {% generation %}

    private const string Probe = "Scalpel7Q3probe";

    private List<(int Start, int End)> DeriveSpans(JsonArray messages, JsonArray? tools, bool agp, JsonObject? extra, string full)
    {
        var spans = new List<(int Start, int End)>();
        int floor = 0;
        for (int a = 0; a < messages.Count; a++)
        {
            if (messages[a] is not JsonObject m || m["role"]?.GetValueKind() != System.Text.Json.JsonValueKind.String || (string)m["role"]! != "assistant")
                continue;
            string? Try(int count, bool prompt, JsonObject? appended = null)
            {
                try { return RenderValues(ConversationContext(messages, count, tools, prompt, extra, appended)).Text; }
                catch (TemplateException) { return null; }
            }
            TemplateException Fail(string why) => new(Name,
                $"assistant masks cannot be derived for message {a}: {why}. Use a template with {{% generation %}} blocks, or a conversation this template renders incrementally.");

            string? before = Try(a, false);
            if (before is null)
            {
                if (a > 0) throw Fail($"rendering messages[:{a}] fails");
                before = "";
            }
            if (!full.StartsWith(before, StringComparison.Ordinal))
                throw Fail($"the rendering of messages[:{a}] is not a prefix of the rendering of the whole conversation (the template rewrites earlier turns)");
            if (before.Length < floor) throw Fail($"the rendering of messages[:{a}] ends before the previous assistant span");

            var probeMessage = new JsonObject { ["role"] = "assistant", ["content"] = Probe };
            string? probe = Try(a, false, probeMessage);
            int k = probe is null || !probe.StartsWith(before, StringComparison.Ordinal) ? -1 : probe.IndexOf(Probe, before.Length, StringComparison.Ordinal);
            if (k < 0) throw Fail("a plain assistant message at this position does not render its content after the previous messages");
            string header = probe![before.Length..k];
            string footer = probe[(k + Probe.Length)..];

            // Start: after the fixed header, else after the generation prompt, else where the message's text begins.
            int start;
            if (string.CompareOrdinal(full, before.Length, header, 0, header.Length) == 0 && before.Length + header.Length <= full.Length) start = before.Length + header.Length;
            else if (Try(a, true) is { } prompted && prompted.Length >= before.Length && prompted.StartsWith(before, StringComparison.Ordinal)
                     && full.StartsWith(prompted, StringComparison.Ordinal)) start = prompted.Length;
            else start = before.Length;

            // End: where this message's rendering stops, less the end-of-turn text.
            int end;
            string? through = Try(a + 1, false);
            if (through is not null && through.Length >= start && full.StartsWith(through, StringComparison.Ordinal))
            {
                end = through.Length;
                if (footer.Length > 0 && end - footer.Length >= start && string.CompareOrdinal(full, end - footer.Length, footer, 0, footer.Length) == 0)
                    end -= footer.Length;
            }
            else
            {
                // The message renders differently once later messages follow it (e.g. Qwen3's last-turn <think> block):
                // find its end-of-turn text after its content.
                if (footer.Length == 0) throw Fail("the template puts no end-of-turn text after an assistant message and the message's end cannot be located");
                int searchFrom = start;
                if (m["content"] is JsonValue cv && cv.GetValueKind() == System.Text.Json.JsonValueKind.String)
                {
                    string content = (string)cv!;
                    foreach (var candidate in new[] { content, PyString.Strip(content, null) })
                    {
                        if (candidate.Length == 0) continue;
                        int at = full.IndexOf(candidate, start, StringComparison.Ordinal);
                        if (at >= 0) { searchFrom = at + candidate.Length; break; }
                    }
                }
                end = full.IndexOf(footer, searchFrom, StringComparison.Ordinal);
                if (end < 0) throw Fail("its end-of-turn text was not found after it");
            }
            if (end < start) end = start;
            spans.Add((start, end));
            floor = end;
        }
        return spans;
    }
}
