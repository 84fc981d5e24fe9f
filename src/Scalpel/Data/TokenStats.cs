using System.Text.Json;
using Scalpel.Data.Rendering;
using Scalpel.Text;

namespace Scalpel.Data;

/// <summary>
/// Token counting for <see cref="DataChecker"/>: a tokenizer, the chat template chat examples are rendered with (null
/// when the model has none), and an optional maximum length to report examples over.
/// </summary>
public sealed record TokenCheckOptions(Tokenizer Tokenizer, ChatTemplate? Template, int? MaxLength = null)
{
    /// <summary>Where the tokenizer came from, for messages (e.g. the --model folder).</summary>
    public string Source { get; init; } = "the model";
}

/// <summary>
/// Token counts of the rendered examples (chat template → tokens, as training sees them, before any length limit),
/// in constant memory. Per-role counts are of each message's content tokenized alone, which is close to but not
/// exactly what the rendered conversation holds (the template adds role headers and special tokens around it).
/// </summary>
public sealed class TokenStats
{
    public int? MaxLength { get; internal set; }
    /// <summary>Examples rendered into tokens (valid chat and text examples whose rendering worked).</summary>
    public long RenderedExamples { get; internal set; }
    /// <summary>Valid examples not rendered: preference pairs (DPO is not supported), and examples whose rendering failed.</summary>
    public long NotRendered { get; internal set; }
    public long RenderErrors { get; internal set; }
    public long TotalTokens { get; internal set; }
    public long TrainableTokens { get; internal set; }
    public LengthHistogram ExampleTokens { get; } = new();
    public LengthHistogram TrainableTokensPerExample { get; } = new();
    public Dictionary<string, long> ContentTokensByRole { get; } = new(StringComparer.Ordinal);

    /// <summary>With a maximum length: examples over it, and what each truncation policy would do to them.</summary>
    public long OverMaxLength { get; internal set; }
    public long TokensOverMaxLength { get; internal set; }
    /// <summary>Per policy, what <see cref="ExampleRenderer"/> would count for the examples over the maximum length.</summary>
    public RenderStats DropPolicy { get; } = new();
    public RenderStats PromptLeftPolicy { get; } = new();
    public RenderStats AnswerPolicy { get; } = new();
    /// <summary>Trainable tokens each policy would lose (drop: all of the dropped examples').</summary>
    public long TrainableLostByDrop { get; internal set; }
    public long TrainableLostByPromptLeft { get; internal set; }
    public long TrainableLostByAnswer { get; internal set; }

    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("rendered_examples", RenderedExamples);
        w.WriteNumber("not_rendered_examples", NotRendered);
        w.WriteNumber("render_errors", RenderErrors);
        w.WriteNumber("total_tokens", TotalTokens);
        w.WriteNumber("trainable_tokens", TrainableTokens);
        w.WritePropertyName("tokens_per_example"); ExampleTokens.WriteJson(w);
        w.WritePropertyName("trainable_tokens_per_example"); TrainableTokensPerExample.WriteJson(w);
        w.WriteStartObject("content_tokens_by_role");
        foreach (var (role, n) in ContentTokensByRole.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteNumber(role, n);
        w.WriteEndObject();
        if (MaxLength is int max)
        {
            w.WriteNumber("max_length", max);
            w.WriteNumber("over_max_length", OverMaxLength);
            w.WriteNumber("tokens_over_max_length", TokensOverMaxLength);
            w.WriteStartObject("truncation");
            w.WriteStartObject("drop");
            w.WriteNumber("dropped_examples", DropPolicy.Dropped);
            w.WriteNumber("trainable_tokens_lost", TrainableLostByDrop);
            w.WriteEndObject();
            w.WriteStartObject("truncate_prompt_left");
            w.WriteNumber("prompt_truncated_examples", PromptLeftPolicy.PromptTruncated);
            w.WriteNumber("answer_truncated_examples", PromptLeftPolicy.AnswerTruncated);
            w.WriteNumber("trainable_tokens_lost", TrainableLostByPromptLeft);
            w.WriteEndObject();
            w.WriteStartObject("truncate_answer");
            w.WriteNumber("answer_truncated_examples", AnswerPolicy.AnswerTruncated);
            w.WriteNumber("trainable_tokens_lost", TrainableLostByAnswer);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        else w.WriteNull("max_length");
        w.WriteEndObject();
    }
}

/// <summary>Renders each valid example and counts its tokens into <see cref="TokenStats"/>, reporting failures and over-length examples.</summary>
internal sealed class TokenCounter
{
    private readonly TokenCheckOptions _options;
    private readonly ExampleRenderer _renderer;
    private readonly TokenStats _stats;
    private readonly IssueLog _errors, _warnings;

