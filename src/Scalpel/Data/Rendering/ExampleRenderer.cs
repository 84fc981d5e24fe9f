using Scalpel.Text;

namespace Scalpel.Data.Rendering;

/// <summary>Which tokens carry loss.</summary>
public enum LossScope
{
    /// <summary>Every trainable assistant message (weight ≠ 0), with its end-of-turn token.</summary>
    Assistant,
    /// <summary>Every token of the rendered conversation.</summary>
    All,
    /// <summary>Only the last trainable assistant message.</summary>
    LastAssistant,
}

/// <summary>What happens to an example longer than the maximum length.</summary>
public enum TruncationPolicy
{
    /// <summary>Leave the example out (counted).</summary>
    Drop,
    /// <summary>Cut prompt tokens from the left (after BOS) so the answer fits; then the answer's end if still too long.</summary>
    TruncatePromptLeft,
    /// <summary>Keep the first max-length tokens.</summary>
    TruncateAnswer,
}

public sealed record RenderOptions
{
    public LossScope TrainOn { get; init; } = LossScope.Assistant;
    public int MaxLength { get; init; } = 2048;
    public TruncationPolicy Truncation { get; init; } = TruncationPolicy.Drop;
}

/// <summary>Token ids and, per token, whether the model learns to produce it.</summary>
public sealed record RenderedExample(int[] Ids, bool[] LossMask, SourceLocation Source)
{
    public int TrainableTokens => LossMask.Count(m => m);
}

/// <summary>Counts of what rendering did; every dropped or cut example is counted, never silent.</summary>
public sealed class RenderStats
{
    public int Rendered { get; set; }
    public int Dropped { get; set; }
    public int PromptTruncated { get; set; }
    public int AnswerTruncated { get; set; }
    public int NoTrainableTokens { get; set; }
    public long Tokens { get; set; }
    public long TrainableTokens { get; set; }
}

/// <summary>
/// Example → chat template → tokens + loss mask, the way the model saw its own training data:
/// the conversation is rendered by the model's chat template and tokenized as one text without added special tokens
/// (the template writes BOS itself, like transformers' apply_chat_template); a token is trained when its characters
/// overlap a trained span (transformers' assistant-mask rule). Trained spans are the assistant contents the template
/// reports, extended over the end-of-turn special token that follows them, so the model learns to stop.
/// </summary>
public sealed class ExampleRenderer(Tokenizer tokenizer, ChatTemplate? template, RenderOptions options)
{
    private readonly string[] _specialTexts = SpecialTexts(tokenizer);

    public RenderOptions Options => options;

    private static string[] SpecialTexts(Tokenizer tokenizer)
    {
        var texts = tokenizer.Config.AddedTokens.Where(t => t.Special).Select(t => t.Content).ToList();
        if (tokenizer.Config.EosToken is { } eos) texts.Add(eos);
        return texts.Where(t => t.Length > 0).Distinct().OrderByDescending(t => t.Length).ToArray();
    }

    /// <summary>Renders one example; null when it is left out (too long with <see cref="TruncationPolicy.Drop"/>, or nothing to train on).</summary>
    public RenderedExample? Render(Example example, RenderStats stats)
    {
        var (ids, mask) = RenderFull(example);
        if (Truncate(ids, mask, options.MaxLength, options.Truncation, stats) is not var (keptIds, keptMask)) return null;
        (ids, mask) = (keptIds, keptMask);
        if (!mask.Any(m => m))
        {
            stats.NoTrainableTokens++;
            return null;
        }
        stats.Rendered++;
        stats.Tokens += ids.Length;
        stats.TrainableTokens += mask.Count(m => m);
        return new RenderedExample(ids, mask, example.Source);
    }

    /// <summary>The whole example as tokens and loss mask, before any length limit.</summary>
    internal (int[] Ids, bool[] Mask) RenderFull(Example example) => example switch
    {
        ChatExample chat => RenderChat(chat),
        TextExample text => RenderText(text),
        PreferenceExample => throw new NotSupportedException(
            $"{example.Source}: preference pairs train with DPO, which Scalpel does not support yet; convert them to chat examples (the chosen answer)"),
        _ => throw new NotSupportedException($"{example.Source}: unsupported example kind"),
    };

    /// <summary>
    /// Applies a length limit the way <see cref="Render"/> does: unchanged when it fits, null when dropped, else cut by
    /// the policy (counted in <paramref name="stats"/>).
    /// </summary>
    internal (int[] Ids, bool[] Mask)? Truncate(int[] ids, bool[] mask, int maxLength, TruncationPolicy policy, RenderStats stats)
    {
        if (ids.Length <= maxLength) return (ids, mask);
        switch (policy)
        {
            case TruncationPolicy.Drop:
                stats.Dropped++;
                return null;
            case TruncationPolicy.TruncateAnswer:
                stats.AnswerTruncated++;
                return (ids[..maxLength], mask[..maxLength]);
            default:
                return TruncatePromptLeft(ids, mask, maxLength, stats);
        }
    }

