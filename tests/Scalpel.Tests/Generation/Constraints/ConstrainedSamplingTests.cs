using System.Text.Json.Nodes;
using Scalpel.Generation.Constraints;
using Xunit;
using Xunit.Abstractions;
using static Scalpel.Tests.Generation.Constraints.ConstraintHarness;

namespace Scalpel.Tests.Generation.Constraints;

/// <summary>
/// Validity by construction: a model that knows nothing of the grammar (random logits) samples under the constraint
/// over real vocabularies, and every output must parse and validate against its schema with python-jsonschema.
/// </summary>
public class ConstrainedSamplingTests(ITestOutputHelper output)
{
    public const int OutputsPerSchema = 200;

    public static readonly Dictionary<string, string> Schemas = new()
    {
        ["nested-enum"] = """
            {"type": "object", "properties": {
              "name": {"type": "string"},
              "role": {"enum": ["admin", "user", "guest", 7, null]},
              "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "description": "postal code"}},
                          "required": ["city"]}},
             "required": ["name", "role", "address"]}
            """,
        ["arrays"] = """
            {"type": "object", "properties": {
              "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
              "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}},
              "pair": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2},
              "empty": {"type": "array", "maxItems": 0}},
             "required": ["tags", "matrix", "pair", "empty"]}
            """,
        ["numbers"] = """
            {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}, "n": {"type": "integer"}}, "required": ["x", "n"]},
             "minItems": 2}
            """,
        ["optional"] = """
            {"type": "object", "properties": {
              "a": {"type": "boolean"}, "b": {"type": "null"}, "c": {"type": ["integer", "null"]},
              "d": {"const": {"x": [1, "two", null], "y": {"z": false}}}, "e": {"type": "string", "enum": ["é\"\\\n", "tab\t", "ok", 5]}}}
            """,
        ["anyOf"] = """
            {"anyOf": [
              {"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number"}}, "required": ["kind", "r"]},
              {"type": "object", "properties": {"kind": {"const": "rect"}, "w": {"type": "number"}, "h": {"type": "number"}}, "required": ["kind", "w", "h"]},
              {"type": "object", "properties": {"kind": {"const": "circle"}, "label": {"type": "string"}}, "required": ["kind", "label"]},
              {"type": "integer"}, {"type": "number"}, {"type": "null"}]}
            """,
        ["free-form"] = """
            {"type": "object", "properties": {"meta": {"type": "object"}, "any": {}, "list": {"type": "array"}, "yes": true},
             "required": ["meta", "list"]}
            """,
        ["string"] = """{"type": "string"}""",
    };

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        // Every schema on a byte-level vocabulary and on a SentencePiece one; the largest (qwen2.5) for most.
        foreach (var name in Schemas.Keys)
        {
            data.Add(name, "qwen2.5");
            data.Add(name, name is "numbers" or "string" ? "phi-3-mini" : "llama2");
        }
        data.Add("nested-enum", "llama3");
        data.Add("anyOf", "phi-2");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Random_model_under_a_schema_always_produces_valid_json(string schemaName, string tokenizerName)
    {
        var schema = JsonNode.Parse(Schemas[schemaName])!;
        var vocab = Vocab(tokenizerName);
        var grammar = TokenGrammar.JsonSchema(vocab, schema);
        var texts = new List<string>();
        int stopped = 0, tokens = 0;
        for (int i = 0; i < OutputsPerSchema; i++)
        {
            var model = new RandomModel(vocab, seed: 1000 * i + schemaName.Length);
            var o = Generate(grammar.Start(), vocab, model);
            texts.Add(o.Text);
            stopped += o.Stopped ? 1 : 0;
            tokens += o.Tokens;
        }
        output.WriteLine($"{schemaName} on {tokenizerName}: {grammar.StateCount} states, {tokens} tokens, {stopped} ended by a stop token; e.g.");
        foreach (var t in texts.Take(4)) output.WriteLine("  " + t);
        AssertValid(schema, texts);
        // The outputs are not all alike: the random model explores.
        Assert.True(texts.Distinct().Count() >= OutputsPerSchema / 5, $"only {texts.Distinct().Count()} distinct outputs");
    }

    [Theory]
    [InlineData("qwen2.5")]
    [InlineData("llama2")]
    public void Random_model_in_json_object_mode_produces_objects(string tokenizerName)
    {
        var vocab = Vocab(tokenizerName);
        var texts = new List<string>();
        for (int i = 0; i < OutputsPerSchema; i++)
            texts.Add(Generate(TokenConstraints.JsonObject(vocab), vocab, new RandomModel(vocab, seed: 77 + i)).Text);
        foreach (var t in texts.Take(4)) output.WriteLine("  " + t);
        AssertValid(JsonNode.Parse("""{"type": "object"}""")!, texts);
        Assert.Contains(texts, t => t.Contains('['));   // nesting happens
    }

    /// <summary>Completable: from random prefixes, always taking the allowed token closest to the end must finish a valid output.</summary>
    [Theory]
    [InlineData("nested-enum", "qwen2.5")]
    [InlineData("arrays", "llama2")]
    [InlineData("numbers", "qwen2.5")]
    [InlineData("optional", "llama2")]
    [InlineData("anyOf", "qwen2.5")]
    [InlineData("free-form", "qwen2.5")]
    [InlineData("string", "llama2")]
    public void Greedy_completion_of_random_prefixes_ends_valid(string schemaName, string tokenizerName)
    {
        var schema = JsonNode.Parse(Schemas[schemaName])!;
        var vocab = Vocab(tokenizerName);
        var grammar = TokenGrammar.JsonSchema(vocab, schema);
        var texts = new List<string>();
        var random = new Random(5);
        for (int i = 0; i < 60; i++)
        {
            var model = new RandomModel(vocab, seed: 31 * i);
            texts.Add(Generate(grammar.Start(), vocab, model, randomSteps: random.Next(0, 40), greedyAfter: grammar).Text);
        }
        foreach (var t in texts.Take(4)) output.WriteLine("  " + t);
        AssertValid(schema, texts);
    }

    [Theory]
    [InlineData("qwen2.5")]
    [InlineData("llama2")]
    public void Random_model_under_choices_outputs_exactly_one_choice(string tokenizerName)
    {
        string[] choices = ["yes", "yes sir", "no", "maybe later", "日本語", "{\"a\": 1}", "n"];
        var vocab = Vocab(tokenizerName);
        var grammar = TokenGrammar.Choice(vocab, choices);
        var seen = new HashSet<string>();
        for (int i = 0; i < OutputsPerSchema; i++)
        {
            string text = Generate(grammar.Start(), vocab, new RandomModel(vocab, seed: i)).Text;
            Assert.Contains(text, choices);
            seen.Add(text);
        }
        Assert.True(seen.Count >= 5, string.Join(" | ", seen));
    }
}
