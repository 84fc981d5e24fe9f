namespace Scalpel.Data;

/// <summary>What duplicate, leakage and label checks need of one example.</summary>
internal struct ExampleFeatures
{
    /// <summary>Hash of the whole example, normalised (lower case, whitespace collapsed).</summary>
    public ulong Exact;
    /// <summary>Hash of the prompt (everything before the answer); 0 when the example has none (plain text).</summary>
    public ulong Prompt;
    public bool HasSignature;
    /// <summary>The answer text (last trained assistant message; the chosen answer of a pair); null for plain text.</summary>
    public string? Answer;
    public int AnswerWords;
    public long Chars;
    public int Words;
}

/// <summary>Computes <see cref="ExampleFeatures"/> with one reusable <see cref="TextFingerprinter"/>.</summary>
internal sealed class FeatureExtractor
{
    private readonly TextFingerprinter _fp = new();

    public ReadOnlySpan<uint> Signature => _fp.Signature;

    public ExampleFeatures Extract(Example example)
    {
        _fp.Begin();
        var f = new ExampleFeatures();
        switch (example)
        {
            case ChatExample chat:
            {
                int answer = LastTrainable(chat.Messages);
                AddToolNames(chat.Tools);
                for (int i = 0; i < chat.Messages.Count; i++)
                {
                    if (i == answer) f.Prompt = _fp.ExactHash;
                    f.Chars += AddMessage(chat.Messages[i], "");
                }
                if (answer < 0) f.Prompt = _fp.ExactHash;
                f.Answer = answer >= 0 ? AnswerText(chat.Messages[answer]) : null;
                break;
            }
            case PreferenceExample pair:
            {
                AddToolNames(pair.Tools);
                foreach (var m in pair.Prompt) f.Chars += AddMessage(m, "");
                f.Prompt = _fp.ExactHash;
                foreach (var m in pair.Chosen) f.Chars += AddMessage(m, "chosen:");
                foreach (var m in pair.Rejected) f.Chars += AddMessage(m, "rejected:");
                int answer = LastTrainable(pair.Chosen);
                f.Answer = answer >= 0 ? AnswerText(pair.Chosen[answer]) : null;
                break;
            }
            case TextExample text:
                _fp.Add("text", text.Text, nearDuplicate: true);
                f.Chars = text.Text.Length;
                break;
        }
        _fp.End();
        if (f.Answer is not null) f.AnswerWords = TextFingerprinter.CountWords(f.Answer);
        f.Exact = _fp.ExactHash;
        f.Words = _fp.Words;
        f.HasSignature = _fp.HasSignature;
        return f;
    }

    private void AddToolNames(System.Text.Json.Nodes.JsonArray? tools)
    {
        if (tools is null) return;
        foreach (var name in ToolDefinitions.Names(tools)) _fp.Add("tool", name, nearDuplicate: false);
    }

    /// <summary>Adds a message (system and developer text do not count towards near-duplicates: one shared system prompt would make everything similar).</summary>
    private long AddMessage(ChatMessage m, string prefix)
    {
        bool near = !ChatRoles.IsInstruction(m.Role);
        string tag = prefix.Length == 0 ? m.Role : prefix + m.Role;
        _fp.Add(tag, m.Content ?? "", near);
        long chars = m.Content?.Length ?? 0;
        if (m.ToolCalls is not null)
            foreach (var c in m.ToolCalls)
            {
                _fp.Add("call", c.Name, near);
                _fp.Add("arguments", c.Arguments, near);
                chars += c.Name.Length + c.Arguments.Length;
            }
        return chars;
    }

    private static int LastTrainable(IReadOnlyList<ChatMessage> messages)
    {
        for (int i = messages.Count - 1; i >= 0; i--)
            if (messages[i].IsTrainable) return i;
        return -1;
    }

    private static string AnswerText(ChatMessage m)
    {
        if (m.ToolCalls is not { Count: > 0 }) return m.Content ?? "";
        var calls = string.Join("; ", m.ToolCalls.Select(c => $"{c.Name}({c.Arguments})"));
        return string.IsNullOrWhiteSpace(m.Content) ? calls : m.Content + " " + calls;
    }
}
