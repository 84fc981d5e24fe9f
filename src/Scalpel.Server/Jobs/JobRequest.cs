using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Server.Jobs;

/// <summary>A create-job request that cannot be accepted: the message says why, <see cref="Param"/> names the field.</summary>
public sealed class JobRequestException(string message, string? param, string code = "invalid_request") : Exception(message)
{
    public string? Param { get; } = param;
    public string Code { get; } = code;
}

/// <summary>n_epochs, batch_size (examples per optimizer step) and learning_rate_multiplier; null = "auto" (Scalpel's default).</summary>
public sealed record JobHyperparameters(int? Epochs, int? BatchSize, double? LearningRateMultiplier)
{
    public JsonObject ToJson() => new()
    {
        ["n_epochs"] = Epochs is int e ? e : "auto",
        ["batch_size"] = BatchSize is int b ? b : "auto",
        ["learning_rate_multiplier"] = LearningRateMultiplier is double m ? m : "auto",
    };

    public static JobHyperparameters FromJson(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        static double? Number(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out double d) ? d : null;
        return new JobHyperparameters((int?)Number(o["n_epochs"]), (int?)Number(o["batch_size"]), Number(o["learning_rate_multiplier"]));
    }
}

/// <summary>
/// The body of <c>POST /v1/fine_tuning/jobs</c>: model, training_file, validation_file, suffix, seed, metadata and the
/// hyperparameters, either under <c>method: {type: "supervised", supervised: {hyperparameters}}</c> or at the top level
/// (OpenAI's older form). Unknown fields are ignored, as OpenAI's clients may send newer ones.
/// </summary>
public sealed record JobRequest(string Model, string TrainingFile, string? ValidationFile, string? Suffix, int? Seed,
    JobHyperparameters Hyperparameters, JsonObject? Metadata)
{
    public const int MaxSuffixLength = 64;

    /// <exception cref="JobRequestException">the first problem, naming the field</exception>
    public static JobRequest Parse(string body)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(body) as JsonObject ?? throw new JobRequestException("the request body must be a JSON object", null);
        }
        catch (JsonException e)
        {
            throw new JobRequestException($"the request body is not valid JSON: {e.Message}", null);
        }

        string model = RequiredString(root, "model");
        string training = RequiredString(root, "training_file");
        string? validation = OptionalString(root, "validation_file");
        string? suffix = OptionalString(root, "suffix");
        if (suffix is { Length: 0 }) suffix = null;
        if (suffix is not null && (suffix.Length > MaxSuffixLength || suffix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))))
            throw new JobRequestException($"suffix: up to {MaxSuffixLength} letters, digits, '-', '_' or '.' (it becomes part of the model id ft:BASE:SUFFIX:JOB)", "suffix");
        int? seed = null;
        if (root["seed"] is { } s && s.GetValueKind() != JsonValueKind.Null)
        {
            if (Number(s) is not double d || d != Math.Floor(d) || d < 0 || d > int.MaxValue)
                throw new JobRequestException($"seed: expected a whole number from 0 to {int.MaxValue}, got {s.ToJsonString()}", "seed");
            seed = (int)d;
        }
        if (root["integrations"] is JsonArray { Count: > 0 })
            throw new JobRequestException("integrations (Weights & Biases) are not supported by Scalpel: leave them out; every step's metrics are in the job's events", "integrations");

        JsonObject? fromMethod = null;
        if (root["method"] is { } m && m.GetValueKind() != JsonValueKind.Null)
        {
            if (m is not JsonObject method) throw new JobRequestException("method: expected an object like {\"type\": \"supervised\"}", "method");
            string type = OptionalString(method, "type", "method.type") ?? "supervised";
            if (type is "dpo" or "reinforcement")
                throw new JobRequestException(
                    $"method.type '{type}' is not supported yet: Scalpel fine-tunes with supervised learning only ({(type == "dpo" ? "preference training (DPO)" : "reinforcement fine-tuning")} is planned); use method.type 'supervised'",
                    "method.type", "unsupported_method");
            if (type != "supervised") throw new JobRequestException($"method.type: expected 'supervised', got '{type}'", "method.type");
            if (method["supervised"] is JsonObject supervised && supervised["hyperparameters"] is { } h && h.GetValueKind() != JsonValueKind.Null)
                fromMethod = h as JsonObject ?? throw new JobRequestException("method.supervised.hyperparameters: expected an object", "method.supervised.hyperparameters");
        }
        JsonObject? legacy = null;
        if (root["hyperparameters"] is { } l && l.GetValueKind() != JsonValueKind.Null)
            legacy = l as JsonObject ?? throw new JobRequestException("hyperparameters: expected an object", "hyperparameters");
        if (fromMethod is not null && legacy is { Count: > 0 })
            throw new JobRequestException("give the hyperparameters under method.supervised.hyperparameters or at the top level (the older form), not both", "hyperparameters");
        string prefix = fromMethod is not null ? "method.supervised.hyperparameters" : "hyperparameters";
        var hp = fromMethod ?? legacy ?? [];
        foreach (var (key, _) in hp)
            if (key is not ("n_epochs" or "batch_size" or "learning_rate_multiplier"))
                throw new JobRequestException($"{prefix}.{key}: unknown hyperparameter (supervised fine-tuning takes n_epochs, batch_size, learning_rate_multiplier)", $"{prefix}.{key}");
        var hyperparameters = new JobHyperparameters(
            (int?)AutoOrNumber(hp, "n_epochs", prefix, 1, 50, whole: true),
            (int?)AutoOrNumber(hp, "batch_size", prefix, 1, 256, whole: true),
            AutoOrNumber(hp, "learning_rate_multiplier", prefix, 1e-6, 100, whole: false));

        JsonObject? metadata = null;
        if (root["metadata"] is { } md && md.GetValueKind() != JsonValueKind.Null)
        {
            metadata = md as JsonObject ?? throw new JobRequestException("metadata: expected an object of strings", "metadata");
            if (metadata.Count > 16 || metadata.Any(kv => kv.Key.Length > 64 || kv.Value?.GetValueKind() != JsonValueKind.String || kv.Value.GetValue<string>().Length > 512))
                throw new JobRequestException("metadata: at most 16 keys of up to 64 characters, each with a string value of up to 512 characters", "metadata");
            metadata = (JsonObject)metadata.DeepClone();
        }
        return new JobRequest(model, training, validation, suffix, seed, hyperparameters, metadata);
    }

    private static string RequiredString(JsonObject o, string name) =>
        OptionalString(o, name) is { Length: > 0 } s ? s : throw new JobRequestException($"{name} is required", name, "missing_required_parameter");

    private static string? OptionalString(JsonObject o, string name, string? path = null)
    {
        var node = o[name];
        if (node is null || node.GetValueKind() == JsonValueKind.Null) return null;
        return node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : throw new JobRequestException($"{path ?? name}: expected a string, got {node.ToJsonString()}", path ?? name);
    }

    private static double? Number(JsonNode node) =>
        node.GetValueKind() == JsonValueKind.Number && double.TryParse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;

    /// <summary>"auto" (or absent) = null; otherwise a number in [min, max], whole when <paramref name="whole"/>.</summary>
    private static double? AutoOrNumber(JsonObject o, string name, string prefix, double min, double max, bool whole)
    {
        var node = o[name];
        if (node is null || node.GetValueKind() == JsonValueKind.Null) return null;
        if (node.GetValueKind() == JsonValueKind.String && node.GetValue<string>() == "auto") return null;
        if (Number(node) is double d && d >= min && d <= max && (!whole || d == Math.Floor(d))) return d;
        string kind = whole ? $"a whole number from {min} to {max}" : $"a number from {min.ToString(CultureInfo.InvariantCulture)} to {max}";
        throw new JobRequestException($"{prefix}.{name}: expected \"auto\" or {kind}, got {node.ToJsonString()}", $"{prefix}.{name}");
    }
}