    public TokenCounter(TokenCheckOptions options, TokenStats stats, IssueLog errors, IssueLog warnings)
    {
        _options = options;
        // No limit while counting: lengths are compared with --max-length here, per policy.
        _renderer = new ExampleRenderer(options.Tokenizer, options.Template,
            new RenderOptions { TrainOn = LossScope.Assistant, MaxLength = int.MaxValue, Truncation = TruncationPolicy.Drop });
        _stats = stats;
        _stats.MaxLength = options.MaxLength;
        _errors = errors;
        _warnings = warnings;
    }

    public void Add(string path, long line, Example example)
    {
        if (example is PreferenceExample) { _stats.NotRendered++; return; }
        int[] ids;
        bool[] mask;
        try
        {
            if (example is ChatExample && _options.Template is null)
                throw new InvalidOperationException($"{_options.Source} has no chat template, so chat examples cannot be rendered; use the model's own folder");
            (ids, mask) = _renderer.RenderFull(example);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _stats.NotRendered++;
            _stats.RenderErrors++;
            string reason = ex.Message;
            string prefix = example.Source + ": ";
            if (reason.StartsWith(prefix, StringComparison.Ordinal)) reason = reason[prefix.Length..];
            _errors.Add(new DataIssue(path, line, "", IssueCodes.TemplateError,
                $"the chat template could not render this example: {reason}; fix the example or use a template that supports it"));
            return;
        }

        int trainable = 0;
        foreach (bool m in mask) if (m) trainable++;
        _stats.RenderedExamples++;
        _stats.TotalTokens += ids.Length;
        _stats.TrainableTokens += trainable;
        _stats.ExampleTokens.Add(ids.Length);
        _stats.TrainableTokensPerExample.Add(trainable);
        if (example is ChatExample chat)
        {
            foreach (var message in chat.Messages)
                if (message.Content is { Length: > 0 } content)
                    AddRole(message.Role, content);
        }
        else if (example is TextExample text) AddRole("text", text.Text);
        if (trainable == 0)
            _warnings.Add(new DataIssue(path, line, "", IssueCodes.NoTrainableTokens,
                "the rendered example has no trainable tokens (the chat template leaves the trained assistant content out), so training skips it; check the template"));

        if (_options.MaxLength is int max && ids.Length > max) OverMaxLength(path, line, ids, mask, trainable, max);
    }

    private void AddRole(string role, string content) =>
        _stats.ContentTokensByRole[role] = _stats.ContentTokensByRole.GetValueOrDefault(role) + _options.Tokenizer.Encode(content, addSpecialTokens: false).Length;

    private void OverMaxLength(string path, long line, int[] ids, bool[] mask, int trainable, int max)
    {
        _stats.OverMaxLength++;
        _stats.TokensOverMaxLength += ids.Length - max;
        _renderer.Truncate(ids, mask, max, TruncationPolicy.Drop, _stats.DropPolicy);
        _stats.TrainableLostByDrop += trainable;

        var left = _renderer.Truncate(ids, mask, max, TruncationPolicy.TruncatePromptLeft, _stats.PromptLeftPolicy)!.Value;
        int leftTrainable = left.Mask.Count(m => m);
        var answer = _renderer.Truncate(ids, mask, max, TruncationPolicy.TruncateAnswer, _stats.AnswerPolicy)!.Value;
        int answerTrainable = answer.Mask.Count(m => m);
        _stats.TrainableLostByPromptLeft += trainable - leftTrainable;
        _stats.TrainableLostByAnswer += trainable - answerTrainable;

        int removedFromPrompt = PromptTokensRemoved(ids, mask, max);
        string leftText = removedFromPrompt > 0
            ? $"truncate_prompt_left removes {removedFromPrompt:N0} prompt tokens"
            : "truncate_prompt_left cannot shorten the prompt (the answer starts first)";
        if (trainable - leftTrainable > 0) leftText += $" and still cuts {trainable - leftTrainable:N0} trainable tokens from the end";
        string answerText = trainable - answerTrainable > 0
            ? $"truncate_answer cuts {trainable - answerTrainable:N0} of {trainable:N0} trainable tokens"
            : "truncate_answer cuts only untrained tokens";
        _warnings.Add(new DataIssue(path, line, "", IssueCodes.OverMaxLength,
            $"{ids.Length:N0} tokens, over --max-length {max:N0} by {ids.Length - max:N0}: drop leaves it out ({trainable:N0} trainable tokens); " +
            $"{leftText}; {answerText}; shorten the example or raise the maximum length"));
    }

    /// <summary>How many prompt tokens truncate_prompt_left takes out (after BOS, before the first trained token).</summary>
    private int PromptTokensRemoved(int[] ids, bool[] mask, int max)
    {
        int keepStart = _options.Tokenizer.BosTokenId is int bos && ids.Length > 0 && ids[0] == bos ? 1 : 0;
        int firstTrained = Array.IndexOf(mask, true);
        if (firstTrained < 0) firstTrained = ids.Length;
        return Math.Min(ids.Length - max, Math.Max(0, firstTrained - keepStart));
    }
}
