using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Generation.Constraints;
using Scalpel.Tests.Oracles;
using Scalpel.Tests.Text;
using Xunit;

namespace Scalpel.Tests.Generation.Constraints;

/// <summary>Vocabularies of the fixture tokenizers, a random stand-in for a model, and the python-jsonschema oracle.</summary>
public static class ConstraintHarness
{
    private static readonly ConcurrentDictionary<string, Lazy<TokenVocabulary>> Vocabularies = new();

    /// <summary>The stop tokens generation would use: EOS plus the chat templates' end-of-turn tokens.</summary>
    public static int[] StopIds(string tokenizerName)
    {
        var t = TokenizerFixtures.Load(tokenizerName);
        string[] names = tokenizerName switch
        {
            "qwen2.5" => ["<|im_end|>", "<|endoftext|>"],
            "llama3" => ["<|eot_id|>", "<|end_of_text|>"],
            "phi-3-mini" => ["<|end|>", "<|endoftext|>"],
            _ => [],
        };
        return names.Select(n => t.TokenToId(n) ?? throw new InvalidOperationException($"{tokenizerName}: no {n}"))
            .Append(t.EosTokenId!.Value).Distinct().ToArray();
    }

    public static TokenVocabulary Vocab(string tokenizerName) =>
        Vocabularies.GetOrAdd(tokenizerName, n => new Lazy<TokenVocabulary>(() =>
            TokenVocabulary.FromTokenizer(TokenizerFixtures.Load(n), StopIds(n)))).Value;

    public static int Id(string tokenizerName, string token) =>
        TokenizerFixtures.Load(tokenizerName).TokenToId(token) ?? throw new InvalidOperationException($"{tokenizerName} has no token '{token}'");

    /// <summary>
    /// A model that knows nothing of the grammar: uniform random logits each step, plus a bias that grows with the step
    /// on tokens containing '"', ']' or '}' and on stop tokens, so that outputs end in a bounded number of steps
    /// (an impatient model; without it random strings and arrays would run for thousands of steps).
    /// </summary>
    public sealed class RandomModel
    {
        private readonly bool[] _closer;
        private readonly Random _random;
        private readonly float _patience;

        public RandomModel(TokenVocabulary vocab, int seed)
        {
            _random = new Random(seed);
            _closer = new bool[vocab.Count];
            for (int id = 0; id < vocab.Count; id++)
            {
                var b = vocab.Bytes(id);
                _closer[id] = vocab.IsStop(id) || b.IndexOfAny("\"]}"u8) >= 0;
            }
            _patience = 0.1f + 0.5f * _random.NextSingle();
        }

        public void Logits(Span<float> logits, int step)
        {
            float bias = _patience * step;
            uint x = (uint)_random.Next() | 1;   // xorshift32 for the bulk: cheap enough for 150k logits per step
            for (int i = 0; i < logits.Length; i++)
            {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                logits[i] = (x >> 8) * (4f / (1 << 24)) + (_closer[i] ? bias : 0f);
            }
        }

        /// <summary>Samples from softmax(logits); throws when every logit is −∞ (the constraint left nothing to say).</summary>
        public int Sample(Span<float> logits)
        {
            float max = TensorPrimitives.Max(logits);
            if (float.IsNegativeInfinity(max)) throw new InvalidOperationException("every token is masked: a dead end");
            TensorPrimitives.Subtract(logits, max, logits);
            TensorPrimitives.Exp(logits, logits);   // −∞ → 0
            float r = _random.NextSingle() * TensorPrimitives.Sum(logits);
            int last = -1;
            for (int i = 0; i < logits.Length; i++)
            {
                if (logits[i] == 0f) continue;
                last = i;
                r -= logits[i];
                if (r <= 0) return i;
            }
            return last;
        }
    }

