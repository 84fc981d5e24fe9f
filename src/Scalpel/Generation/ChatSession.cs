using System.Text.Json.Nodes;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.Generation;

/// <summary>
/// A conversation with a model that keeps its KV cache between turns: each turn renders the whole conversation with
/// the chat template, and only the tokens after the longest prefix already cached are run through the model.
/// </summary>
public sealed class ChatSession : IDisposable
{
    private readonly Generator _generator;
    private readonly ChatTemplate _template;
    private readonly KvCache _cache;
    private readonly List<int> _cached = [];
    private readonly List<JsonObject> _messages = [];

    public ChatSession(Generator generator, ChatTemplate template, int contextLength)
    {
        _generator = generator;
        _template = template;
        _cache = generator.Model.CreateKvCache(1, Math.Min(contextLength, generator.Model.Spec.MaxPositions));
    }

    public string? SystemPrompt { get; set; }
    public IReadOnlyList<JsonObject> Messages => _messages;
    public int ContextLength => _cache.MaxLength;

    /// <summary>Forgets the conversation (the system prompt stays).</summary>
    public void Reset() => _messages.Clear();

    /// <summary>Adds the user's message, answers it (streaming through <paramref name="onText"/>) and keeps the answer.</summary>
    public GenerationResult Send(string userMessage, GenerationRequest settings, Action<string>? onText = null)
    {
        _messages.Add(new JsonObject { ["role"] = "user", ["content"] = userMessage });
        var messages = new JsonArray();
        if (SystemPrompt is { Length: > 0 } system) messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = system });
        foreach (var m in _messages) messages.Add(m.DeepClone());
        string prompt = _template.Render(new JsonObject { ["messages"] = messages, ["add_generation_prompt"] = true });
        var ids = _generator.Tokenizer.Encode(prompt, addSpecialTokens: false);
        if (ids.Length >= _cache.MaxLength)
        {
            _messages.RemoveAt(_messages.Count - 1);
            throw new GenerationException($"the conversation is {ids.Length} tokens long, the context holds {_cache.MaxLength}: /reset to start over");
        }
        var request = settings with { PromptIds = ids, MaxNewTokens = Math.Min(settings.MaxNewTokens, _cache.MaxLength - ids.Length), OnText = onText };

        // Reuse the cached prefix; at least one prompt token must run to give the first logits.
        int common = 0;
        while (common < _cached.Count && common < ids.Length - 1 && _cached[common] == ids[common]) common++;
        var run = new Generator.SequenceRun(_generator, request, common);
        var active = new Generator.SequenceRun?[1];
        GenerationResult? result = null;
        var pending = run;
        (int, Generator.SequenceRun)? Next()
        {
            if (pending is null) return null;
            var first = pending;
            pending = null;
            return (0, first);
        }
        _generator.Run(_cache, active, Next, (_, r) => result = r);

        _cached.Clear();
        _cached.AddRange(ids);
        // Every output token but the last was fed back, so its keys are cached too.
        _cached.AddRange(result!.Tokens.Take(Math.Max(0, _cache.Length(0) - ids.Length)));
        _messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = result.Text });
        return result;
    }

    public void Dispose() => _cache.Dispose();
}
