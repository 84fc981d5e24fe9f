using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Text;

namespace Scalpel.Generation;

/// <summary>
/// What a model folder says about generation: the stop tokens (generation_config.json's eos_token_id, the tokenizer's
/// EOS, and the end-of-turn token the chat template writes after an assistant message) and the sampling defaults of
/// generation_config.json (used only when it sets do_sample; otherwise decoding is greedy, as transformers does).
/// </summary>
public sealed record GenerationDefaults(IReadOnlyList<int> StopTokenIds, SamplingOptions Sampling)
{
    public static GenerationDefaults FromDirectory(string modelDirectory, Tokenizer tokenizer, ChatTemplate? template)
    {
        var stops = new List<int>();
        void Add(int? id)
        {
            if (id is { } v && v >= 0 && !stops.Contains(v)) stops.Add(v);
        }
        var sampling = SamplingOptions.Greedy;
        string path = Path.Combine(modelDirectory, "generation_config.json");
        if (File.Exists(path))
        {
            JsonObject config;
            try
            {
                config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                         ?? throw new GenerationException($"{path}: expected a JSON object");
            }
            catch (JsonException e)
            {
                throw new GenerationException($"{path}: not valid JSON ({e.Message})");
            }
            switch (config["eos_token_id"])
            {
                case JsonArray ids:
                    foreach (var id in ids) Add(Int(id, path, "eos_token_id"));
                    break;
                case JsonNode id:
                    Add(Int(id, path, "eos_token_id"));
                    break;
            }
            if (config["do_sample"]?.GetValueKind() == JsonValueKind.True)
            {
                sampling = new SamplingOptions
                {
                    Temperature = Float(config["temperature"], path, "temperature") ?? 1f,
                    TopK = (int?)Float(config["top_k"], path, "top_k") ?? 50,
                    TopP = Float(config["top_p"], path, "top_p") ?? 1f,
                    MinP = Float(config["min_p"], path, "min_p") ?? 0f,
                    RepetitionPenalty = Float(config["repetition_penalty"], path, "repetition_penalty") ?? 1f,
                };
            }
            else if (Float(config["repetition_penalty"], path, "repetition_penalty") is { } penalty)
                sampling = sampling with { RepetitionPenalty = penalty };
        }
        Add(tokenizer.EosTokenId);
        if (template is not null) Add(EndOfTurnToken(tokenizer, template));
        return new GenerationDefaults(stops, sampling);
    }

    /// <summary>
    /// The special token a chat template writes right after an assistant message's content (ChatML's &lt;|im_end|&gt;,
    /// Llama 3's &lt;|eot_id|&gt;, Gemma's &lt;end_of_turn&gt;, Phi-3's &lt;|end|&gt;), found by rendering a probe conversation.
    /// </summary>
    public static int? EndOfTurnToken(Tokenizer tokenizer, ChatTemplate template)
    {
        const string Probe = "Scalpel-probe-answer-7781";
        string rendered;
        try
        {
            rendered = template.Render(new JsonObject
            {
                ["messages"] = new JsonArray(
                    new JsonObject { ["role"] = "user", ["content"] = "Hello" },
                    new JsonObject { ["role"] = "assistant", ["content"] = Probe }),
                ["add_generation_prompt"] = false,
            });
        }
        catch (TemplateException)
        {
            return null;                               // a template that refuses this conversation tells us nothing
        }
        int at = rendered.IndexOf(Probe, StringComparison.Ordinal);
        if (at < 0) return null;
        string after = rendered[(at + Probe.Length)..].TrimStart(' ', '\t');
        int? best = null;
        int bestLength = 0;
        foreach (var added in tokenizer.Config.AddedTokens)
        {
            if (added.Content.Length > bestLength && after.StartsWith(added.Content, StringComparison.Ordinal))
                (best, bestLength) = (added.Id, added.Content.Length);
        }
        return best;
    }

    private static int? Int(JsonNode? node, string path, string field) =>
        node is null ? null
        : node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue<int>(out int v) ? v
        : throw new GenerationException($"{path}: {field} must be an integer or a list of integers");

    private static float? Float(JsonNode? node, string path, string field) =>
        node is null || node.GetValueKind() == JsonValueKind.Null ? null
        : node.GetValueKind() == JsonValueKind.Number ? (float)node.GetValue<double>()
        : throw new GenerationException($"{path}: {field} must be a number");
}
