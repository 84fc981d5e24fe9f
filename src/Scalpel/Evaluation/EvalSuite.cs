using System.Globalization;
using System.Text.Json.Nodes;
using Scalpel.Generation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scalpel.Evaluation;

/// <summary>A suite file that cannot be used; the message names the file, the line and the field.</summary>
public sealed class EvalSuiteException(string message) : Exception(message);

/// <summary>A metric of a task and its options (e.g. accuracy with its labels).</summary>
public sealed record MetricSpec(string Name, JsonObject Options);

/// <summary>How answers are generated for a task.</summary>
public sealed record TaskGeneration
{
    public int MaxTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Constrain answers to one of these strings.</summary>
    public IReadOnlyList<string>? Choices { get; init; }
    /// <summary>Constrain answers to JSON conforming to this schema.</summary>
    public JsonNode? JsonSchema { get; init; }
}

/// <summary>
/// One task of a suite: a dataset (any format the data layer reads; the reference answer is the final assistant
/// message), the prompt setup shared by the baselines, generation settings and metrics.
/// </summary>
public sealed record EvalTask
{
    public required string Name { get; init; }
    public required string DataPath { get; init; }
    /// <summary>Score at most this many examples (the first ones).</summary>
    public int? Limit { get; init; }
    /// <summary>The system prompt of the system-prompt and few-shot setups.</summary>
    public string? SystemPrompt { get; init; }
    /// <summary>k, the number of demonstrations of the few-shot setups.</summary>
    public int FewShot { get; init; } = 3;
    public TaskGeneration Generation { get; init; } = new();
    public required IReadOnlyList<MetricSpec> Metrics { get; init; }
}

/// <summary>
/// An eval suite, read from YAML:
/// <code>
/// name: tickets
/// tasks:
///   - name: labels
///     data: test.jsonl              # relative to the suite file
///     limit: 200                    # optional
///     system_prompt: "Answer with one label: billing, bug or other."
///     few_shot: 3
///     generation: {max_tokens: 8, temperature: 0, stop: ["\n"], choices: [billing, bug, other]}
///     metrics: [exact_match, {accuracy: {labels: [billing, bug, other]}}]
/// regression:                       # optional: a general set scored for base and tuned models
///   data: general.jsonl
///   metrics: [rouge_l, perplexity]
/// </code>
/// </summary>
public sealed record EvalSuite
{
    public required string Name { get; init; }
    public required string Path { get; init; }
    public required IReadOnlyList<EvalTask> Tasks { get; init; }
    public EvalTask? Regression { get; init; }

