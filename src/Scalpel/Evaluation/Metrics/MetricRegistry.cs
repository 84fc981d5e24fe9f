using System.Text.Json.Nodes;

namespace Scalpel.Evaluation.Metrics;

/// <summary>The metrics a suite can name, created from their name and options.</summary>
public static class MetricRegistry
{
    private const string StripFence = "strip_code_fence";

    private static readonly OrderedDictionary<string, Func<MetricOptions, IMetric>> Factories = new()
    {
        ["exact_match"] = o => NoOptions(o, "exact_match", new ExactMatchMetric()),
        ["normalized_match"] = o => NoOptions(o, "normalized_match", new NormalizedMatchMetric()),
        ["accuracy"] = o =>
        {
            o.EnsureOnly("accuracy", "labels");
            var labels = o.GetStringList("accuracy", "labels") ?? throw new ArgumentException("metric 'accuracy' needs 'labels': the list of class labels");
            return new ClassificationMetric(labels);
        },
        ["json_valid"] = o =>
        {
            o.EnsureOnly("json_valid", StripFence);
            return new JsonValidMetric(o.GetBool("json_valid", StripFence, false));
        },
        ["schema_valid"] = o =>
        {
            o.EnsureOnly("schema_valid", "schema", StripFence);
            var schema = o.GetNode("schema") switch
            {
                JsonObject obj => JsonSchema.Parse(obj),
                JsonValue v when v.TryGetValue(out string? text) => JsonSchema.Parse(text),
                JsonValue v when v.TryGetValue(out bool b) => JsonSchema.Parse(b ? "true" : "false"),
                null => throw new ArgumentException("metric 'schema_valid' needs 'schema': a JSON schema (an object, or a string of JSON)"),
                var other => throw new ArgumentException($"metric 'schema_valid': 'schema' must be an object, got {other.ToJsonString()}"),
            };
            return new SchemaValidMetric(schema, o.GetBool("schema_valid", StripFence, false));
        },
        ["field_accuracy"] = o =>
        {
            o.EnsureOnly("field_accuracy", StripFence);
            return new FieldAccuracyMetric(o.GetBool("field_accuracy", StripFence, false));
        },
        ["tool_call_accuracy"] = o => NoOptions(o, "tool_call_accuracy", new ToolCallMetric(namesOnly: false)),
        ["tool_name_accuracy"] = o => NoOptions(o, "tool_name_accuracy", new ToolCallMetric(namesOnly: true)),
        ["rouge_l"] = o => NoOptions(o, "rouge_l", new RougeLMetric()),
        ["chrf"] = o =>
        {
            o.EnsureOnly("chrf", "char_order", "word_order", "beta", "whitespace", "lowercase", "eps_smoothing");
            if (o.GetInt("chrf", "word_order", 0) != 0) throw new ArgumentException("metric 'chrf': word n-grams (chrF++, word_order > 0) are not supported");
            return new ChrfMetric(o.GetInt("chrf", "char_order", 6), o.GetDouble("chrf", "beta", 2), o.GetBool("chrf", "whitespace", false),
                o.GetBool("chrf", "lowercase", false), o.GetBool("chrf", "eps_smoothing", false));
        },
        ["perplexity"] = o => NoOptions(o, "perplexity", new TokenLossMetric(perplexity: true)),
        ["token_loss"] = o => NoOptions(o, "token_loss", new TokenLossMetric(perplexity: false)),
        ["refusal_rate"] = o =>
        {
            o.EnsureOnly("refusal_rate", "extra_phrases", "window");
            return new RefusalMetric(o.GetStringList("refusal_rate", "extra_phrases"), o.GetInt("refusal_rate", "window", 100));
        },
    };

    /// <summary>The names a suite can use, in a fixed order.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Factories.Keys];

    /// <summary>The metric called <paramref name="name"/>; unknown names and options are errors here, not at compute time.</summary>
    public static IMetric Create(string name, MetricOptions? options = null)
    {
        if (!Factories.TryGetValue(name, out var factory))
            throw new ArgumentException($"unknown metric '{name}' (metrics: {string.Join(", ", Names)})");
        return factory(options ?? MetricOptions.Empty);
    }

    private static IMetric NoOptions(MetricOptions options, string name, IMetric metric)
    {
        options.EnsureOnly(name);
        return metric;
    }
}