    private (int[], bool[]) TruncatePromptLeft(int[] ids, bool[] mask, int maxLength, RenderStats stats)
    {
        int excess = ids.Length - maxLength;
        int keepStart = tokenizer.BosTokenId is int bos && ids.Length > 0 && ids[0] == bos ? 1 : 0;
        int firstTrained = Array.IndexOf(mask, true);
        if (firstTrained < 0) firstTrained = ids.Length;
        int removable = Math.Max(0, firstTrained - keepStart);
        int remove = Math.Min(excess, removable);
        var keptIds = ids[..keepStart].Concat(ids[(keepStart + remove)..]).ToArray();
        var keptMask = mask[..keepStart].Concat(mask[(keepStart + remove)..]).ToArray();
        if (remove > 0) stats.PromptTruncated++;
        if (keptIds.Length > maxLength)
        {
            (keptIds, keptMask) = (keptIds[..maxLength], keptMask[..maxLength]);
            stats.AnswerTruncated++;
        }
        return (keptIds, keptMask);
    }

    private (int[] Ids, bool[] Mask) RenderText(TextExample example)
    {
        var ids = tokenizer.Encode(example.Text, addSpecialTokens: true).ToList();
        if (tokenizer.EosTokenId is int eos && (ids.Count == 0 || ids[^1] != eos)) ids.Add(eos);
        return (ids.ToArray(), Enumerable.Repeat(true, ids.Count).ToArray());
    }

    private (int[] Ids, bool[] Mask) RenderChat(ChatExample example)
    {
        if (template is null) throw new InvalidOperationException($"{example.Source}: chat examples need the model's chat template, and none was given");
        var rendering = template.RenderConversation(example.MessagesToJson(Data.ChatJsonOptions.Template), example.ToolsToJson());
        string text = rendering.Text;
        var spans = TrainedSpans(example, rendering).Select(s => ExtendOverEndOfTurn(text, s)).ToList();

        var encoded = tokenizer.EncodeWithOffsets(text, addSpecialTokens: false);
        var mask = new bool[encoded.Ids.Length];
        for (int t = 0; t < mask.Length; t++)
        {
            var (start, end) = encoded.Offsets[t];
            foreach (var (s, e) in spans)
                if (start < e && end > s) { mask[t] = true; break; }
        }
        return (encoded.Ids, mask);
    }

    private IEnumerable<(int Start, int End)> TrainedSpans(ChatExample example, ChatRendering rendering)
    {
        if (options.TrainOn == LossScope.All) return [(0, rendering.Text.Length)];

        var assistantMessages = Enumerable.Range(0, example.Messages.Count).Where(i => example.Messages[i].Role == ChatRoles.Assistant).ToList();
        var spans = rendering.AssistantSpans;
        bool allTrainable = assistantMessages.All(i => example.Messages[i].IsTrainable);
        if (spans.Count != assistantMessages.Count)
        {
            // Templates with {% generation %} may mark other pieces than one per message; that is only usable when
            // every assistant message is trained anyway.
            if (allTrainable && options.TrainOn == LossScope.Assistant) return spans;
            throw new InvalidOperationException(
                $"{example.Source}: the chat template marks {spans.Count} assistant spans for {assistantMessages.Count} assistant messages, " +
                "so per-message weights or train_on: last_assistant cannot be applied");
        }
        var trained = Enumerable.Range(0, spans.Count).Where(k => example.Messages[assistantMessages[k]].IsTrainable).ToList();
        if (options.TrainOn == LossScope.LastAssistant && trained.Count > 0) trained = [trained[^1]];
        return trained.Select(k => spans[k]);
    }

    /// <summary>
    /// Extends a span over the end-of-turn special token right after it (spaces and tabs may come between), unless the
    /// span already ends with a special token (a {% generation %} block that holds its own end-of-turn: what follows it
    /// is the next turn's start, e.g. &lt;|im_start|&gt;, which is not the model's to write).
    /// </summary>
    private (int Start, int End) ExtendOverEndOfTurn(string text, (int Start, int End) span)
    {
        int last = span.End;
        while (last > span.Start && char.IsWhiteSpace(text[last - 1])) last--;
        foreach (var special in _specialTexts)
            if (last - span.Start >= special.Length && string.CompareOrdinal(text, last - special.Length, special, 0, special.Length) == 0)
                return span;
        int i = span.End;
        while (i < text.Length && text[i] is ' ' or '\t') i++;
        foreach (var special in _specialTexts)
            if (string.CompareOrdinal(text, i, special, 0, special.Length) == 0)
                return (span.Start, i + special.Length);
        return span;
    }
}
