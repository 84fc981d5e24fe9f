using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class JsonSchemaTests
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    [InlineData("""{"type": "integer"}""", "1", true)]
    [InlineData("""{"type": "integer"}""", "1.0", true)]
    [InlineData("""{"type": "integer"}""", "1.5", false)]
    [InlineData("""{"type": "integer"}""", "true", false)]
    [InlineData("""{"type": "number"}""", "\"1\"", false)]
    [InlineData("""{"type": ["string", "null"]}""", "null", true)]
    [InlineData("""{"enum": [1, "a", null]}""", "1.0", true)]
    [InlineData("""{"enum": [1, "a", null]}""", "true", false)]
    [InlineData("""{"const": {"a": [1, 2], "b": "x"}}""", """{"b": "x", "a": [1.0, 2e0]}""", true)]
    [InlineData("""{"const": {"a": [1, 2]}}""", """{"a": [2, 1]}""", false)]
    [InlineData("""{"maxLength": 2}""", "\"😀😀\"", true)]                 // code points, not UTF-16 units
    [InlineData("""{"minLength": 3}""", "\"😀😀\"", false)]
    [InlineData("""{"minLength": 3}""", "42", true)]                      // string keywords ignore numbers
    [InlineData("""{"minimum": 2, "exclusiveMaximum": 3}""", "2", true)]
    [InlineData("""{"minimum": 2, "exclusiveMaximum": 3}""", "3.0", false)]
    [InlineData("""{"exclusiveMinimum": 0.1}""", "0.1", false)]
    [InlineData("""{"items": {"type": "string"}, "minItems": 1, "maxItems": 2}""", """["a", "b"]""", true)]
    [InlineData("""{"items": {"type": "string"}, "minItems": 1, "maxItems": 2}""", "[]", false)]
    [InlineData("""{"items": {"type": "string"}}""", """["a", 1]""", false)]
    [InlineData("""{"anyOf": [{"type": "string"}, {"minimum": 5}]}""", "7", true)]
    [InlineData("""{"oneOf": [{"type": "integer"}, {"minimum": 5}]}""", "7", false)]   // both match
    [InlineData("""{"oneOf": [{"type": "integer"}, {"minimum": 5}]}""", "7.5", true)]
    [InlineData("""{"allOf": [{"type": "integer"}, {"minimum": 5}]}""", "4", false)]
    [InlineData("""{"not": {"type": "null"}}""", "null", false)]
    [InlineData("""{"minProperties": 1, "maxProperties": 1}""", """{"a": 1, "b": 2}""", false)]
    [InlineData("false", "1", false)]
    [InlineData("true", "1", true)]
    [InlineData("""{"title": "t", "description": "d", "format": "email", "type": "string"}""", "\"not an email\"", true)]
    public void Keywords(string schema, string instance, bool valid) =>
        Assert.Equal(valid, JsonSchema.Parse(schema).IsValid(J(instance)));

    [Fact]
    public void ObjectsReportWhereTheyBreak()
    {
        var schema = JsonSchema.Parse("""
            {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
             "required": ["name", "age"], "additionalProperties": false}
            """);
        Assert.Empty(schema.Validate(J("""{"name": "Ada", "age": 36}""")));
        var errors = schema.Validate(J("""{"age": -1, "extra": true}"""));
        Assert.Contains(errors, e => e.StartsWith("at /age:") && e.Contains("minimum"));
        Assert.Contains(errors, e => e.StartsWith("at /extra:"));
        Assert.Contains(errors, e => e.Contains("required property 'name'"));
    }

    [Fact]
    public void LocalReferencesMayRecurse()
    {
        var schema = JsonSchema.Parse("""
            {"$defs": {"node": {"type": "object", "required": ["v"],
                                "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
             "$ref": "#/$defs/node"}
            """);
        Assert.True(schema.IsValid(J("""{"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4}]}]}""")));
        var errors = schema.Validate(J("""{"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": "four"}]}]}"""));
        Assert.Single(errors);
        Assert.StartsWith("at /kids/1/kids/0/v:", errors[0]);
        Assert.True(JsonSchema.Parse("""{"definitions": {"a~b/c": {"const": 1}}, "$ref": "#/definitions/a~0b~1c"}""").IsValid(J("1")));
    }

    [Theory]
    [InlineData("""{"type": "string", "pattern": "^a"}""", "'pattern'")]
    [InlineData("""{"prefixItems": [{"type": "string"}]}""", "'prefixItems'")]
    [InlineData("""{"items": [{"type": "string"}]}""", "tuple")]
    [InlineData("""{"properties": {"a": {"if": {"type": "string"}}}}""", "#/properties/a/if")]
    [InlineData("""{"$ref": "other.json#/a"}""", "other.json")]
    [InlineData("""{"$ref": "#/$defs/missing"}""", "points to nothing")]
    [InlineData("""{"$schema": "http://json-schema.org/draft-04/schema#"}""", "draft-06")]
    [InlineData("""{"type": "int"}""", "'type'")]
    [InlineData("""{"required": "name"}""", "'required'")]
    [InlineData("""{"minLength": -1}""", "non-negative")]
    [InlineData("""{"anyOf": []}""", "non-empty")]
    [InlineData("[]", "object or a boolean")]
    public void UnsupportedOrBrokenSchemasFailWhenParsed(string schema, string messagePart)
    {
        var e = Assert.Throws<ArgumentException>(() => JsonSchema.Parse(schema));
        Assert.Contains(messagePart, e.Message);
    }

    /// <summary>
    /// python-jsonschema's Draft202012Validator as the oracle on random schemas over the supported keywords (with
    /// $defs references, annotations, nesting) and instances: half drawn to fit the schema, half from a fixed pool.
    /// </summary>
    [Fact]
    public void MatchesPythonJsonschema()
    {
        var generator = new SchemaFuzzer(new Random(2024));
        var cases = new List<(string Schema, string[] Instances)>();
        for (int c = 0; c < 400; c++)
        {
            var (schema, defs) = generator.Root();
            cases.Add((schema.ToJsonString(), [.. Enumerable.Range(0, 6).Select(_ => generator.Instance(schema, defs)?.ToJsonString() ?? "null")]));
        }
        const string script = """
            import json, sys
            from jsonschema import Draft202012Validator
            out = []
            for case in json.load(sys.stdin):
                schema = json.loads(case["schema"])
                Draft202012Validator.check_schema(schema)
                validator = Draft202012Validator(schema)
                out.append([validator.is_valid(json.loads(i)) for i in case["instances"]])
            print(json.dumps(out))
            """;
        var input = new JsonArray([.. cases.Select(c => (JsonNode)new JsonObject
        {
            ["schema"] = c.Schema,
            ["instances"] = new JsonArray([.. c.Instances.Select(i => (JsonNode)i)]),
        })]);
        var expected = PythonOracle.Run(script, input).AsArray();
        int valid = 0, total = 0;
        for (int c = 0; c < cases.Count; c++)
        {
            var schema = JsonSchema.Parse(cases[c].Schema);
            for (int i = 0; i < cases[c].Instances.Length; i++)
            {
                bool want = (bool)expected[c]![i]!;
                Assert.True(want == schema.IsValid(J(cases[c].Instances[i])),
                    $"schema {cases[c].Schema}\ninstance {cases[c].Instances[i]}\njsonschema says {want}; errors: {string.Join("; ", schema.Validate(J(cases[c].Instances[i])))}");
                valid += want ? 1 : 0;
                total++;
            }
        }
        // The comparison means something only if both answers are common.
        Assert.InRange((double)valid / total, 0.25, 0.75);
    }

    /// <summary>Random schemas over the supported keywords, and instances for them.</summary>
    private sealed class SchemaFuzzer(Random rng)
    {
        private static readonly string[] Keys = ["a", "b", "c", "d"];
        private static readonly string[] Types = ["null", "boolean", "object", "array", "number", "string", "integer"];
        private static readonly string[] Numbers = ["0", "1", "1.0", "-2", "3", "2.5", "7", "10", "-0.5", "100", "4.0"];
        private static readonly string[] Strings = ["", "a", "ab", "abc", "héllo", "😀😀", "1", "true", "abcdef"];

        public (JsonObject Schema, JsonObject? Defs) Root()
        {
            JsonObject? defs = null;
            if (rng.NextDouble() < 0.3) defs = new JsonObject { ["d"] = Schema(2, null) };
            var root = Schema(3, defs) is JsonObject o ? o : new JsonObject { ["allOf"] = new JsonArray(Schema(0, null)) };
            if (defs is not null)
            {
                root[rng.Next(2) == 0 ? "$defs" : "definitions"] = defs;
                if (root.ContainsKey("definitions")) Retarget(root);
                if (!root.ToJsonString().Contains("\"$ref\"")) root["$ref"] = RefTo(root);
            }
            return (root, defs);
        }

        private static string RefTo(JsonObject root) => root.ContainsKey("$defs") ? "#/$defs/d" : "#/definitions/d";

        private static void Retarget(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    if (o["$ref"] is JsonValue) o["$ref"] = "#/definitions/d";
                    foreach (var (_, v) in o.ToArray()) Retarget(v);
                    break;
                case JsonArray a:
                    foreach (var v in a) Retarget(v);
                    break;
            }
        }

        private JsonNode Schema(int depth, JsonObject? defs)
        {
            double roll = rng.NextDouble();
            if (defs is not null && roll < 0.08) return new JsonObject { ["$ref"] = "#/$defs/d" };
            if (roll < 0.12) return JsonValue.Create(rng.Next(4) != 0);
            var s = new JsonObject();
            int kind = depth <= 0 ? rng.Next(4, 9) : rng.Next(0, 11);
            switch (kind)
            {
                case 0 or 1:
                    s["type"] = "object";
                    var props = new JsonObject();
                    foreach (string k in Keys.Where(_ => rng.NextDouble() < 0.5)) props[k] = Schema(depth - 1, defs);
                    if (props.Count > 0 || rng.Next(2) == 0) s["properties"] = props;
                    if (rng.NextDouble() < 0.6) s["required"] = new JsonArray([.. Keys.Where(_ => rng.NextDouble() < 0.3).Select(k => (JsonNode)k)]);
                    if (rng.NextDouble() < 0.4) s["additionalProperties"] = rng.Next(2) == 0 ? JsonValue.Create(false) : Schema(depth - 1, defs);
                    if (rng.NextDouble() < 0.2) s["minProperties"] = rng.Next(0, 3);
                    if (rng.NextDouble() < 0.2) s["maxProperties"] = rng.Next(1, 4);
                    break;
                case 2:
                    if (rng.Next(3) != 0) s["type"] = "array";
                    if (rng.NextDouble() < 0.8) s["items"] = Schema(depth - 1, defs);
                    if (rng.NextDouble() < 0.4) s["minItems"] = rng.Next(0, 3);
                    if (rng.NextDouble() < 0.4) s["maxItems"] = rng.Next(1, 4);
                    break;
                case 3:
                    s[rng.Next(3) switch { 0 => "anyOf", 1 => "oneOf", _ => "allOf" }] =
                        new JsonArray([.. Enumerable.Range(0, rng.Next(1, 4)).Select(_ => Schema(depth - 1, defs))]);
                    break;
                case 4:
                    if (rng.Next(3) != 0) s["type"] = "string";
                    if (rng.NextDouble() < 0.6) s["minLength"] = rng.Next(0, 4);
                    if (rng.NextDouble() < 0.6) s["maxLength"] = rng.Next(1, 5);
                    if (rng.NextDouble() < 0.2) s["format"] = "email";
                    break;
                case 5:
                    if (rng.Next(3) != 0) s["type"] = rng.Next(2) == 0 ? "number" : "integer";
                    foreach (string bound in new[] { "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" })
                        if (rng.NextDouble() < 0.35) s[bound] = JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]);
                    break;
                case 6:
                    s["enum"] = new JsonArray([.. Enumerable.Range(0, rng.Next(1, 5)).Select(_ => Value(1, nested: false))]);
                    break;
                case 7:
                    s["const"] = Value(1, nested: false);
                    break;
                case 8:
                    s["type"] = rng.Next(3) == 0
                        ? new JsonArray([.. Types.Where(_ => rng.NextDouble() < 0.35).DefaultIfEmpty("null").Select(t => (JsonNode)t)])
                        : Types[rng.Next(Types.Length)];
                    break;
                case 9:
                    s["not"] = Schema(depth - 1, defs);
                    break;
                default:
                    // Keywords for several types at once, without a type: each applies only to its own kind.
                    s["minimum"] = 2;
                    s["maxLength"] = 2;
                    s["required"] = new JsonArray("a");
                    s["maxItems"] = 2;
                    break;
            }
            if (rng.NextDouble() < 0.1) s["description"] = "annotation";
            return s;
        }

        /// <summary>
        /// A random JSON value. Inside arrays and objects of enum/const values there are no booleans and no 0 or 1:
        /// python-jsonschema 4.10's enum compares nested values with Python's ==, where True == 1.
        /// </summary>
        private JsonNode? Value(int depth, bool nested)
        {
            int kind = depth <= 0 ? rng.Next(0, 4) : rng.Next(0, 6);
            return kind switch
            {
                0 => nested ? JsonValue.Create("x") : null,
                1 => nested ? JsonNode.Parse(Numbers[rng.Next(3, Numbers.Length)]) : JsonValue.Create(rng.Next(2) == 0),
                2 => JsonNode.Parse(Numbers[rng.Next(nested ? 3 : 0, Numbers.Length)]),
                3 => JsonValue.Create(Strings[rng.Next(Strings.Length)]),
                4 => new JsonArray([.. Enumerable.Range(0, rng.Next(0, 4)).Select(_ => Value(depth - 1, nested: true))]),
                _ => new JsonObject(Keys.Where(_ => rng.NextDouble() < 0.4).Select(k => KeyValuePair.Create(k, Value(depth - 1, nested: true)))),
            };
        }

        /// <summary>Half the time a value built to fit <paramref name="schema"/> (often it does), else any value.</summary>
        public JsonNode? Instance(JsonNode? schema, JsonObject? defs, int depth = 3) =>
            rng.Next(2) == 0 ? AnyValue(depth) : Fit(schema, defs, depth);

        private JsonNode? AnyValue(int depth)
        {
            int kind = depth <= 0 ? rng.Next(0, 4) : rng.Next(0, 6);
            return kind switch
            {
                0 => null,
                1 => JsonValue.Create(rng.Next(2) == 0),
                2 => JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]),
                3 => JsonValue.Create(Strings[rng.Next(Strings.Length)]),
                4 => new JsonArray([.. Enumerable.Range(0, rng.Next(0, 4)).Select(_ => AnyValue(depth - 1))]),
                _ => new JsonObject(Keys.Where(_ => rng.NextDouble() < 0.5).Select(k => KeyValuePair.Create(k, AnyValue(depth - 1)))),
            };
        }

        private JsonNode? Fit(JsonNode? schema, JsonObject? defs, int depth)
        {
            if (schema is not JsonObject s || depth < 0) return AnyValue(1);
            if (s["$ref"] is not null && defs is not null) return Fit(defs["d"], defs, depth - 1);
            if (s["enum"] is JsonArray options) return options[rng.Next(options.Count)]?.DeepClone();
            if (s["const"] is { } constant) return constant.DeepClone();
            foreach (string combinator in new[] { "anyOf", "oneOf", "allOf" })
                if (s[combinator] is JsonArray branches) return Fit(branches[rng.Next(branches.Count)], defs, depth - 1);
            string? type = s["type"] switch
            {
                JsonValue v => (string?)v,
                JsonArray a when a.Count > 0 => (string?)a[rng.Next(a.Count)],
                _ => s.ContainsKey("properties") || s.ContainsKey("required") ? "object" : s.ContainsKey("items") ? "array"
                    : s.ContainsKey("minLength") || s.ContainsKey("maxLength") ? "string" : s.ContainsKey("minimum") ? "number" : null,
            };
            switch (type)
            {
                case "object":
                    var obj = new JsonObject();
                    var props = s["properties"] as JsonObject;
                    foreach (string k in Keys)
                    {
                        bool required = s["required"] is JsonArray req && req.Any(r => (string?)r == k);
                        if (required || rng.NextDouble() < 0.3)
                            obj[k] = props?[k] is { } sub ? Fit(sub, defs, depth - 1) : s["additionalProperties"] is JsonObject extra ? Fit(extra, defs, depth - 1) : AnyValue(1);
                    }
                    return obj;
                case "array":
                    int min = (int?)s["minItems"] ?? 0, max = Math.Max(min, (int?)s["maxItems"] ?? 3);
                    return new JsonArray([.. Enumerable.Range(0, rng.Next(min, max + 1)).Select(_ => Fit(s["items"], defs, depth - 1))]);
                case "string":
                    int lo = (int?)s["minLength"] ?? 0, hi = Math.Max(lo, (int?)s["maxLength"] ?? 5);
                    return JsonValue.Create(new string('é', rng.Next(lo, hi + 1)));
                case "number" or "integer":
                    return JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]);
                case "boolean":
                    return JsonValue.Create(rng.Next(2) == 0);
                case "null":
                    return null;
                default:
                    return AnyValue(2);
            }
        }
    }
}
