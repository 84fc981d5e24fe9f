using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Generation;
using Scalpel.Models;

namespace Scalpel.Evaluation;

/// <summary>One prompt to answer: the messages and the tools the model may call.</summary>
public sealed record EvalPrompt(JsonArray Messages, JsonArray? Tools);

/// <summary>A model's answer: its text, the tool calls found in it (OpenAI form) and why it ended.</summary>
public sealed record Answer(string Text, JsonArray? ToolCalls, string FinishReason);

/// <summary>Something that answers prompts: a local model (with or without an adapter) or an OpenAI-compatible endpoint.</summary>
public interface IAnswerSource
{
    IReadOnlyList<Answer> Answer(IReadOnlyList<EvalPrompt> prompts, TaskGeneration settings, IProgress<int>? progress = null);

    /// <summary>Σ −log p and token count of each reference answer after its prompt; null when the source cannot say (an endpoint).</summary>
    IReadOnlyList<(double LossSum, int Tokens)>? ReferenceLoss(IReadOnlyList<EvalPrompt> prompts, IReadOnlyList<JsonObject> references);
}

/// <summary>A model folder loaded here; answers in batches with the KV-cache generator.</summary>
public sealed class LocalModelSource(InferenceModel model, int maxBatch = 8) : IAnswerSource
{
    public InferenceModel Model => model;

    public IReadOnlyList<Answer> Answer(IReadOnlyList<EvalPrompt> prompts, TaskGeneration settings, IProgress<int>? progress = null)
    {
        Func<Generation.Constraints.ITokenConstraint>? constraint = ConstraintFactory.For(model, settings);
        var answers = new List<Answer>(prompts.Count);
        // Chunks keep progress moving and bound the cache; each chunk batches up to maxBatch sequences.
        const int Chunk = 32;
        for (int start = 0; start < prompts.Count; start += Chunk)
        {
            var requests = prompts.Skip(start).Take(Chunk).Select(p => new GenerationRequest
            {
                PromptIds = Fit(model.EncodeConversation(p.Messages, p.Tools), settings.MaxTokens),
                MaxNewTokens = settings.MaxTokens,
                Sampling = settings.Sampling,
                StopStrings = settings.Stop,
                Constraint = constraint,
            }).ToList();
            foreach (var r in model.Generator.Generate(requests, maxBatch))
            {
                answers.Add(new Answer(r.Text, ToolCallParser.Parse(r.Text), r.FinishReason == FinishReason.Stop ? "stop" : "length"));
            }
            progress?.Report(answers.Count);
        }
        return answers;
    }

    /// <summary>Keeps the last tokens of a prompt too long for the model (the question is at the end), leaving room to answer.</summary>
    private int[] Fit(int[] ids, int maxTokens)
    {
        int room = model.Model.Spec.MaxPositions - Math.Min(maxTokens, model.Model.Spec.MaxPositions / 2);
        return ids.Length <= room ? ids : ids[^room..];
    }

    public IReadOnlyList<(double LossSum, int Tokens)> ReferenceLoss(IReadOnlyList<EvalPrompt> prompts, IReadOnlyList<JsonObject> references)
    {
        var results = new List<(double, int)>(prompts.Count);
        int limit = model.Model.Spec.MaxPositions;
        for (int i = 0; i < prompts.Count; i++)
        {
            var (ids, mask) = RenderWithReference(prompts[i], references[i]);
            if (ids.Length > limit) (ids, mask) = (ids[^limit..], mask[^limit..]);
            if (!mask.Any(m => m))
            {
                results.Add((0, 0));
                continue;
            }
            var loss = model.Model.Loss(TokenBatch.Pack([(ids, mask)]));
            results.Add((loss.LossSum, loss.Count));
        }
        return results;
    }

