using System.Runtime.CompilerServices;
namespace Scalpel.Data;

/// <summary>What duplicate, leakage and label checks need of one example.</summary>
internal struct ExampleFeatures
{
    /// <summary>Hash of the whole example, normalised (lower case, whitespace collapsed).</summary>
    public ulong Exact;
    /// <summary>Hash of the prompt (everything before the answer); 0 when the example has none (plain text).</summary>
    public ulong Prompt;
    public bool HasSignature;
    /// <summary>The MinHash signature (a copy), when <see cref="HasSignature"/>.</summary>
    public uint[]? Signature;
    /// <summary>The answer text (last trained assistant message; the chosen answer of a pair); null for plain text.</summary>
    public string? Answer;
    public int AnswerWords;
    /// <summary>Hash of the answer, normalised (lower case, whitespace collapsed).</summary>
    public ulong AnswerHash;
    public long Chars;
    public int Words;
}

/// <summary>Computes <see cref="ExampleFeatures"/> with one reusable <see cref="TextFingerprinter"/>.</summary>
internal sealed class FeatureExtractor
{
    private readonly TextFingerprinter _fp = new();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ExampleFeatures Extract(Example example)
    {
        _fp.Begin();
        var f = new ExampleFeatures();
        switch (example)
        {
            case ChatExample chat:
            {
                int answer = LastTrainable(chat.Messages);
                AddToolNames(chat.ToolNames);
                for (int i = 0; i < chat.Messages.Count; i++)
                {
                    if (i == answer) f.Prompt = _fp.ExactHash;
                    int before = _fp.Words;
                    f.Chars += AddMessage(chat.Messages[i], "", out ulong hash);
                    if (i == answer) (f.AnswerWords, f.AnswerHash) = (_fp.Words - before, hash);
                }
                if (answer < 0) f.Prompt = _fp.ExactHash;
                f.Answer = answer >= 0 ? AnswerText(chat.Messages[answer]) : null;
                break;
            }
            case PreferenceExample pair:
            {
                AddToolNames(pair.ToolNames);
                foreach (var m in pair.Prompt) f.Chars += AddMessage(m, "", out _);
                f.Prompt = _fp.ExactHash;
                int answer = LastTrainable(pair.Chosen);
                for (int i = 0; i < pair.Chosen.Count; i++)
                {
                    int before = _fp.Words;
                    f.Chars += AddMessage(pair.Chosen[i], "chosen:", out ulong hash);
                    if (i == answer) (f.AnswerWords, f.AnswerHash) = (_fp.Words - before, hash);
                }
                foreach (var m in pair.Rejected) f.Chars += AddMessage(m, "rejected:", out _);
                f.Answer = answer >= 0 ? AnswerText(pair.Chosen[answer]) : null;
                break;
            }
            case TextExample text:
                _fp.Add("text", text.Text, nearDuplicate: true);
                f.Chars = text.Text.Length;
                break;
        }
        _fp.End();
        f.Exact = _fp.ExactHash;
        f.Words = _fp.Words;
        f.HasSignature = _fp.HasSignature;
        if (f.HasSignature) f.Signature = _fp.Signature.ToArray();
        return f;
    }

    private void AddToolNames(IReadOnlyList<string> names)
    {
        foreach (var name in names) _fp.Add("tool", name, nearDuplicate: false);
    }

    /// <summary>Adds a message (system and developer text do not count towards near-duplicates: one shared system prompt would make everything similar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private long AddMessage(ChatMessage m, string prefix, out ulong hash)
    {
        bool near = !ChatRoles.IsInstruction(m.Role);
        string tag = prefix.Length == 0 ? m.Role : prefix + m.Role;
        _fp.Add(tag, m.Content ?? "", near);
        hash = _fp.SegmentHash;
        long chars = m.Content?.Length ?? 0;
        if (m.ToolCalls is not null)
            foreach (var c in m.ToolCalls)
            {
                _fp.Add("call", c.Name, near);
                hash = TextFingerprinter.Mix(hash, _fp.SegmentHash);
                _fp.Add("arguments", c.Arguments, near);
                hash = TextFingerprinter.Mix(hash, _fp.SegmentHash);
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
