using System.Runtime.CompilerServices;
namespace Scalpel.Data;

/// <summary>
/// Where a message's fields live in the original record, for error paths: (message index, sub-field such as
/// ".content", ".role", ".tool_calls[0].function.name") → path. Formats whose messages are not a list of objects
/// (Alpaca's output, ShareGPT's value) map them to their own fields.
/// </summary>
internal delegate string MessagePath(int index, string subField);

/// <summary>The tools an example declares.</summary>
internal sealed class ToolSet
{
    public static readonly ToolSet None = new(false, []);
    public ToolSet(bool declared, List<string> ordered, HashSet<string>? names = null)
    {
        Declared = declared;
        Ordered = ordered;
        Names = names ?? new HashSet<string>(ordered, StringComparer.Ordinal);
    }
    public bool Declared { get; }
    public HashSet<string> Names { get; }
    /// <summary>The names in declaration order.</summary>
    public List<string> Ordered { get; }
}

/// <summary>The rules a conversation must follow to be trainable, whatever format it was read from.</summary>
internal static class ChatRules
{
    /// <param name="reportFrom">Messages before this index were already checked (a preference prompt shared by both answers).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Check(IReadOnlyList<ChatMessage> messages, ToolSet tools, bool? parallelToolCalls, MessagePath path,
                             string listField, RecordContext ctx, bool requireTrainable, int reportFrom = 0)
    {
        bool seenConversation = false, anyTrainable = false, warnedNoTools = false;
        HashSet<string>? pendingIds = null;
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            bool report = i >= reportFrom;
            bool hasCalls = m.ToolCalls is { Count: > 0 };
            if (ChatRoles.IsInstruction(m.Role))
            {
                if (seenConversation && report)
                    ctx.Error(path(i, ".role"), IssueCodes.MisplacedRole,
                        $"a {m.Role} message after the conversation started: move {m.Role} messages to the start (chat templates only place them there)");
            }
            else seenConversation = true;

            if (m.Role != ChatRoles.Assistant && report)
            {
                if (hasCalls)
                    ctx.Error(path(i, ".tool_calls"), IssueCodes.MisplacedField, $"tool_calls on a {m.Role} message: only assistant messages call tools");
                if (m.Weight is not null)
                    ctx.Error(path(i, ".weight"), IssueCodes.MisplacedField, $"weight on a {m.Role} message: only assistant messages are trained on, remove it");
            }

            if (m.Role == ChatRoles.Tool)
            {
                var prev = i > 0 ? messages[i - 1] : null;
                bool follows = prev is not null && (prev.Role == ChatRoles.Tool || (prev.Role == ChatRoles.Assistant && prev.ToolCalls is { Count: > 0 }));
                if (!follows)
                {
                    if (report)
                        ctx.Error(path(i, ".role"), IssueCodes.MisplacedRole,
                            "a tool message must follow the assistant message whose tool_calls it answers: add the call, or make this a user message");
                }
                else if (pendingIds is not null && report)
                {
                    if (m.ToolCallId is null)
                        ctx.Error(path(i, ".tool_call_id"), IssueCodes.MissingField,
                            $"the tool result has no tool_call_id: set it to the id of the call it answers ({string.Join(", ", pendingIds.Order(StringComparer.Ordinal))})");
                    else if (!pendingIds.Contains(m.ToolCallId))
                        ctx.Error(path(i, ".tool_call_id"), IssueCodes.ToolCallIdMismatch,
                            $"tool_call_id '{m.ToolCallId}' answers no call of the assistant message before it (ids: {string.Join(", ", pendingIds.Order(StringComparer.Ordinal))}): use one of those");
                }
            }

            bool empty = string.IsNullOrWhiteSpace(m.Content);
            if (report && empty)
            {
                if (m.Role == ChatRoles.Assistant && !hasCalls)
                    ctx.Error(path(i, ".content"), IssueCodes.EmptyContent, "the assistant message has no content and no tool_calls: write the answer, or drop the message");
                else if (m.Role is ChatRoles.User or ChatRoles.System or ChatRoles.Developer)
                    ctx.Error(path(i, ".content"), IssueCodes.EmptyContent, $"the {m.Role} message is empty: write its text, or drop the message");
            }

            if (m.Role == ChatRoles.Assistant && hasCalls)
            {
                var calls = m.ToolCalls!;
                pendingIds = calls.All(c => c.Id is not null) ? calls.Select(c => c.Id!).ToHashSet(StringComparer.Ordinal) : null;
                if (parallelToolCalls == false && calls.Count > 1 && report)
                    ctx.Error(path(i, ".tool_calls"), IssueCodes.ParallelToolCallsDisabled,
                        $"{calls.Count} tool calls in one message while parallel_tool_calls is false: split them into separate turns, or set parallel_tool_calls to true");
                for (int j = 0; j < calls.Count && report; j++)
                {
                    string name = calls[j].Name;
                    if (tools.Declared)
                    {
                        if (!tools.Names.Contains(name))
                            ctx.Error(path(i, $".tool_calls[{j}].function.name"), IssueCodes.ToolCallUnknownTool,
                                $"the call names '{name}', which the example's tools do not declare ({DeclaredList(tools)}): fix the name or add the tool");
                    }
                    else if (!warnedNoTools)
                    {
                        warnedNoTools = true;
                        ctx.Warn(path(i, $".tool_calls[{j}].function.name"), IssueCodes.ToolsMissing,
                            $"the example calls '{name}' but declares no tools: add a tools list so the template can show the model what it may call");
                    }
                }
            }
            else if (m.Role != ChatRoles.Tool) pendingIds = null;

            if (m.IsTrainable) anyTrainable = true;   // an empty one is reported as empty_content
        }
        if (requireTrainable && !anyTrainable && messages.Count > 0)
            ctx.Error(listField, IssueCodes.NoTrainableAssistant,
                messages.Any(m => m.Role == ChatRoles.Assistant)
                    ? "every assistant message has weight 0, so nothing is trained on: set weight 1 on the answers to learn"
                    : "the conversation has no assistant message, so nothing is trained on: add the answer");
    }

    private static string DeclaredList(ToolSet tools)
    {
        if (tools.Names.Count == 0) return "none";
        var names = tools.Names.Order(StringComparer.Ordinal).Take(8).ToList();
        return string.Join(", ", names) + (tools.Names.Count > names.Count ? ", …" : "");
    }
}