    /// <summary>One sampled output: its bytes, the number of tokens, and whether it ended on a stop token (vs MustStop).</summary>
    public sealed record Output(byte[] Bytes, int Tokens, bool Stopped)
    {
        public string Text => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Bytes);
    }

    /// <summary>Generates with the random model under <paramref name="constraint"/> until a stop token or MustStop.</summary>
    public static Output Generate(ITokenConstraint constraint, TokenVocabulary vocab, RandomModel model, int maxSteps = 3000,
        int? randomSteps = null, TokenGrammar? greedyAfter = null)
    {
        var logits = new float[vocab.Count];
        var bytes = new List<byte>();
        for (int step = 0; step < maxSteps; step++)
        {
            int token;
            if (randomSteps is { } k && step >= k) token = GreedyToward(constraint, greedyAfter!, logits);
            else
            {
                model.Logits(logits, step);
                constraint.MaskLogits(logits);
                token = model.Sample(logits);
            }
            constraint.Accept(token);
            if (vocab.IsStop(token))
            {
                Assert.True(constraint.IsComplete && constraint.MustStop);
                return new Output(bytes.ToArray(), step + 1, Stopped: true);
            }
            bytes.AddRange(vocab.Bytes(token).ToArray());
            if (constraint.MustStop)
            {
                Assert.True(constraint.IsComplete);
                return new Output(bytes.ToArray(), step + 1, Stopped: false);
            }
        }
        throw new InvalidOperationException($"no end after {maxSteps} steps: {Encoding.UTF8.GetString(bytes.ToArray())}");
    }

    private static readonly ConditionalWeakTable<TokenGrammar, int[]> Distances = new();

    /// <summary>
    /// The allowed token that brings the automaton closest to acceptance (fewest bytes still needed, from a breadth-first
    /// search over the automaton backwards), or a stop token once complete: a completion that must end if every
    /// accepted prefix can be finished.
    /// </summary>
    public static int GreedyToward(ITokenConstraint constraint, TokenGrammar grammar, float[] logits)
    {
        var vocab = grammar.Vocabulary;
        var dfa = grammar.Dfa;
        int[] dist = Distances.GetValue(grammar, g => DistanceToAccept(g.Dfa));
        Array.Clear(logits);
        constraint.MaskLogits(logits);
        int state = ((GrammarConstraint)constraint).State;
        int best = -1, bestDist = int.MaxValue;
        for (int id = 0; id < logits.Length; id++)
        {
            if (float.IsNegativeInfinity(logits[id])) continue;
            if (vocab.IsStop(id)) return id;
            int next = dfa.Walk(state, vocab.Bytes(id));
            Assert.True(next >= 0, $"token {id} is allowed by the mask but the automaton rejects it");
            if (dist[next] < bestDist) { best = id; bestDist = dist[next]; }
        }
        if (best < 0) throw new InvalidOperationException("every token is masked: a dead end");
        Assert.True(bestDist < dist[state], "no allowed token gets closer to a complete output");
        return best;
    }

    private static int[] DistanceToAccept(ByteDfa dfa)
    {
        int n = dfa.StateCount;
        var incoming = new List<int>[n];
        for (int s = 0; s < n; s++) incoming[s] = [];
        for (int s = 0; s < n; s++)
        {
            for (int c = 0; c < dfa.ClassCount; c++)
            {
                int t = dfa.Next[s * dfa.ClassCount + c];
                if (t >= 0) incoming[t].Add(s);
            }
        }
        var dist = new int[n];
        Array.Fill(dist, int.MaxValue);
        var queue = new Queue<int>();
        for (int s = 0; s < n; s++)
        {
            if (dfa.Accepting[s]) { dist[s] = 0; queue.Enqueue(s); }
        }
        while (queue.Count > 0)
        {
            int s = queue.Dequeue();
            foreach (int p in incoming[s])
            {
                if (dist[p] != int.MaxValue) continue;
                dist[p] = dist[s] + 1;
                queue.Enqueue(p);
            }
        }
        return dist;
    }

    /// <summary>
    /// Checks every output with System.Text.Json (strict UTF-8, every string read) and then, in one call, with
    /// python-jsonschema (tests/oracles/jsonschema_validate.py). Fails listing the first few invalid outputs.
    /// </summary>
    public static void AssertValid(JsonNode schema, IReadOnlyList<string> outputs)
    {
        foreach (string text in outputs)
        {
            try
            {
                using var doc = JsonDocument.Parse(text);
                ReadAll(doc.RootElement);
            }
            catch (JsonException e)
            {
                Assert.Fail($"System.Text.Json rejects {text}: {e.Message}");
            }
        }
        var results = PythonJsonSchema(schema, outputs);
        Assert.Equal(outputs.Count, results.Count);
        var bad = results.Select((r, i) => (r, i)).Where(x => !x.r.Ok).Take(5)
            .Select(x => $"{outputs[x.i]}  →  {x.r.Error}").ToList();
        Assert.True(bad.Count == 0, "python-jsonschema rejects:\n" + string.Join("\n", bad));
    }

    private static void ReadAll(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    _ = p.Name;
                    ReadAll(p.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) ReadAll(item);
                break;
            case JsonValueKind.String: _ = e.GetString(); break;
            case JsonValueKind.Number: _ = e.GetDouble(); break;
        }
    }

    public static List<(bool Ok, string? Error)> PythonJsonSchema(JsonNode schema, IReadOnlyList<string> outputs)
    {
        var psi = new ProcessStartInfo(TorchOracle.Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add(Path.Combine(RepoPaths.Root, "tests", "oracles", "jsonschema_validate.py"));
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start python3");
        var stderrTask = process.StandardError.ReadToEndAsync();
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        var input = new StringBuilder(schema.ToJsonString()).Append('\n');
        foreach (string o in outputs) input.Append(JsonSerializer.Serialize(o)).Append('\n');
        process.StandardInput.Write(input.ToString());
        process.StandardInput.Close();
        if (!process.WaitForExit(120_000)) { process.Kill(entireProcessTree: true); throw new TimeoutException("jsonschema_validate.py"); }
        string stdout = stdoutTask.Result;
        if (process.ExitCode != 0) throw new InvalidOperationException($"jsonschema_validate.py failed ({process.ExitCode}): {stderrTask.Result}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonNode.Parse(line)!)
            .Select(n => ((bool)n["ok"]!, (string?)n["error"]))
            .ToList();
    }
}
