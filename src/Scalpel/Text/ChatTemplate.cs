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
        var (source, name) = SourceFromDirectory(directory, config);
        if (source is null)
            throw new TemplateException(directory,
                "no chat template: tokenizer_config.json has no \"chat_template\" and there is no chat_template.jinja or chat_template.json");
        return new ChatTemplate(JinjaTemplate.Parse(source, name!))
        {
            BosToken = config.BosToken, EosToken = config.EosToken, PadToken = config.PadToken, UnkToken = config.UnkToken,
        };
    }

    /// <summary>The Jinja source <see cref="FromDirectory"/> would use, and where it came from; (null, null) when the folder has none.</summary>
    public static (string? Source, string? Name) SourceFromDirectory(string directory, TokenizerConfig? config = null)
    {
        config ??= TokenizerConfig.FromDirectory(directory);
        string jinjaPath = Path.Combine(directory, "chat_template.jinja");
        string jsonPath = Path.Combine(directory, "chat_template.json");
        if (File.Exists(jinjaPath)) return (File.ReadAllText(jinjaPath), jinjaPath);
        if (config.ChatTemplate is { } fromConfig) return (fromConfig, Path.Combine(directory, "tokenizer_config.json") + " (chat_template)");
        if (File.Exists(jsonPath) && TokenizerConfig.Parse(File.ReadAllText(jsonPath), jsonPath).ChatTemplate is { } fromJson)
            return (fromJson, jsonPath + " (chat_template)");
        return (null, null);
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
    /// <item>Other templates: one span per assistant message the template renders, covering what the model writes for
    /// it: from where a plain assistant message at that position would start its content (after the template's fixed
    /// header, e.g. "&lt;|im_start|&gt;assistant\n", or else after the generation prompt) to where the template's
    /// end-of-turn text begins (e.g. "&lt;|im_end|&gt;", "&lt;|eot_id|&gt;", "&lt;/s&gt;"). For a plain message that is exactly its
    /// rendered content (after any trimming the template does); tool calls and reasoning the template renders in the
    /// turn are included; the end-of-turn marker is not (add it when building loss masks). Derived from renders of
    /// prefixes of the conversation and of probe messages: the text before each assistant message must be a prefix of
    /// the whole rendering, otherwise (a template that rewrites earlier turns, e.g. Mistral's [AVAILABLE_TOOLS] before
    /// the last user message) a <see cref="TemplateException"/> says the spans cannot be derived. It also refuses
    /// when a turn's end cannot be told apart or other messages' text is interleaved with it.</item>
    /// </list>
    /// Spans are UTF-16 indices into the text, ordered and disjoint.
    /// </summary>
    public ChatRendering RenderConversation(JsonArray messages, JsonArray? tools = null, bool addGenerationPrompt = false, JsonObject? extraVariables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var (text, generation) = RenderValues(ConversationContext(messages, messages.Count, tools, addGenerationPrompt, extraVariables));
        if (_template.HasGeneration) return new ChatRendering(text, generation);
        return new ChatRendering(text, DeriveSpans(messages, tools, addGenerationPrompt, extraVariables, text));
    }

    /// <summary>The text <see cref="RenderConversation"/> renders, without deriving assistant spans (so it never fails
    /// for a template whose spans cannot be derived).</summary>
    public string RenderConversationText(JsonArray messages, JsonArray? tools = null, bool addGenerationPrompt = false, JsonObject? extraVariables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return RenderValues(ConversationContext(messages, messages.Count, tools, addGenerationPrompt, extraVariables)).Text;
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
    private const string BosSentinel = "\uE0B0", EosSentinel = "\uE0E0";

    private static int CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    private static bool IsSentinel(char c) => c is '\uE0B0' or '\uE0E0';

    private static string Restore(string text, List<(string Sentinel, string Real)> sentinels)
    {
        foreach (var (sentinel, real) in sentinels) text = text.Replace(sentinel, real, StringComparison.Ordinal);
        return text;
    }

    private List<(int Start, int End)> DeriveSpans(JsonArray messages, JsonArray? tools, bool agp, JsonObject? extra, string full)
    {
        // The special tokens as the template sees them; probes render them as private-use sentinels so that an
        // eos_token the template appends at the end of a conversation is told apart from the next turn's header.
        var tokens = SpecialTokens();
        if (extra is not null) foreach (var (k, v) in extra) tokens[k] = PyFormat.FromJson(v);
        var sentinelExtra = extra?.DeepClone().AsObject() ?? new JsonObject();
        var sentinels = new List<(string Sentinel, string Real)>();
        foreach (var (name, sentinel) in new[] { ("bos_token", BosSentinel), ("eos_token", EosSentinel) })
            if (tokens.TryGetValue(name, out var value) && value is string real && real.Length > 0)
            {
                sentinelExtra[name] = sentinel;
                sentinels.Add((sentinel, real));
            }

        var spans = new List<(int Start, int End)>();
        int floor = 0;
        for (int a = 0; a < messages.Count; a++)
        {
            if (messages[a] is not JsonObject m || m["role"] is not JsonValue role || role.GetValueKind() != System.Text.Json.JsonValueKind.String || (string)role! != "assistant")
                continue;
            string? Try(int count, bool prompt, JsonObject? appended = null, JsonObject? variables = null)
            {
                try { return RenderValues(ConversationContext(messages, count, tools, prompt, variables ?? extra, appended)).Text; }
                catch (TemplateException) { return null; }
            }
            TemplateException Fail(string why) => new(Name,
                $"assistant masks cannot be derived for message {a}: {why}. Use a template with {{% generation %}} blocks, or a conversation this template renders incrementally");

            string? TryWithNext(int count, JsonObject appended, JsonObject variables)
            {
                try
                {
                    var context = ConversationContext(messages, count, tools, false, variables, appended);
                    ((List<object?>)context["messages"]!).Add(PyFormat.FromJson(new JsonObject { ["role"] = "user", ["content"] = Probe + "2" }));
                    return RenderValues(context).Text;
                }
                catch (TemplateException) { return null; }
            }

            string? before = Try(a, false);
            string? through = Try(a + 1, false);
            if (before is not null && through is not null && before == through) continue;   // the template renders nothing for this message

            // Start: where a plain assistant message at this position would start its content, or after the
            // generation prompt; either way the text before it must be a prefix of the whole conversation.
            var probeMessage = new JsonObject { ["role"] = "assistant", ["content"] = Probe };
            string? probe = Try(a, false, probeMessage);
            int k = probe?.IndexOf(Probe, StringComparison.Ordinal) ?? -1;
            int start;
            if (k >= floor && k <= full.Length && string.CompareOrdinal(full, 0, probe!, 0, k) == 0) start = k;
            else if (Try(a, true) is { } prompted && prompted.Length >= floor && full.StartsWith(prompted, StringComparison.Ordinal)) start = prompted.Length;
            else throw Fail($"the rendering of the messages before it is not a prefix of the rendering of the whole conversation (the template rewrites earlier turns or renders this turn differently once more messages follow)");

            // What follows a plain assistant message: tail = everything after its content when the conversation ends
            // there; footer = the part shared with what follows it when a generation prompt comes next. The footer is
            // reliable when the two continuations part at a special token or one of them is exactly the footer.
            string tail = "", footer = "", between = "";
            bool reliable = false;
            if (k >= 0)
            {
                string? endOfConversation = Try(a, false, probeMessage, sentinelExtra);
                string? promptFollows = Try(a, true, probeMessage, sentinelExtra);
                string? userFollows = TryWithNext(a, probeMessage, sentinelExtra);
                string? After(string? text) => text?.IndexOf(Probe, StringComparison.Ordinal) is int at && at >= 0 ? text[(at + Probe.Length)..] : null;
                string? t1 = After(endOfConversation), t2 = After(promptFollows), t3 = After(userFollows);
                if (t1 is not null && t2 is not null)
                {
                    int n = CommonPrefix(t1, t2);
                    reliable = n == t1.Length || n == t2.Length || IsSentinel(t1[n]) || IsSentinel(t2[n]);
                    tail = Restore(t1, sentinels);
                    footer = Restore(t1[..n], sentinels);
                }
                // Between this turn's content and the next turn's: what follows it both before a generation prompt and
                // before a user message (it may run into the start of the next turn's header; only its start matters).
                if (t2 is not null && t3 is not null) between = Restore(t2[..CommonPrefix(t2, t3)], sentinels);
            }

            int end;
            if (through is not null && through.Length >= start && full.StartsWith(through, StringComparison.Ordinal))
            {
                // through = this message rendered as the last one: its end is known exactly.
                end = through.Length;
                if (tail.Length > 0 && end - start >= tail.Length && string.CompareOrdinal(full, end - tail.Length, tail, 0, tail.Length) == 0) end -= tail.Length;
                else if (reliable && footer.Length > 0 && end - start >= footer.Length
                         && full.LastIndexOf(footer, end - 1, end - start, StringComparison.Ordinal) is var at && at >= start) end = at;
                // else: the message ends its turn in its own way (e.g. a tool call's end marker): keep all of it.
            }
            else
            {
                // The message renders differently once later messages follow it (e.g. Qwen3's empty <think> block on the
                // last turn, Phi-3's closing eos_token): find its end-of-turn text after its content.
                if (between.Length == 0)
                    throw Fail("the template puts no recognisable text between an assistant turn and the next one, so where the message ends cannot be located");
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
                end = full.IndexOf(between, searchFrom, StringComparison.Ordinal);
                if (end < 0) throw Fail("its end-of-turn text was not found after it");
                // The span must be text the message renders by itself (not, e.g., tool results a template inlines into it).
                if (through is null || (end > start && through.IndexOf(full[start..end], Math.Min(start, through.Length), StringComparison.Ordinal) < 0))
                    throw Fail("the text rendered for it is interleaved with other messages");
            }
            if (end < start) throw Fail("its end-of-turn text comes before its content");
            spans.Add((start, end));
            floor = end;
        }
        return spans;
    }
}
