using Scalpel.Generation.Constraints;

namespace Scalpel.Generation;

/// <summary>Why a sequence ended, with OpenAI's names: a stop token or stop string ("stop"), or max tokens ("length").</summary>
public enum FinishReason
{
    Stop,
    Length,
    /// <summary>The caller gave up (its cancellation token fired); never reported to clients.</summary>
    Cancelled,
}

/// <summary>One prompt to continue and how.</summary>
public sealed record GenerationRequest
{
    /// <summary>The prompt as token ids (already rendered with the chat template when it is a conversation).</summary>
    public required int[] PromptIds { get; init; }
    public int MaxNewTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>Text that ends the output when it appears; the output is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Makes the constraint that output must obey (a fresh one per request); null = free text.</summary>
    public Func<ITokenConstraint>? Constraint { get; init; }
    /// <summary>Return the log-probability of each chosen token and this many alternatives (0 = none).</summary>
    public int TopLogprobs { get; init; }
    public bool Logprobs { get; init; }
    /// <summary>Ends the sequence at the next step when cancelled (a client that went away).</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>A detached adapter for this request only (several requests in one batch may use different ones); null = the model as it is.</summary>
    public Models.AdapterWeights? Adapter { get; init; }
    /// <summary>Called with each piece of text as soon as it is certain (never inside a stop string or a split character).</summary>
    public Action<string>? OnText { get; init; }
}

/// <summary>Log-probability of one generated token under the model (before sampling filters), with the top alternatives.</summary>
public sealed record TokenLogprob(int Token, float Logprob, IReadOnlyList<(int Token, float Logprob)> Top);

public sealed record GenerationResult(
    int[] Tokens,
    string Text,
    FinishReason FinishReason,
    int PromptTokens,
    IReadOnlyList<TokenLogprob>? Logprobs)
{
    public int CompletionTokens => Tokens.Length;
}