    /// <summary>Tokens of prompt + reference, and which of them are the reference's (its text and end-of-turn token).</summary>
    private (int[] Ids, bool[] Mask) RenderWithReference(EvalPrompt prompt, JsonObject reference)
    {
        var tokenizer = model.Tokenizer;
        if (model.Template is null)
        {
            var promptIds = model.EncodeConversation(prompt.Messages, prompt.Tools);
            var answer = tokenizer.Encode((string?)reference["content"] ?? "", addSpecialTokens: false);
            int[] ids = [.. promptIds, .. answer, .. tokenizer.EosTokenId is { } eos ? new[] { eos } : []];
            return (ids, ids.Select((_, j) => j >= promptIds.Length).ToArray());
        }
        var messages = (JsonArray)prompt.Messages.DeepClone();
        messages.Add((JsonNode)reference.DeepClone());
        var rendering = model.Template.RenderConversation(messages, prompt.Tools, addGenerationPrompt: false);
        var encoded = tokenizer.EncodeWithOffsets(rendering.Text, addSpecialTokens: false);
        var mask = new bool[encoded.Ids.Length];
        if (rendering.AssistantSpans.Count > 0)
        {
            var (start, end) = rendering.AssistantSpans[^1];
            for (int t = 0; t < mask.Length; t++)
            {
                var (s, e) = encoded.Offsets[t];
                mask[t] = s < end && e > start;
            }
            // The end-of-turn token right after the answer belongs to it: the model must learn to stop.
            int last = Array.LastIndexOf(mask, true);
            if (last >= 0 && last + 1 < mask.Length && model.Generator.StopTokens.Contains(encoded.Ids[last + 1])) mask[last + 1] = true;
        }
        return (encoded.Ids, mask);
    }
}

/// <summary>
/// An OpenAI-compatible chat completions endpoint (a larger model as a baseline). Requests go one at a time with the
/// task's settings; the API key comes from the caller (OPENAI_API_KEY by default on the command line).
/// </summary>
public sealed class EndpointSource(Uri baseUrl, string model, string? apiKey, HttpClient? client = null) : IAnswerSource
{
    private readonly HttpClient _http = client ?? new HttpClient { Timeout = TimeSpan.FromMinutes(5) };

    public IReadOnlyList<Answer> Answer(IReadOnlyList<EvalPrompt> prompts, TaskGeneration settings, IProgress<int>? progress = null)
    {
        var answers = new List<Answer>(prompts.Count);
        string url = baseUrl.ToString().TrimEnd('/') + "/chat/completions";
        foreach (var prompt in prompts)
        {
            var body = new JsonObject
            {
                ["model"] = model,
                ["messages"] = prompt.Messages.DeepClone(),
                ["max_tokens"] = settings.MaxTokens,
                ["temperature"] = settings.Sampling.Temperature,
            };
            if (settings.Sampling.TopP < 1f) body["top_p"] = settings.Sampling.TopP;
            if (settings.Stop.Count > 0) body["stop"] = new JsonArray([.. settings.Stop.Select(s => (JsonNode)s)]);
            if (prompt.Tools is not null) body["tools"] = prompt.Tools.DeepClone();
            if (settings.JsonSchema is not null)
                body["response_format"] = new JsonObject
                {
                    ["type"] = "json_schema",
                    ["json_schema"] = new JsonObject { ["name"] = "answer", ["schema"] = settings.JsonSchema.DeepClone(), ["strict"] = true },
                };
            using var request = new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            using var response = _http.Send(request);
            string text = new StreamReader(response.Content.ReadAsStream()).ReadToEnd();
            if (!response.IsSuccessStatusCode)
                throw new EvalSuiteException($"{url}: HTTP {(int)response.StatusCode}: {Truncate(text, 300)}");
            JsonNode? choice;
            try
            {
                choice = JsonNode.Parse(text)?["choices"]?[0];
            }
            catch (JsonException)
            {
                throw new EvalSuiteException($"{url}: the answer is not JSON: {Truncate(text, 300)}");
            }
            var message = choice?["message"] ?? throw new EvalSuiteException($"{url}: the answer has no choices[0].message: {Truncate(text, 300)}");
            string content = message["content"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "";
            var toolCalls = message["tool_calls"] is JsonArray calls && calls.Count > 0
                ? new JsonArray([.. calls.Select(c => (JsonNode)new JsonObject
                {
                    ["type"] = "function",
                    ["function"] = new JsonObject
                    {
                        ["name"] = c?["function"]?["name"]?.DeepClone(),
                        ["arguments"] = c?["function"]?["arguments"]?.DeepClone(),
                    },
                })])
                : ToolCallParser.Parse(content);
            answers.Add(new Answer(content, toolCalls, (string?)choice["finish_reason"] ?? "stop"));
            progress?.Report(answers.Count);
        }
        return answers;
    }

    public IReadOnlyList<(double LossSum, int Tokens)>? ReferenceLoss(IReadOnlyList<EvalPrompt> prompts, IReadOnlyList<JsonObject> references) => null;

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "…";
}
