namespace Scalpel.Data;

/// <summary>The record formats Scalpel reads. Every one converts to <see cref="ChatExample"/>, <see cref="PreferenceExample"/> or <see cref="TextExample"/>.</summary>
public enum DataFormat
{
    /// <summary>OpenAI chat: <c>messages</c> (+ <c>tools</c>, <c>parallel_tool_calls</c>, per-message <c>weight</c>).</summary>
    OpenAiChat,
    /// <summary>OpenAI preference (DPO): <c>input</c> {messages, tools}, <c>preferred_output</c>, <c>non_preferred_output</c>.</summary>
    OpenAiPreference,
    /// <summary>Alpaca: <c>instruction</c>, <c>input</c>, <c>output</c>, optional <c>system</c> and <c>history</c> ([[instruction, output], ...]).</summary>
    Alpaca,
    /// <summary>ShareGPT: <c>conversations</c> of {from, value}, optional <c>system</c> and <c>tools</c>.</summary>
    ShareGpt,
    /// <summary>Prompt/completion pairs (strings, or TRL's conversational message lists).</summary>
    PromptCompletion,
    /// <summary>Plain text (<c>text</c>) for continued pretraining.</summary>
    Text,
    /// <summary>TRL preference: <c>prompt</c> (optional when implicit), <c>chosen</c>, <c>rejected</c> (strings or message lists).</summary>
    TrlPreference,
}

/// <summary>How records are stored in the file.</summary>
public enum DataContainer
{
    Jsonl,
    JsonArray,
    Csv,
    Tsv,
}

public static class DataFormats
{
    /// <summary>The name used on the command line and in reports.</summary>
    public static string Name(this DataFormat format) => format switch
    {
        DataFormat.OpenAiChat => "openai-chat",
        DataFormat.OpenAiPreference => "openai-preference",
        DataFormat.Alpaca => "alpaca",
        DataFormat.ShareGpt => "sharegpt",
        DataFormat.PromptCompletion => "prompt-completion",
        DataFormat.Text => "text",
        DataFormat.TrlPreference => "trl-preference",
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static string Name(this DataContainer container) => container switch
    {
        DataContainer.Jsonl => "jsonl",
        DataContainer.JsonArray => "json-array",
        DataContainer.Csv => "csv",
        DataContainer.Tsv => "tsv",
        _ => throw new ArgumentOutOfRangeException(nameof(container)),
    };

    public static IReadOnlyList<string> AllNames { get; } = Enum.GetValues<DataFormat>().Select(f => f.Name()).ToArray();

    /// <summary>Parses a format name (also a few common aliases: chat, messages, dpo, preference, completion, pretraining).</summary>
    public static bool TryParse(string name, out DataFormat format)
    {
        DataFormat? f = name.Trim().ToLowerInvariant() switch
        {
            "openai-chat" or "openai" or "chat" or "messages" => DataFormat.OpenAiChat,
            "openai-preference" or "openai-dpo" => DataFormat.OpenAiPreference,
            "alpaca" => DataFormat.Alpaca,
            "sharegpt" => DataFormat.ShareGpt,
            "prompt-completion" or "completion" => DataFormat.PromptCompletion,
            "text" or "pretraining" => DataFormat.Text,
            "trl-preference" or "preference" or "dpo" => DataFormat.TrlPreference,
            _ => null,
        };
        format = f ?? default;
        return f is not null;
    }

    public static bool TryParseContainer(string name, out DataContainer container)
    {
        DataContainer? c = name.Trim().ToLowerInvariant() switch
        {
            "jsonl" or "ndjson" => DataContainer.Jsonl,
            "json" or "json-array" => DataContainer.JsonArray,
            "csv" => DataContainer.Csv,
            "tsv" => DataContainer.Tsv,
            _ => null,
        };
        container = c ?? default;
        return c is not null;
    }

    /// <summary>True for the formats whose examples are <see cref="PreferenceExample"/>.</summary>
    public static bool IsPreference(this DataFormat format) => format is DataFormat.OpenAiPreference or DataFormat.TrlPreference;
}
