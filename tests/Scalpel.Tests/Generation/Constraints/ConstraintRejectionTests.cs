using System.Diagnostics;
using System.Text.Json.Nodes;
using Scalpel.Generation.Constraints;
using Xunit;
using Xunit.Abstractions;
using static Scalpel.Tests.Generation.Constraints.ConstraintHarness;

namespace Scalpel.Tests.Generation.Constraints;

/// <summary>Hand-picked tokens the mask must block or let through, stop-token rules, Accept's refusals, schema errors, mask speed.</summary>
public class ConstraintRejectionTests(ITestOutputHelper output)
{
    private const string Qwen = "qwen2.5";

    private static readonly JsonNode Person = JsonNode.Parse("""
        {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}
        """)!;

    private static float[] Mask(ITokenConstraint c, TokenVocabulary vocab)
    {
        var logits = new float[vocab.Count];
        c.MaskLogits(logits);
        return logits;
    }

    private static bool Allowed(float[] logits, string token) => !float.IsNegativeInfinity(logits[Id(Qwen, token)]);

    private static ITokenConstraint After(TokenGrammar grammar, params string[] tokens)
    {
        var c = grammar.Start();
        foreach (var t in tokens) c.Accept(Id(Qwen, t));
        return c;
    }

    [Fact]
    public void Mask_blocks_tokens_that_would_break_the_json()
    {
        var vocab = Vocab(Qwen);
        var grammar = TokenGrammar.JsonSchema(vocab, Person);
        int eos = Id(Qwen, "<|im_end|>");

        var start = Mask(grammar.Start(), vocab);
        Assert.True(Allowed(start, "{"));
        Assert.True(Allowed(start, "{\""));
        Assert.False(Allowed(start, "["));
        Assert.True(Allowed(start, "Ġ{"));       // one space before the value
        Assert.False(Allowed(Mask(After(grammar, "Ġ"), vocab), "Ġ{"));   // but not two
        Assert.False(Allowed(start, "}"));
        Assert.True(float.IsNegativeInfinity(start[eos]));

        // {"name": "Bo| — inside the string
        var inName = Mask(After(grammar, "{\"", "name", "\":", "Ġ\"", "Bo"), vocab);
        Assert.True(Allowed(inName, "b"));
        Assert.True(Allowed(inName, "\"}"));      // close the string and the object
        Assert.True(Allowed(inName, "\","));      // another property (age) may follow
        Assert.True(Allowed(inName, "\\n"));      // an escaped newline
        Assert.False(Allowed(inName, "Ċ"));       // a raw newline in a string
        Assert.False(Allowed(inName, "\"]"));
        Assert.False(Allowed(inName, "Ģ"));       // 0x80: a continuation byte with no lead byte
        Assert.True(Allowed(inName, "ä"));        // 0xE4: the lead byte of a 3-byte character
        Assert.True(Allowed(inName, "ä¸Ń"));      // 中 whole
        Assert.True(float.IsNegativeInfinity(inName[eos]));

        // after the lead byte 0xE4 only a continuation byte can come
        var midChar = Mask(After(grammar, "{\"", "name", "\":", "Ġ\"", "ä"), vocab);
        Assert.False(Allowed(midChar, "b"));
        Assert.False(Allowed(midChar, "\"}"));
        Assert.True(Allowed(midChar, "Ģ"));

        // {"name": "Bo", "age": 0| — no leading zeros, no fraction for an integer
        var age = Mask(After(grammar, "{\"", "name", "\":", "Ġ\"", "Bo", "\",", "Ġ\"", "age", "\":", "0"), vocab);
        Assert.False(Allowed(age, "1"));
        Assert.False(Allowed(age, "."));
        Assert.True(Allowed(age, "}"));
        Assert.False(Allowed(age, "\","));      // no property after age
        var age1 = Mask(After(grammar, "{\"", "name", "\":", "Ġ\"", "Bo", "\",", "Ġ\"", "age", "\":", "1"), vocab);
        Assert.True(Allowed(age1, "1"));
        Assert.False(Allowed(age1, "."));
    }

    [Fact]
    public void Stop_tokens_are_masked_until_complete_and_then_are_all_that_is_left()
    {
        var vocab = Vocab(Qwen);
        var grammar = TokenGrammar.JsonSchema(vocab, Person);
        var c = After(grammar, "{\"", "name", "\":\"", "Bo", "\"}");
        Assert.True(c.IsComplete);
        Assert.True(c.MustStop);
        var logits = Mask(c, vocab);
        var open = Enumerable.Range(0, logits.Length).Where(i => !float.IsNegativeInfinity(logits[i])).ToArray();
        Assert.Equal(StopIds(Qwen).Order(), open);
        Assert.Throws<InvalidOperationException>(() => c.Accept(Id(Qwen, "}")));
        c.Accept(Id(Qwen, "<|im_end|>"));
        Assert.Throws<InvalidOperationException>(() => c.Accept(Id(Qwen, "<|im_end|>")));

        var incomplete = After(grammar, "{\"", "name", "\":\"", "Bo");
        Assert.False(incomplete.IsComplete);
        Assert.False(incomplete.MustStop);
        Assert.Throws<InvalidOperationException>(() => incomplete.Accept(Id(Qwen, "<|im_end|>")));
    }

