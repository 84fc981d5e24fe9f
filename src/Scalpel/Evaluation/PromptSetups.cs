using System.Text.Json.Nodes;

namespace Scalpel.Evaluation;

/// <summary>How a setup prompts the model.</summary>
public enum PromptKind
{
    /// <summary>The test conversation as it is in the dataset (the instruction alone).</summary>
    ZeroShot,
    /// <summary>The suite's system prompt first (replacing the example's own), then the conversation.</summary>
    SystemPrompt,
    /// <summary>k random training examples as earlier turns, after the system prompt when the suite gives one.</summary>
    FewShotRandom,
    /// <summary>The k training examples most similar to the test prompt (BM25), most similar last (closest to the question).</summary>
    FewShotRetrieved,
}

/// <summary>
/// Builds the messages of each prompting baseline. Demonstrations are whole training conversations (their prompt and
/// reference answer) shown as earlier user/assistant turns; the choice is seeded per test example, so runs repeat.
/// </summary>
public sealed class PromptSetups
{
    public const string ZeroShotName = "zero-shot", SystemPromptName = "system-prompt",
        FewShotRandomName = "few-shot-random", FewShotRetrievedName = "few-shot-retrieved";

    private readonly IReadOnlyList<EvalExample> _train;
    private readonly Bm25Index? _index;
    private readonly int _seed;

    public PromptSetups(IReadOnlyList<EvalExample>? train, int seed = 1234)
    {
        _train = train ?? [];
        _index = _train.Count > 0 ? new Bm25Index(_train.Select(t => t.QueryText)) : null;
        _seed = seed;
    }

    public static string NameOf(PromptKind kind) => kind switch
    {
        PromptKind.ZeroShot => ZeroShotName,
        PromptKind.SystemPrompt => SystemPromptName,
        PromptKind.FewShotRandom => FewShotRandomName,
        _ => FewShotRetrievedName,
    };

    /// <summary>Why a setup cannot run for a task, or null when it can.</summary>
    public string? Unavailable(PromptKind kind, EvalTask task) => kind switch
    {
        PromptKind.SystemPrompt when string.IsNullOrWhiteSpace(task.SystemPrompt) => "the suite gives this task no system_prompt",
        PromptKind.FewShotRandom or PromptKind.FewShotRetrieved when _train.Count == 0 => "no training examples (--train)",
        PromptKind.FewShotRandom or PromptKind.FewShotRetrieved when task.FewShot == 0 => "few_shot is 0",
        _ => null,
    };

    public JsonArray Messages(PromptKind kind, EvalExample test, EvalTask task)
    {
        var messages = new JsonArray();
        if (kind == PromptKind.ZeroShot)
        {
            foreach (var m in test.PromptMessages) messages.Add(m!.DeepClone());
            return messages;
        }
        string? system = task.SystemPrompt is { Length: > 0 } s ? s
            : test.PromptMessages.OfType<JsonObject>().FirstOrDefault(m => (string?)m["role"] is "system" or "developer")?["content"]?.ToString();
        if (system is not null) messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = system });
        if (kind != PromptKind.SystemPrompt)
        {
            foreach (int d in Demonstrations(kind, test, task.FewShot))
            {
                foreach (var m in _train[d].DialogueMessages) messages.Add(m.DeepClone());
                messages.Add((JsonNode)_train[d].ReferenceMessage);
            }
        }
        foreach (var m in test.DialogueMessages) messages.Add(m.DeepClone());
        return messages;
    }

    /// <summary>Indexes of the training examples shown before a test example.</summary>
    public IReadOnlyList<int> Demonstrations(PromptKind kind, EvalExample test, int k)
    {
        k = Math.Min(k, _train.Count);
        // A training example identical to the test prompt would hand over the answer: never show it.
        string query = test.QueryText;
        bool Allowed(int d) => _train[d].QueryText != query;
        if (kind == PromptKind.FewShotRetrieved)
        {
            var best = _index!.Top(query, k, Allowed).ToList();
            best.Reverse();                                            // most similar right before the question
            return best;
        }
        var rng = new Random(unchecked(_seed * 1_000_003 + test.Index));      // not HashCode: it is randomised per process
        var pool = Enumerable.Range(0, _train.Count).Where(Allowed).ToArray();
        rng.Shuffle(pool);
        return pool.Take(k).ToList();
    }
}
