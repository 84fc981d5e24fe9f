using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>The fixed goldens: llama.cpp's vocab test vectors (HF encode without special tokens) and onnxruntime-extensions' assertions.</summary>
public class TokenizerConformanceTests
{
    [Theory]
    [InlineData("llama3", "llama-bpe", 46)]
    [InlineData("qwen2.5", "qwen2", 46)]
    [InlineData("llama2", "llama-spm", 46)]
    [InlineData("phi-3-mini", "phi-3", 46)]
    public void VocabTestsPassTokenForToken(string tokenizer, string vocab, int expectedCases)
    {
        var tok = TokenizerFixtures.Load(tokenizer);
        var cases = TokenizerFixtures.VocabCases(vocab);
        Assert.Equal(expectedCases, cases.Count);
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var got = tok.Encode(text, addSpecialTokens: false);
            if (!got.SequenceEqual(ids))
                failures.Add($"{Escape(text)}\n  expected {string.Join(' ', ids)}\n  got      {string.Join(' ', got)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count}/{cases.Count} cases differ:\n" + string.Join('\n', failures));
    }

    /// <summary>phi-2 is GPT-2's BPE plus 39 whitespace tokens: the cases without runs of spaces or tabs match gpt-2's vectors.</summary>
    [Fact]
    public void Phi2MatchesGpt2WhereItsWhitespaceTokensDoNotApply()
    {
        var tok = TokenizerFixtures.Load("phi-2");
        var cases = TokenizerFixtures.VocabCases("gpt-2");
        int passed = 0;
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var got = tok.Encode(text, addSpecialTokens: false);
            if (got.SequenceEqual(ids)) { passed++; continue; }
            bool whitespaceRun = text.Contains("  ", StringComparison.Ordinal) || text.Contains("\t\t", StringComparison.Ordinal);
            if (!whitespaceRun) failures.Add($"{Escape(text)}: expected {string.Join(' ', ids)} got {string.Join(' ', got)}");
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.Equal(39, passed);
    }

    [Fact]
    public void OnnxruntimeExtensionsAssertions()
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "tokenizers", "expected.json")))!;
        int checkedCases = 0;
        foreach (var c in root["cases"]!.AsArray())
        {
            var tok = TokenizerFixtures.Load((string)c!["tokenizer"]!);
            if (c["input"] is { } inputNode)
            {
                string input = (string)inputNode!;
                bool bosExpected = c["note"]?.ToString().Contains("add_bos_token=true", StringComparison.Ordinal) == true;
                var ids = tok.Encode(input, addSpecialTokens: bosExpected);
                if (c["expected_ids"] is JsonArray expected) Assert.Equal(expected.Select(x => (int)x!).ToArray(), ids);
                if (c["expected_count"] is { } count) Assert.Equal((int)count, ids.Length);
                if (c["expected_last_id"] is { } last) Assert.Equal((int)last, ids[^1]);
                if (c["roundtrip"] is { } rt && (bool)rt) Assert.Equal(input, tok.Decode(ids, skipSpecialTokens: true));
            }
            if (c["decode_ids"] is JsonArray decodeIds)
            {
                // The assertion's point: the invalid UTF-8 of id 252 ("ŀ" = byte 0xF0) decodes to U+FFFD. Its "suffix" is
                // onnxruntime-extensions' own output; Hugging Face decodes the bytes lossily in place, so the U+FFFD sits
                // where the bad byte is (transformers.js gives the same string).
                string text = tok.Decode(decodeIds.Select(x => (int)x!).ToArray());
                Assert.Contains((string)c["expected_decoded_suffix"]!, text);
                Assert.Equal(" virtuella '\uFFFDepochs for instance", text);
            }
            checkedCases++;
        }
        Assert.Equal(7, checkedCases);
    }

    internal static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s, Scalpel.Tests.Text.TokenizerJsonContext.Default.String);
}
