using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Data;

internal sealed partial class RecordParser
{
    // ---------------------------------------------------------------- OpenAI preference

    private PreferenceExample? ParseOpenAiPreference(JsonElement root, SourceLocation source)
    {
        List<ChatMessage>? prompt = null;
        ToolSet? tools = ToolSet.None;
        JsonArray? toolArray = null;
        byte[]? toolsUtf8 = null;
        bool? parallel = null;
        if (Required(root, "input", "add \"input\": {\"messages\": [...]}", out var input))
        {
            if (input.ValueKind != JsonValueKind.Object)
                ctx.WrongType("input", input, "an object", "write {\"messages\": [...], \"tools\": [...]}");
            else
            {
                if (input.TryGetProperty("messages", out var list)) prompt = ParseMessages(list, "input.messages");
                else ctx.Error("input.messages", IssueCodes.MissingField, "the input has no messages: add \"messages\": [{\"role\": \"user\", ...}]");
                if (input.TryGetProperty("tools", out var t) && t.ValueKind != JsonValueKind.Null) tools = ParseTools(t, "input.tools", out toolArray, out toolsUtf8, lenient: false);
                parallel = ParseParallel(input, "parallel_tool_calls", "input.parallel_tool_calls");
            }
        }
        var chosen = ParseAnswer(root, "preferred_output");
        var rejected = ParseAnswer(root, "non_preferred_output");
        if (prompt is null || chosen is null || rejected is null || tools is null) return null;

        int n = prompt.Count;
        ChatRules.Check([.. prompt, .. chosen], tools, parallel,
            (i, sub) => i < n ? $"input.messages[{i}]{sub}" : $"preferred_output[{i - n}]{sub}", "preferred_output", ctx, requireTrainable: true);
        ChatRules.Check([.. prompt, .. rejected], tools, parallel,
            (i, sub) => i < n ? $"input.messages[{i}]{sub}" : $"non_preferred_output[{i - n}]{sub}", "non_preferred_output", ctx,
            requireTrainable: true, reportFrom: n);
        WarnIfIdentical(chosen, rejected, "non_preferred_output");
        return new PreferenceExample
        {
            Format = DataFormat.OpenAiPreference, Source = source, Prompt = prompt, Chosen = chosen, Rejected = rejected,
            Tools = toolArray, ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered, ParallelToolCalls = parallel,
        };
    }