    public static EvalSuite Load(string path)
    {
        if (!File.Exists(path)) throw new EvalSuiteException($"{path}: no such file");
        var reader = new SuiteReader(path);
        YamlNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(path)));
            root = stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
        }
        catch (YamlException e)
        {
            throw new EvalSuiteException($"{path}:{e.Start.Line}: not valid YAML ({e.Message})");
        }
        if (root is not YamlMappingNode map) throw new EvalSuiteException($"{path}: expected a mapping with 'name' and 'tasks'");
        reader.Known(map, "suite", "name", "tasks", "regression");
        string name = reader.String(map, "name") ?? System.IO.Path.GetFileNameWithoutExtension(path);
        if (reader.Child(map, "tasks") is not YamlSequenceNode { Children.Count: > 0 } tasks)
            throw new EvalSuiteException($"{path}:{reader.Line(map)}: 'tasks' must be a list with at least one task");
        var list = tasks.Children.Select((t, i) => reader.Task(t, $"tasks[{i}]", requireName: true)).ToList();
        var duplicate = list.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new EvalSuiteException($"{path}: two tasks are named '{duplicate.Key}'");
        var regression = reader.Child(map, "regression") is { } r ? reader.Task(r, "regression", requireName: false) : null;
        return new EvalSuite { Name = name, Path = System.IO.Path.GetFullPath(path), Tasks = list, Regression = regression };
    }

    /// <summary>A suite of one task, for a regression set named on the command line.</summary>
    public static EvalTask RegressionTask(string dataPath, IReadOnlyList<MetricSpec>? metrics = null) => new()
    {
        Name = "regression",
        DataPath = System.IO.Path.GetFullPath(dataPath),
        Metrics = metrics ?? [new MetricSpec("rouge_l", []), new MetricSpec("chrf", []), new MetricSpec("perplexity", [])],
    };

    /// <summary>Reads nodes with errors that name the file, the line and the field.</summary>
    private sealed class SuiteReader(string path)
    {
        private readonly string _directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;

        public long Line(YamlNode node) => node.Start.Line;

        private EvalSuiteException Error(YamlNode node, string field, string problem) => new($"{path}:{node.Start.Line}: {field}: {problem}");

        public YamlNode? Child(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var node) && !IsNull(node) ? node : null;

        public void Known(YamlMappingNode map, string where, params string[] keys)
        {
            foreach (var key in map.Children.Keys)
            {
                string k = (key as YamlScalarNode)?.Value ?? "?";
                if (!keys.Contains(k))
                    throw Error(key, $"{where}.{k}", $"unknown field (known: {string.Join(", ", keys)})");
            }
        }

        public string? String(YamlMappingNode map, string key, string? where = null)
        {
            var node = Child(map, key);
            return node switch
            {
                null => null,
                YamlScalarNode { Value: { } v } => v,
                _ => throw Error(node, where is null ? key : $"{where}.{key}", "expected text"),
            };
        }

        public int? Int(YamlMappingNode map, string key, string where, int min, int max)
        {
            if (String(map, key, where) is not { } text) return null;
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                throw Error(Child(map, key)!, $"{where}.{key}", $"expected a whole number from {min} to {max}, got '{text}'");
            return v;
        }

        public float? Float(YamlMappingNode map, string key, string where, float min, float max)
        {
            if (String(map, key, where) is not { } text) return null;
            if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !(v >= min && v <= max))
                throw Error(Child(map, key)!, $"{where}.{key}", $"expected a number from {min} to {max}, got '{text}'");
            return v;
        }

        public List<string>? Strings(YamlMappingNode map, string key, string where)
        {
            var node = Child(map, key);
            return node switch
            {
                null => null,
                YamlScalarNode { Value: { } v } => [v],
                YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode { Value: { } s } ? s
                    : throw Error(c, $"{where}.{key}", "expected a list of texts")).ToList(),
                _ => throw Error(node, $"{where}.{key}", "expected a list of texts"),
            };
        }

        public EvalTask Task(YamlNode node, string where, bool requireName)
        {
            if (node is not YamlMappingNode map) throw Error(node, where, "expected a mapping (name, data, metrics, ...)");
            Known(map, where, "name", "data", "limit", "system_prompt", "few_shot", "generation", "metrics");
            string? name = String(map, "name", where);
            if (requireName && string.IsNullOrWhiteSpace(name)) throw Error(map, $"{where}.name", "every task needs a name");
            string data = String(map, "data", where) ?? throw Error(map, $"{where}.data", "the dataset file is required");
            string dataPath = System.IO.Path.GetFullPath(System.IO.Path.Combine(_directory, data));
            if (!File.Exists(dataPath)) throw Error(Child(map, "data")!, $"{where}.data", $"{dataPath}: no such file");
            var metrics = Child(map, "metrics") is { } m ? Metrics(m, $"{where}.metrics")
                : throw Error(map, $"{where}.metrics", "list at least one metric (e.g. exact_match)");
            return new EvalTask
            {
                Name = name ?? "regression",
                DataPath = dataPath,
                Limit = Int(map, "limit", where, 1, int.MaxValue),
                SystemPrompt = String(map, "system_prompt", where),
                FewShot = Int(map, "few_shot", where, 0, 64) ?? 3,
                Generation = Child(map, "generation") is { } g ? Generation(g, $"{where}.generation") : new TaskGeneration(),
                Metrics = metrics,
            };
        }

        private TaskGeneration Generation(YamlNode node, string where)
        {
            if (node is not YamlMappingNode map) throw Error(node, where, "expected a mapping (max_tokens, temperature, stop, ...)");
            Known(map, where, "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "seed", "stop", "choices", "json_schema", "json_schema_file");
            float temperature = Float(map, "temperature", where, 0, 100) ?? 0f;
            var sampling = new SamplingOptions
            {
                Temperature = temperature,
                TopP = Float(map, "top_p", where, 1e-6f, 1) ?? 1f,
                TopK = Int(map, "top_k", where, 0, int.MaxValue) ?? 0,
                MinP = Float(map, "min_p", where, 0, 1) ?? 0f,
                RepetitionPenalty = Float(map, "repetition_penalty", where, 1e-3f, 100) ?? 1f,
                Seed = (ulong)(Int(map, "seed", where, 0, int.MaxValue) ?? 0),
            };
            JsonNode? schema = null;
            if (Child(map, "json_schema") is { } inline) schema = ToJson(inline);
            if (String(map, "json_schema_file", where) is { } file)
            {
                if (schema is not null) throw Error(map, where, "give json_schema or json_schema_file, not both");
                string schemaPath = System.IO.Path.Combine(_directory, file);
                if (!File.Exists(schemaPath)) throw Error(Child(map, "json_schema_file")!, $"{where}.json_schema_file", $"{schemaPath}: no such file");
                try { schema = JsonNode.Parse(File.ReadAllText(schemaPath)); }
                catch (System.Text.Json.JsonException e) { throw new EvalSuiteException($"{schemaPath}: not valid JSON ({e.Message})"); }
            }
            var choices = Strings(map, "choices", where);
            if (choices is not null && schema is not null) throw Error(map, where, "choices and json_schema cannot both constrain one task");
            if (choices is { Count: 0 }) throw Error(Child(map, "choices")!, $"{where}.choices", "list at least one choice");
            return new TaskGeneration
            {
                MaxTokens = Int(map, "max_tokens", where, 1, 1 << 20) ?? 256,
                Sampling = sampling,
                Stop = Strings(map, "stop", where) ?? [],
                Choices = choices,
                JsonSchema = schema,
            };
        }

        private List<MetricSpec> Metrics(YamlNode node, string where)
        {
            if (node is not YamlSequenceNode seq || seq.Children.Count == 0) throw Error(node, where, "expected a list of metrics");
            var list = new List<MetricSpec>();
            foreach (var item in seq.Children)
            {
                switch (item)
                {
                    case YamlScalarNode { Value: { } name }:
                        list.Add(new MetricSpec(name, []));
                        break;
                    case YamlMappingNode { Children.Count: 1 } one when one.Children.First() is var (key, value) && key is YamlScalarNode { Value: { } metric }:
                        var options = IsNull(value) ? [] : ToJson(value) as JsonObject
                            ?? throw Error(value, $"{where}.{metric}", "options must be a mapping (e.g. labels: [a, b])");
                        list.Add(new MetricSpec(metric, options));
                        break;
                    default:
                        throw Error(item, where, "each metric is a name, or a name with options ({accuracy: {labels: [a, b]}})");
                }
            }
            foreach (var spec in list)
            {
                if (!EvalMetrics.IsKnown(spec.Name))
                    throw Error(node, where, $"unknown metric '{spec.Name}' (known: {string.Join(", ", EvalMetrics.Names)})");
            }
            return list;
        }

        private static bool IsNull(YamlNode node) =>
            node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

        /// <summary>YAML → JSON: plain scalars that read as numbers, booleans or null become those; quoted ones stay text.</summary>
        public static JsonNode? ToJson(YamlNode node) => node switch
        {
            YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
                KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
            YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
            YamlScalarNode s when IsNull(s) => null,
            YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "True" or "TRUE" } => JsonValue.Create(true),
            YamlScalarNode { Style: ScalarStyle.Plain, Value: "false" or "False" or "FALSE" } => JsonValue.Create(false),
            YamlScalarNode { Style: ScalarStyle.Plain, Value: { } v } when long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) => JsonValue.Create(l),
            YamlScalarNode { Style: ScalarStyle.Plain, Value: { } v } when double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
            YamlScalarNode { Value: var v } => JsonValue.Create(v ?? ""),
            _ => null,
        };
    }
}