    [Fact]
    public void Accept_refuses_masked_and_textless_tokens_and_leaves_the_state_alone()
    {
        var vocab = Vocab(Qwen);
        var grammar = TokenGrammar.JsonSchema(vocab, Person);
        var c = grammar.Start();
        var ex = Assert.Throws<InvalidOperationException>(() => c.Accept(Id(Qwen, "[")));
        Assert.Contains("not allowed", ex.Message);
        Assert.Throws<InvalidOperationException>(() => c.Accept(Id(Qwen, "<|im_start|>")));   // special, not a stop: no text
        c.Accept(Id(Qwen, "{"));   // the refusals did not move it
        // every token the mask lets through is accepted and every other one refused (on a fresh copy each time)
        var logits = Mask(c, vocab);
        for (int id = 0; id < vocab.Count; id += 97)
        {
            var probe = After(grammar, "{");
            if (float.IsNegativeInfinity(logits[id])) Assert.Throws<InvalidOperationException>(() => probe.Accept(id));
            else probe.Accept(id);
        }
    }

    [Fact]
    public void Choices_sharing_a_prefix()
    {
        var vocab = Vocab(Qwen);
        var grammar = TokenGrammar.Choice(vocab, ["yes", "yes sir", "no"]);
        var c = grammar.Start();
        Assert.False(c.IsComplete);
        c.Accept(Id(Qwen, "yes"));
        Assert.True(c.IsComplete);
        Assert.False(c.MustStop);
        var logits = Mask(c, vocab);
        Assert.True(Allowed(logits, "<|im_end|>"));
        Assert.True(Allowed(logits, "Ġsir"));
        Assert.True(Allowed(logits, "Ġ"));
        Assert.True(Allowed(logits, "Ġs"));
        Assert.False(Allowed(logits, "Ġno"));
        Assert.False(Allowed(logits, "yes"));
        c.Accept(Id(Qwen, "Ġsir"));
        Assert.True(c.MustStop);
        Assert.Throws<InvalidOperationException>(() => After(grammar, "no").Accept(Id(Qwen, "Ġsir")));
    }

    [Fact]
    public void Mask_of_the_trie_walk_equals_checking_every_token_on_its_own()
    {
        var vocab = Vocab("llama2");
        var grammar = TokenGrammar.JsonSchema(vocab, JsonNode.Parse(ConstrainedSamplingTests.Schemas["anyOf"])!);
        var model = new RandomModel(vocab, seed: 3);
        var c = grammar.Start();
        var logits = new float[vocab.Count];
        for (int step = 0; step < 25 && !c.MustStop; step++)
        {
            var gc = (GrammarConstraint)c;
            foreach (bool useCache in new[] { false, true, true })
            {
                Array.Clear(logits);
                gc.MaskLogits(logits, useCache);
                for (int id = 0; id < vocab.Count; id++)
                {
                    bool expected = vocab.IsStop(id) ? c.IsComplete : !vocab.Bytes(id).IsEmpty && grammar.Dfa.Walk(gc.State, vocab.Bytes(id)) >= 0;
                    Assert.True(expected == !float.IsNegativeInfinity(logits[id]), $"step {step}, token {id}, cache {useCache}");
                }
            }
            model.Logits(logits, step);
            c.MaskLogits(logits);
            int token = model.Sample(logits);
            c.Accept(token);
            if (vocab.IsStop(token)) break;
        }
    }

    [Fact]
    public void Logits_longer_than_the_vocabulary_are_masked_past_it()
    {
        var vocab = Vocab("llama2");
        var c = TokenGrammar.Choice(vocab, ["a"]).Start();
        var logits = new float[vocab.Count + 100];
        c.MaskLogits(logits);
        Assert.All(logits[vocab.Count..], l => Assert.True(float.IsNegativeInfinity(l)));
        Assert.Contains(logits[..vocab.Count], l => l == 0f);
    }