    private List<ChatMessage>? ParseAnswer(JsonElement root, string field)
    {
        if (!Required(root, field, $"add \"{field}\": [{{\"role\": \"assistant\", \"content\": \"...\"}}]", out var v)) return null;
        var messages = ParseMessages(v, field);
        if (messages is null) return null;
        bool ok = true;
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role == ChatRoles.Assistant) continue;
            ctx.Error($"{field}[{i}].role", IssueCodes.MisplacedRole, $"{field} must hold only assistant messages, found a {messages[i].Role} message: move it into the input");
            ok = false;
        }
        return ok ? messages : null;
    }

    private bool? ParseParallel(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        ctx.WrongType(path, v, "true or false", "write parallel_tool_calls as a JSON boolean");
        return null;
    }

    private void WarnIfIdentical(IReadOnlyList<ChatMessage> chosen, IReadOnlyList<ChatMessage> rejected, string field)
    {
        if (chosen.Count != rejected.Count) return;
        for (int i = 0; i < chosen.Count; i++)
            if (chosen[i].Content != rejected[i].Content || chosen[i].ToolCalls?.Count != rejected[i].ToolCalls?.Count) return;
        ctx.Warn(field, IssueCodes.IdenticalPreference, "the chosen and rejected answers are the same, so the pair teaches nothing: fix or drop it");
    }

    // ---------------------------------------------------------------- TRL preference

    private PreferenceExample? ParseTrlPreference(JsonElement root, SourceLocation source)
    {
        bool hasPrompt = root.TryGetProperty("prompt", out var promptValue) && promptValue.ValueKind != JsonValueKind.Null;
        bool hasChosen = Required(root, "chosen", "add the preferred answer as \"chosen\"", out var chosenValue);
        bool hasRejected = Required(root, "rejected", "add the worse answer as \"rejected\"", out var rejectedValue);
        var tools = ParseToolsField(root, "tools", out var toolArray, out var toolsUtf8);
        if (!hasChosen || !hasRejected || tools is null) return null;

        List<ChatMessage>? prompt, chosen, rejected;
        int offset = 0;   // index of chosen[0]/rejected[0] in the original lists (implicit prompt)
        bool conversational;
        if (hasPrompt && promptValue.ValueKind == JsonValueKind.String)
        {
            conversational = false;
            bool ok = ctx.TryString(promptValue, "prompt", out var p);
            ok &= StringAnswer(chosenValue, "chosen", out var c);
            ok &= StringAnswer(rejectedValue, "rejected", out var r);
            if (!ok) return null;
            prompt = [new ChatMessage { Role = ChatRoles.User, Content = p }];
            chosen = [new ChatMessage { Role = ChatRoles.Assistant, Content = c }];
            rejected = [new ChatMessage { Role = ChatRoles.Assistant, Content = r }];
        }
        else if (hasPrompt)
        {
            conversational = true;
            prompt = ParseMessages(promptValue, "prompt");
            chosen = ListAnswer(chosenValue, "chosen");
            rejected = ListAnswer(rejectedValue, "rejected");
            if (prompt is null || chosen is null || rejected is null) return null;
        }
        else
        {
            if (chosenValue.ValueKind == JsonValueKind.String)
            {
                ctx.Error("prompt", IssueCodes.MissingField, "chosen/rejected are plain strings but there is no prompt: add \"prompt\"");
                return null;
            }
            conversational = true;
            var c = ListAnswer(chosenValue, "chosen");
            var r = ListAnswer(rejectedValue, "rejected");
            if (c is null || r is null) return null;
            // Implicit prompt: the messages both conversations share.
            int common = 0;
            while (common < c.Count && common < r.Count && SameMessage(c[common], r[common])) common++;
            if (common == c.Count || common == r.Count) common = Math.Max(0, Math.Min(c.Count, r.Count) - 1);
            prompt = c[..common];
            chosen = c[common..];
            rejected = r[common..];
            offset = common;
            for (int i = 0; i < chosen.Count; i++)
                if (chosen[i].Role != ChatRoles.Assistant)
                {
                    ctx.Error($"chosen[{i + offset}].role", IssueCodes.MisplacedRole,
                        "chosen and rejected must share the prompt and differ only in assistant messages: make the conversations the same up to the answer");
                    return null;
                }
        }

        int n = prompt.Count;
        string PromptPath(int i, string sub) => conversational ? $"prompt[{i}]{sub}" : "prompt";
        MessagePath chosenPath = (i, sub) => i < n ? (hasPrompt ? PromptPath(i, sub) : $"chosen[{i}]{sub}") : conversational ? $"chosen[{i - n + offset}]{sub}" : "chosen";
        MessagePath rejectedPath = (i, sub) => i < n ? (hasPrompt ? PromptPath(i, sub) : $"rejected[{i}]{sub}") : conversational ? $"rejected[{i - n + offset}]{sub}" : "rejected";
        ChatRules.Check([.. prompt, .. chosen], tools, null, chosenPath, "chosen", ctx, requireTrainable: true);
        ChatRules.Check([.. prompt, .. rejected], tools, null, rejectedPath, "rejected", ctx, requireTrainable: true, reportFrom: n);
        WarnIfIdentical(chosen, rejected, "rejected");
        return new PreferenceExample
        {
            Format = DataFormat.TrlPreference, Source = source, Prompt = prompt, Chosen = chosen, Rejected = rejected, Tools = toolArray,
            ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered,
        };
    }

    private static bool SameMessage(ChatMessage a, ChatMessage b) => a.Role == b.Role && a.Content == b.Content && a.ToolCalls is null && b.ToolCalls is null;

    private bool StringAnswer(JsonElement v, string field, out string text)
    {
        text = "";
        if (v.ValueKind == JsonValueKind.Array)
        {
            ctx.Error(field, IssueCodes.WrongType, $"the prompt is a string but {field} is a message list: use strings for all three, or message lists for all three");
            return false;
        }
        return ctx.TryString(v, field, out text);
    }

    private List<ChatMessage>? ListAnswer(JsonElement v, string field)
    {
        if (v.ValueKind == JsonValueKind.String)
        {
            ctx.Error(field, IssueCodes.WrongType, $"the prompt is a message list but {field} is a string: write it as [{{\"role\": \"assistant\", \"content\": ...}}]");
            return null;
        }
        return ParseMessages(v, field);
    }

    // ---------------------------------------------------------------- Alpaca

    private ChatExample? ParseAlpaca(JsonElement root, SourceLocation source)
    {
        bool ok = true;
        string instruction = "", output = "";
        string? input = null, system = null;
        if (Required(root, "instruction", "add the task as \"instruction\"", out var v)) ok &= ctx.TryString(v, "instruction", out instruction);
        else ok = false;
        if (Required(root, "output", "add the expected answer as \"output\"", out v)) ok &= ctx.TryString(v, "output", out output);
        else ok = false;
        if (root.TryGetProperty("input", out v)) ok &= ctx.TryOptionalString(v, "input", out input);
        if (root.TryGetProperty("system", out v)) ok &= ctx.TryOptionalString(v, "system", out system);
        var history = new List<(string, string)>();
        if (root.TryGetProperty("history", out v) && v.ValueKind != JsonValueKind.Null)
        {
            if (v.ValueKind != JsonValueKind.Array)
            {
                ctx.WrongType("history", v, "a list of [instruction, answer] pairs", "write [[\"question\", \"answer\"], ...]");
                ok = false;
            }
            else
            {
                int k = 0;
                foreach (var pair in v.EnumerateArray())
                {
                    string hp = $"history[{k++}]";
                    if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
                    {
                        ctx.WrongType(hp, pair, "an [instruction, answer] pair", "write [\"question\", \"answer\"]");
                        ok = false;
                        continue;
                    }
                    bool pairOk = ctx.TryString(pair[0], hp + "[0]", out var q);
                    pairOk &= ctx.TryString(pair[1], hp + "[1]", out var a);
                    if (pairOk) history.Add((q, a));
                    else ok = false;
                }
            }
        }
        if (!ok) return null;

        var messages = new List<ChatMessage>(history.Count * 2 + 3);
        bool hasSystem = !string.IsNullOrEmpty(system);
        if (hasSystem) messages.Add(new ChatMessage { Role = ChatRoles.System, Content = system });
        foreach (var (q, a) in history)
        {
            messages.Add(new ChatMessage { Role = ChatRoles.User, Content = q });
            messages.Add(new ChatMessage { Role = ChatRoles.Assistant, Content = a });
        }
        // As LLaMA-Factory joins them: instruction, then the input on the next line.
        string user = string.IsNullOrEmpty(input) ? instruction : instruction.Length == 0 ? input : instruction + "\n" + input;
        messages.Add(new ChatMessage { Role = ChatRoles.User, Content = user });
        messages.Add(new ChatMessage { Role = ChatRoles.Assistant, Content = output });
        int first = hasSystem ? 1 : 0, h = history.Count;
        ChatRules.Check(messages, ToolSet.None, null, (i, _) =>
        {
            if (i < first) return "system";
            int j = i - first;
            return j < 2 * h ? $"history[{j / 2}][{j % 2}]" : j == 2 * h ? "instruction" : "output";
        }, "output", ctx, requireTrainable: true);
        return new ChatExample { Format = DataFormat.Alpaca, Source = source, Messages = messages };
    }

    // ---------------------------------------------------------------- ShareGPT

    private ChatExample? ParseShareGpt(JsonElement root, SourceLocation source)
    {
        if (!Required(root, "conversations", "add \"conversations\": [{\"from\": \"human\", \"value\": ...}, ...]", out var list)) return null;
        bool ok = true;
        string? system = null;
        if (root.TryGetProperty("system", out var s)) ok &= ctx.TryOptionalString(s, "system", out system);
        var tools = ParseToolsField(root, "tools", out var toolArray, out var toolsUtf8, lenient: true);
        if (list.ValueKind != JsonValueKind.Array)
        {
            ctx.WrongType("conversations", list, "a list of turns", "write [{\"from\": \"human\", \"value\": ...}, {\"from\": \"gpt\", \"value\": ...}]");
            return null;
        }
        if (list.GetArrayLength() == 0)
        {
            ctx.Error("conversations", IssueCodes.EmptyMessages, "the conversation is empty: add the turns, or drop the record");
            return null;
        }
        var messages = new List<ChatMessage>(list.GetArrayLength() + 1);
        var index = new List<int>(list.GetArrayLength() + 1);   // message → conversations index (-1: the system field)
        if (!string.IsNullOrEmpty(system))
        {
            messages.Add(new ChatMessage { Role = ChatRoles.System, Content = system });
            index.Add(-1);
        }
        var pendingIds = new Queue<string>();
        int callCount = 0, k = 0;
        foreach (var turn in list.EnumerateArray())
        {
            string tp = $"conversations[{k}]";
            int turnIndex = k++;
            if (turn.ValueKind != JsonValueKind.Object)
            {
                ctx.WrongType(tp, turn, "a turn object", "write {\"from\": \"human\", \"value\": \"...\"}");
                ok = false;
                continue;
            }
            bool roleKey = turn.TryGetProperty("from", out var from);
            string roleField = roleKey ? "from" : "role";
            if (!roleKey && !turn.TryGetProperty("role", out from))
            {
                ctx.Error(tp + ".from", IssueCodes.MissingField, "the turn has no 'from': add \"from\": \"human\" (or gpt, system, function_call, observation)");
                ok = false;
                continue;
            }
            bool valueKey = turn.TryGetProperty("value", out var value);
            string valueField = valueKey ? "value" : "content";
            if (!valueKey && !turn.TryGetProperty("content", out value))
            {
                ctx.Error(tp + ".value", IssueCodes.MissingField, "the turn has no 'value': add its text");
                ok = false;
                continue;
            }
            if (!ctx.TryString(from, $"{tp}.{roleField}", out var fromName)) { ok = false; continue; }
            if (!ctx.TryString(value, $"{tp}.{valueField}", out var text)) { ok = false; continue; }
            string? role = ShareGptRole(fromName);
            if (role is null)
            {
                ctx.Error($"{tp}.{roleField}", IssueCodes.UnknownRole,
                    $"'{fromName}' is not a ShareGPT role: use human, gpt, system, function_call or observation (or user, assistant, tool)");
                ok = false;
                continue;
            }
            if (role == "function_call")
            {
                var calls = ParseShareGptCalls(text, $"{tp}.{valueField}", ref callCount);
                if (calls is null) { ok = false; continue; }
                foreach (var c in calls) pendingIds.Enqueue(c.Id!);
                messages.Add(new ChatMessage { Role = ChatRoles.Assistant, ToolCalls = calls });
            }
            else if (role == ChatRoles.Tool)
                messages.Add(new ChatMessage { Role = ChatRoles.Tool, Content = text, ToolCallId = pendingIds.Count > 0 ? pendingIds.Dequeue() : null });
            else
            {
                if (role != ChatRoles.Tool) pendingIds.Clear();
                messages.Add(new ChatMessage { Role = role, Content = text });
            }
            index.Add(turnIndex);
        }
        if (!ok || tools is null) return null;
        ChatRules.Check(messages, tools, null, (i, sub) =>
        {
            int t = index[i];
            if (t < 0) return "system";
            string b = $"conversations[{t}]";
            return sub switch
            {
                ".content" => b + ".value",
                ".role" => b + ".from",
                _ when sub.StartsWith(".tool_calls", StringComparison.Ordinal) => b + ".value",
                ".tool_call_id" => b,
                _ => b + sub,
            };
        }, "conversations", ctx, requireTrainable: true);
        return new ChatExample { Format = DataFormat.ShareGpt, Source = source, Messages = messages, Tools = toolArray, ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered };
    }

    private static string? ShareGptRole(string from) => from.Trim().ToLowerInvariant() switch
    {
        "human" or "user" => ChatRoles.User,
        "gpt" or "assistant" or "model" or "chatgpt" or "bard" or "bing" => ChatRoles.Assistant,
        "system" => ChatRoles.System,
        "function_call" or "tool_call" or "tool_calls" => "function_call",
        "observation" or "tool" or "function_response" or "function" or "tool_response" or "ipython" => ChatRoles.Tool,
        _ => null,
    };

    /// <summary>A function_call turn's value: {"name", "arguments"} or a list of them, as JSON text. Ids are generated (call_N).</summary>
    private List<ToolCall>? ParseShareGptCalls(string text, string path, ref int callCount)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, _argumentOptions); }
        catch (JsonException e)
        {
            ctx.Error(path, IssueCodes.ToolCallInvalidJson,
                $"the function_call value is not valid JSON ({JsonErrors.Describe(e)}): write {{\"name\": ..., \"arguments\": {{...}}}} as JSON text");
            return null;
        }
        using (doc)
        {
            var root = doc.RootElement;
            var items = root.ValueKind == JsonValueKind.Array ? root.EnumerateArray().ToList() : [root];
            var calls = new List<ToolCall>(items.Count);
            bool ok = true;
            foreach (var item in items)
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    ctx.Error(path, IssueCodes.ToolCallInvalidJson, $"a function call must be an object {{\"name\": ..., \"arguments\": {{...}}}}, got {RecordContext.Kind(item.ValueKind)}");
                    ok = false;
                    continue;
                }
                var function = item.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object ? f : item;
                int before = ctx.Errors.Count;
                var (name, arguments) = ParseFunction(function, path);
                // Error paths inside the value string all point at the value itself.
                for (int e = before; e < ctx.Errors.Count; e++) ctx.Errors[e] = ctx.Errors[e] with { Field = path };
                if (name is null || arguments is null) { ok = false; continue; }
                calls.Add(new ToolCall { Id = $"call_{callCount++}", Name = name, Arguments = arguments });
            }
            return ok ? calls : null;
        }
    }

    // ---------------------------------------------------------------- prompt / completion

    private ChatExample? ParsePromptCompletion(JsonElement root, SourceLocation source)
    {
        bool hasPrompt = Required(root, "prompt", "add the input as \"prompt\"", out var promptValue);
        bool hasCompletion = Required(root, "completion", "add the expected output as \"completion\"", out var completionValue);
        if (!hasPrompt || !hasCompletion) return null;
        var tools = ParseToolsField(root, "tools", out var toolArray, out var toolsUtf8);
        if (tools is null) return null;
        if (promptValue.ValueKind == JsonValueKind.Array || completionValue.ValueKind == JsonValueKind.Array)
        {
            var prompt = promptValue.ValueKind == JsonValueKind.Array ? ParseMessages(promptValue, "prompt") : null;
            var completion = completionValue.ValueKind == JsonValueKind.Array ? ParseMessages(completionValue, "completion") : null;
            if (promptValue.ValueKind != JsonValueKind.Array)
                ctx.Error("prompt", IssueCodes.WrongType, "the completion is a message list but the prompt is not: use message lists for both, or strings for both");
            if (completionValue.ValueKind != JsonValueKind.Array)
                ctx.Error("completion", IssueCodes.WrongType, "the prompt is a message list but the completion is not: use message lists for both, or strings for both");
            if (prompt is null || completion is null) return null;
            int n = prompt.Count;
            List<ChatMessage> messages = [.. prompt, .. completion];
            ChatRules.Check(messages, tools, null, (i, sub) => i < n ? $"prompt[{i}]{sub}" : $"completion[{i - n}]{sub}", "completion", ctx, requireTrainable: true);
            return new ChatExample { Format = DataFormat.PromptCompletion, Source = source, Messages = messages, Tools = toolArray, ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered };
        }
        bool ok = ctx.TryString(promptValue, "prompt", out var p);
        ok &= ctx.TryString(completionValue, "completion", out var c);
        if (!ok) return null;
        List<ChatMessage> pair =
        [
            new ChatMessage { Role = ChatRoles.User, Content = p },
            new ChatMessage { Role = ChatRoles.Assistant, Content = c },
        ];
        ChatRules.Check(pair, tools, null, (i, _) => i == 0 ? "prompt" : "completion", "completion", ctx, requireTrainable: true);
        return new ChatExample { Format = DataFormat.PromptCompletion, Source = source, Messages = pair, Tools = toolArray, ToolsUtf8 = toolsUtf8, ToolNames = tools.Ordered };
    }

    // ---------------------------------------------------------------- text

    private TextExample? ParseText(JsonElement root, SourceLocation source)
    {
        if (!Required(root, "text", "add the document as \"text\"", out var v)) return null;
        if (!ctx.TryString(v, "text", out var text)) return null;
        if (string.IsNullOrWhiteSpace(text))
        {
            ctx.Error("text", IssueCodes.EmptyContent, "the text is empty: drop the record");
            return null;
        }
        return new TextExample { Format = DataFormat.Text, Source = source, Text = text };
    }
}
