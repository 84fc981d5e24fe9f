using System.Text.Json.Nodes;
using Scalpel.Data;

namespace Scalpel.Evaluation;

/// <summary>
/// One test (or training) conversation split into what the model is shown and the answer it should give: the final
/// assistant message is the reference (its text, or its tool calls), everything before it is the prompt.
/// </summary>
public sealed record EvalExample(
    int Index,
    SourceLocation Source,
    JsonArray PromptMessages,
    string Reference,
    JsonArray? ReferenceToolCalls,
    JsonArray? Tools)
{
    /// <summary>The prompt's user-visible text (non-system messages), for retrieval and for reports.</summary>
    public string QueryText => string.Join("\n", PromptMessages.OfType<JsonObject>()
        .Where(m => (string?)m["role"] is not ("system" or "developer"))
        .Select(m => m["content"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : m["content"]?.ToJsonString() ?? ""));

    /// <summary>The prompt messages without system/developer messages (for demonstrations and for a replaced system prompt).</summary>
    public IEnumerable<JsonObject> DialogueMessages => PromptMessages.OfType<JsonObject>()
        .Where(m => (string?)m["role"] is not ("system" or "developer"));

    public JsonObject ReferenceMessage
    {
        get
        {
            var message = new JsonObject { ["role"] = "assistant", ["content"] = Reference };
            if (ReferenceToolCalls is not null) message["tool_calls"] = ReferenceToolCalls.DeepClone();
            return message;
        }
    }

    /// <summary>
    /// Reads a dataset as eval examples. Every record must be a conversation ending with an assistant message; the
    /// error names the file and line of the first that does not.
    /// </summary>
    public static List<EvalExample> Read(string path, int? limit = null)
    {
        var list = new List<EvalExample>();
        foreach (var example in DatasetReader.ReadExamples(path))
        {
            if (limit is { } max && list.Count >= max) break;
            if (example is not ChatExample chat)
                throw new EvalSuiteException($"{example.Source}: an eval example must be a conversation (chat, instruction or prompt/completion), not {example.Format}");
            int last = chat.Messages.Count - 1;
            if (last < 1 || chat.Messages[last].Role != ChatRoles.Assistant)
                throw new EvalSuiteException($"{example.Source}: messages: the last message must be the assistant's reference answer");
            var final = chat.Messages[last];
            JsonArray? toolCalls = final.ToolCalls is { Count: > 0 } calls
                ? new JsonArray([.. calls.Select(c => (JsonNode)c.ToJson())]) : null;
            list.Add(new EvalExample(list.Count, chat.Source, chat.MessagesToJson(count: last), final.Content ?? "", toolCalls,
                chat.Tools?.DeepClone().AsArray()));
        }
        if (list.Count == 0) throw new EvalSuiteException($"{path}: no examples");
        return list;
    }
}