    public static TheoryData<string, string> UnsupportedKeywords => new()
    {
        { """{"type": "string", "pattern": "^a+$"}""", "pattern" },
        { """{"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}}""", "$ref" },
        { """{"type": "string", "format": "date-time"}""", "format" },
        { """{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}""", "minimum" },
        { """{"type": "string", "minLength": 3}""", "minLength" },
        { """{"oneOf": [{"type": "string"}, {"type": "integer"}]}""", "oneOf" },
        { """{"allOf": [{"type": "string"}]}""", "allOf" },
        { """{"not": {"type": "string"}}""", "not" },
        { """{"type": "array", "prefixItems": [{"type": "string"}]}""", "prefixItems" },
        { """{"type": "array", "items": {"type": "string"}, "uniqueItems": true}""", "uniqueItems" },
        { """{"type": "array", "items": [{"type": "string"}]}""", "items" },
        { """{"type": "object", "patternProperties": {"^x": {}}}""", "patternProperties" },
        { """{"type": "object", "required": ["a"]}""", "required" },
        { """{"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}], "type": "string"}}}""", "anyOf" },
    };

    [Theory]
    [MemberData(nameof(UnsupportedKeywords))]
    public void Unsupported_schema_keywords_fail_at_construction_naming_the_keyword(string schema, string keyword)
    {
        var vocab = Vocab("llama2");
        var ex = Assert.Throws<NotSupportedException>(() => TokenConstraints.JsonSchema(vocab, JsonNode.Parse(schema)!));
        Assert.Contains($"'{keyword}'", ex.Message);
        output.WriteLine(ex.Message);
    }

    [Fact]
    public void Malformed_schemas_fail_at_construction()
    {
        var vocab = Vocab("llama2");
        Assert.Throws<ArgumentException>(() => TokenConstraints.JsonSchema(vocab, JsonNode.Parse("""{"type": "strnig"}""")!));
        Assert.Throws<ArgumentException>(() => TokenConstraints.JsonSchema(vocab, JsonNode.Parse("""{"type": "array", "minItems": 3, "maxItems": 2}""")!));
        Assert.Throws<ArgumentException>(() => TokenConstraints.JsonSchema(vocab, JsonNode.Parse("""{"type": "integer", "enum": ["a", "b"]}""")!));
        Assert.Throws<ArgumentException>(() => TokenConstraints.Choice(vocab, []));
    }

    /// <summary>
    /// Time of one MaskLogits call on the largest fixture vocabulary (qwen2.5, 151,665 ids) in the middle of a JSON object:
    /// inside a string (nearly every token allowed: the whole trie is walked) and before a key (few allowed).
    /// The bound is loose (shared build machines); the numbers are in the test output.
    /// </summary>
    [Fact]
    public void Mask_time_on_the_largest_vocabulary()
    {
        var sw0 = Stopwatch.StartNew();
        var vocab = TokenVocabulary.FromTokenizer(Scalpel.Tests.Text.TokenizerFixtures.Load(Qwen), StopIds(Qwen));
        output.WriteLine($"vocabulary {vocab.Count} ids, trie {vocab.Nodes.Length} nodes, built in {sw0.ElapsedMilliseconds} ms");
        sw0.Restart();
        var grammar = TokenGrammar.JsonSchema(vocab, JsonNode.Parse(ConstrainedSamplingTests.Schemas["nested-enum"])!);
        output.WriteLine($"nested-enum schema: {grammar.StateCount} states, compiled in {sw0.ElapsedMilliseconds} ms");
        sw0.Restart();
        var anyObject = TokenGrammar.JsonObject(vocab);
        output.WriteLine($"any JSON object (depth {TokenGrammar.DefaultFreeFormDepth}): {anyObject.StateCount} states, compiled in {sw0.ElapsedMilliseconds} ms");
        var logits = new float[vocab.Count];
        foreach (var (what, tokens) in new[]
        {
            ("inside a string value", new[] { "{\"", "name", "\":", "Ġ\"", "Bo" }),
            ("before a key", new[] { "{\"", "name", "\":", "Ġ\"", "Bo", "\",", "Ġ" }),
            ("after a key's colon", new[] { "{\"", "name", "\":", "Ġ\"", "Bo", "\",", "Ġ\"", "role", "\":" }),
        })
        {
            var c = (GrammarConstraint)After(grammar, tokens);
            var walk = Time(() => c.MaskLogits(logits, useCache: false));
            var cached = Time(() => c.MaskLogits(logits));
            int open = logits.Count(l => !float.IsNegativeInfinity(l));
            output.WriteLine($"{what}: trie walk median {walk[walk.Count / 2]:F2} ms (min {walk[0]:F2}), cached median {cached[cached.Count / 2]:F2} ms, {open} tokens allowed");
            Assert.True(walk[walk.Count / 2] < 100, $"{what}: {walk[walk.Count / 2]} ms");
        }

        static List<double> Time(Action mask)
        {
            for (int i = 0; i < 5; i++) mask();   // warm up
            var times = new List<double>();
            for (int i = 0; i < 30; i++)
            {
                var sw = Stopwatch.StartNew();
                mask();
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            return times;
        }
    }
}
