using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Text;
using Scalpel.Text.Tokenization;
using Scalpel.Text.Tokenization.Unicode;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>Single behaviours of the tokenizer, each with the Hugging Face semantics it follows.</summary>
public class TokenizerUnitTests
{
    private static Tokenizer Llama3 => TokenizerFixtures.Load("llama3");
    private static Tokenizer Llama2 => TokenizerFixtures.Load("llama2");

    [Fact]
    public void KnownIdsAndOffsets()
    {
        var l3 = Llama3.EncodeWithOffsets("Hello world");
        Assert.Equal([128000, 9906, 1917], l3.Ids);
        Assert.Equal([(0, 0), (0, 5), (5, 11)], l3.Offsets);

        // SentencePiece-style: the prepended ▁ stands for the first character, "▁world" for " world"
        var l2 = Llama2.EncodeWithOffsets("Hello world");
        Assert.Equal([1, 15043, 3186], l2.Ids);
        Assert.Equal([(0, 0), (0, 5), (5, 11)], l2.Offsets);

        // a character split over several byte-level tokens: every piece covers the whole character
        var llama = Llama3.EncodeWithOffsets("🦙", addSpecialTokens: false);
        Assert.True(llama.Ids.Length > 1);
        Assert.All(llama.Offsets, o => Assert.Equal((0, 2), o));

        var empty = Llama3.EncodeWithOffsets("");
        Assert.Equal([128000], empty.Ids);
        Assert.Equal([(0, 0)], empty.Offsets);
        Assert.Empty(TokenizerFixtures.Load("qwen2.5").Encode(""));
    }

    [Fact]
    public void VocabularySizesAndSpecialIds()
    {
        Assert.Equal(128256, Llama3.VocabSize);
        Assert.Equal((128000, 128001, 128001), (Llama3.BosTokenId, Llama3.EosTokenId, Llama3.PadTokenId));
        var qwen = TokenizerFixtures.Load("qwen2.5");
        Assert.Equal(151665, qwen.VocabSize);
        Assert.Equal((null, 151645, 151643), (qwen.BosTokenId, qwen.EosTokenId, qwen.PadTokenId));
        Assert.Equal(32000, Llama2.VocabSize);
        Assert.Equal((1, 2, null), (Llama2.BosTokenId, Llama2.EosTokenId, Llama2.PadTokenId));
        Assert.Equal(32011, TokenizerFixtures.Load("phi-3-mini").VocabSize);
        Assert.Equal(50295, TokenizerFixtures.Load("phi-2").VocabSize);

        Assert.Equal(128009, Llama3.TokenToId("<|eot_id|>"));
        Assert.Equal("<|eot_id|>", Llama3.IdToToken(128009));
        Assert.Equal("Ġworld", Llama3.IdToToken(1917));
        Assert.True(Llama3.IsSpecial(128009));
        Assert.False(Llama3.IsSpecial(1917));
        Assert.Null(Llama3.TokenToId("no such token"));
        Assert.Null(Llama3.IdToToken(-1));
        Assert.Null(Llama3.IdToToken(999_999));
        // phi-3's </s> is an added token that is not special
        var phi3 = TokenizerFixtures.Load("phi-3-mini");
        Assert.False(phi3.IsSpecial(2));
        Assert.True(phi3.IsSpecial(32007));
    }

    [Fact]
    public void TokensOnlyInTokenizerConfigAreAddedWithTheirIds()
    {
        var tok = TokenizerFixtures.Load("added-tokens");
        Assert.Equal(32000, tok.TokenToId("<|endoftext|>"));
        Assert.Equal(32002, tok.TokenToId("<|placeholder1|>"));
        Assert.True(tok.IsSpecial(32001));
        Assert.Equal(32011, tok.VocabSize);
        Assert.Equal("<|assistant|>", tok.Decode([32001]));
        Assert.Equal("", tok.Decode([32001], skipSpecialTokens: true));
    }

    [Fact]
    public void LlamaTokenizerClassesTakeTheTemplateFromAddBosAndAddEos()
    {
        string json = File.ReadAllText(Path.Combine(TokenizerFixtures.Dir("llama2"), "tokenizer.json"));
        Tokenizer With(string config) => Tokenizer.FromJson(json, TokenizerConfig.Parse(config, "tokenizer_config.json"), "tokenizer.json");

        const string names = "\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"";
        Assert.Equal([1, 15043], With($$"""{"tokenizer_class": "LlamaTokenizer", {{names}}}""").Encode("Hello"));
        Assert.Equal([15043], With($$"""{"tokenizer_class": "LlamaTokenizerFast", "add_bos_token": false, {{names}}}""").Encode("Hello"));
        Assert.Equal([1, 15043, 2], With($$"""{"tokenizer_class": "LlamaTokenizer", "add_eos_token": true, {{names}}}""").Encode("Hello"));
        Assert.Equal([15043], With($$"""{"tokenizer_class": "LlamaTokenizer", "add_eos_token": true, {{names}}}""").Encode("Hello", addSpecialTokens: false));
        // other classes keep tokenizer.json's post-processor, whatever the flags say
        Assert.Equal([1, 15043], With($$"""{"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, {{names}}}""").Encode("Hello"));
        var e = Assert.Throws<TokenizerFormatException>(() => With("""{"tokenizer_class": "LlamaTokenizer", "add_eos_token": true, "bos_token": "<s>"}"""));
        Assert.Contains("add_eos_token", e.Message);
    }

    /// <summary>
    /// Llama-2's added tokens are "normalized": Hugging Face matches them in the normalized text with a normalized
    /// pattern, "▁&lt;s&gt;". After a space (or at the start) "&lt;s&gt;" is the token; glued to a character it is plain
    /// text (transformers.js differs here: it also takes any leftover piece equal to a token's content).
    /// </summary>
    [Fact]
    public void NormalizedAddedTokensNeedTheirPrependedMetaspace()
    {
        Assert.Equal([1, 29966, 29879, 29958], Llama2.Encode("<s><s>", addSpecialTokens: false));
        Assert.Equal([263, 1], Llama2.Encode("a <s>", addSpecialTokens: false));
        var enc = Llama2.EncodeWithOffsets("a <s>", addSpecialTokens: false);
        Assert.Equal((1, 5), enc.Offsets[1]);   // the ▁ of "▁<s>" is the space before it
        Assert.Equal("<s>", Llama2.IdToToken(Llama2.Encode("x <s> y", addSpecialTokens: false)[1]));
    }

    [Fact]
    public void RstripTokensSwallowTheWhiteSpaceAfterThem()
    {
        var phi3 = TokenizerFixtures.Load("phi-3-mini");
        var enc = phi3.EncodeWithOffsets("<|user|>\n  Hi", addSpecialTokens: false);
        Assert.Equal(32010, enc.Ids[0]);
        Assert.Equal((0, 11), enc.Offsets[0]);
        Assert.Equal(phi3.Encode("<|user|>Hi", addSpecialTokens: false), enc.Ids);
    }

    [Fact]
    public void DecodeFollowsTransformers()
    {
        // clean_up_tokenization_spaces (llama3's config sets it; qwen's does not)
        Assert.Equal("Hello. I'm here!", Llama3.Decode(Llama3.Encode("Hello . I 'm here !"), skipSpecialTokens: true));
        var qwen = TokenizerFixtures.Load("qwen2.5");
        Assert.Equal("Hello . I 'm", qwen.Decode(qwen.Encode("Hello . I 'm")));
        // unknown ids are skipped, as the Rust tokenizer does
        Assert.Equal("Hello", Llama3.Decode([-1, 999_999, 9906]));
        // a byte-fallback run that is not valid UTF-8: one U+FFFD per byte (Rust's ByteFallback decoder)
        int e2 = Llama2.TokenToId("<0xE2>")!.Value, x82 = Llama2.TokenToId("<0x82>")!.Value, xac = Llama2.TokenToId("<0xAC>")!.Value;
        Assert.Equal("\uFFFD\uFFFD", Llama2.Decode([e2, x82]));
        Assert.Equal("€", Llama2.Decode([e2, x82, xac]));
        Assert.Equal("\uFFFD\uFFFD\uFFFD\uFFFD", Llama2.Decode([e2, x82, xac, e2]));
        // SentencePiece decoding: the leading space goes, special tokens stay unless skipped
        Assert.Equal("<s> Hello", Llama2.Decode([1, 15043]));
        Assert.Equal("Hello", Llama2.Decode([1, 15043], skipSpecialTokens: true));
    }

    [Fact]
    public void StreamingHoldsACharacterUntilItsBytesAreComplete()
    {
        // llama2 has no token for 😀: four <0xNN> tokens, held until the byte run ends
        var ids = Llama2.Encode("a😀b", addSpecialTokens: false);
        var stream = Llama2.CreateStreamingDecoder();
        var pieces = ids.Select(stream.Append).ToList();
        pieces.Add(stream.Flush());
        Assert.Equal("a😀b", string.Concat(pieces));
        Assert.Equal(["a", "", "", "", "", "😀b", ""], pieces);

        // byte-level: a character spread over two tokens comes out whole
        var l3 = Llama3.Encode("龘龘", addSpecialTokens: false);
        var s3 = Llama3.CreateStreamingDecoder();
        var p3 = l3.Select(s3.Append).ToList();
        p3.Add(s3.Flush());
        Assert.Equal("龘龘", string.Concat(p3));
        Assert.All(p3, p => TokenizerDifferentialTests.AssertWholeCharacters(p, "龘龘"));

        // invalid bytes at the end become U+FFFD on Flush, as Decode gives them
        int e2 = Llama2.TokenToId("<0xE2>")!.Value;
        var s2 = Llama2.CreateStreamingDecoder();
        Assert.Equal("", s2.Append(e2));
        Assert.Equal("\uFFFD", s2.Flush());

        // cleanup (llama3): " ." is held until the next piece shows whether it is " ."
        var s = Llama3.CreateStreamingDecoder(skipSpecialTokens: true);
        var cleaned = Llama3.Encode("Hi . There 'm").Select(s.Append).ToList();
        cleaned.Add(s.Flush());
        Assert.Equal("Hi. There'm", string.Concat(cleaned));
    }

    [Fact]
    public void LoneSurrogatesReadAsReplacementCharacters()
    {
        Assert.Equal(Llama3.Encode("a\uFFFDb"), Llama3.Encode("a\uD800b"));
        Assert.Equal(Llama2.Encode("a\uFFFDb"), Llama2.Encode("a\uDC00b"));
    }

    [Fact]
    public void EncodingFromManyThreadsGivesTheSameIds()
    {
        var inputs = TokenizerInputs.Generate(5, 300, ["<|eot_id|>"]);
        var expected = inputs.Select(t => Llama3.Encode(t)).ToArray();
        var got = new int[inputs.Count][];
        Parallel.For(0, inputs.Count * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int k = i % inputs.Count;
            var ids = i % 2 == 0 ? Llama3.Encode(inputs[k]) : Llama3.EncodeWithOffsets(inputs[k]).Ids;
            Assert.Equal(expected[k], ids);
            got[k] = ids;
        });
        Assert.All(got, Assert.NotNull);
    }

    // ---- pre-tokenizer patterns ----

    public static TheoryData<string> Patterns => new() { SplitPattern.Gpt2Regex, SplitPattern.Llama3Regex, SplitPattern.Qwen2Regex };

    /// <summary>The hand-written scanners give the same matches as the regex they implement (run by .NET over code-point stand-ins).</summary>
    [Theory]
    [MemberData(nameof(Patterns))]
    public void ScannersMatchTheRegexTheyImplement(string pattern)
    {
        var scanner = SplitPattern.ForRegex(pattern);
        var regex = new DotNetRegexPattern(pattern);
        Assert.IsAssignableFrom<TilingScanner>(scanner);
        var rng = new Random(pattern.Length);
        string[] atoms =
        [
            "a", "Z", "é", "ß", "ж", "日", "ᄀ", "1", "٣", "½", "Ⅻ", "²", " ", "  ", "\t", "\n", "\r", "\r\n", "\u00A0", "\u3000", "\u2028",
            "\u0085", "\uFEFF", "'", "'s", "'S", "'t", "'RE", "'ve", "'M", "'Ll", "'d", "'ſ", "'x", ".", ",", "!", "(", "-", "_", "😀", "👍🏽",
            "𝐀", "𝟙", "𐌰", "𠀀", "\u0301", "\u200D", "\uFE0F", "<", ">", "|", "\\",
        ];
        for (int n = 0; n < 3000; n++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(0, 14);
            for (int i = 0; i < len; i++) sb.Append(atoms[rng.Next(atoms.Length)]);
            string s = sb.ToString();
            List<(int, int)> a = [], b = [];
            scanner.FindMatches(s, a);
            regex.FindMatches(s, b);
            Assert.True(a.SequenceEqual(b), $"{TokenizerConformanceTests.Escape(s)}: scanner {string.Join(' ', a)} regex {string.Join(' ', b)}");
        }
    }

    /// <summary>\s is Unicode White_Space (Oniguruma, Rust): U+0085 is white space, U+FEFF is not (JavaScript's \s says the opposite).</summary>
    [Fact]
    public void WhiteSpaceIsUnicodeWhiteSpace()
    {
        static string[] Pieces(string s)
        {
            List<(int Start, int End)> m = [];
            SplitPattern.ForRegex(SplitPattern.Gpt2Regex).FindMatches(s, m);
            return m.Select(x => s[x.Start..x.End]).ToArray();
        }
        Assert.Equal(["a", " ", "\u0085", "b"], Pieces("a \u0085b"));
        Assert.Equal(["a", " \uFEFF", "b"], Pieces("a \uFEFFb"));
        Assert.Equal(["Hello", " world", "'s", " 🦙", "  ", " x"], Pieces("Hello world's 🦙   x"));
    }

    [Fact]
    public void SplitBehavioursFollowHuggingFace()
    {
        static string[] Run(SplitBehavior behavior, bool invert = false)
        {
            var text = NormText.Original("a-b--c", track: false);
            var output = new List<Piece>();
            new SplitPreTokenizer(SplitPattern.ForString("-"), behavior, invert).Split([new Piece(text, 0, 6)], output, new Scratch());
            return output.Select(p => p.Span.ToString()).ToArray();
        }
        Assert.Equal(["a", "b", "c"], Run(SplitBehavior.Removed));
        Assert.Equal(["a", "-", "b", "-", "-", "c"], Run(SplitBehavior.Isolated));
        Assert.Equal(["a-", "b-", "-", "c"], Run(SplitBehavior.MergedWithPrevious));
        Assert.Equal(["a", "-b", "-", "-c"], Run(SplitBehavior.MergedWithNext));
        Assert.Equal(["a", "-", "b", "--", "c"], Run(SplitBehavior.Contiguous));
        Assert.Equal(["-", "-", "-"], Run(SplitBehavior.Removed, invert: true));
    }

    [Fact]
    public void DigitsAndMetaspace()
    {
        static string[] Run(PreTokenizer pre, string s)
        {
            var output = new List<Piece>();
            pre.Split([new Piece(NormText.Original(s, track: false), 0, s.Length)], output, new Scratch());
            return output.Select(p => p.Span.ToString()).ToArray();
        }
        Assert.Equal(["abc", "1", "2", "3", "٣", "x"], Run(new DigitsPreTokenizer(true), "abc123٣x"));
        Assert.Equal(["abc", "123٣", "x"], Run(new DigitsPreTokenizer(false), "abc123٣x"));
        Assert.Equal(["▁Hello", "▁", "▁world"], Run(new MetaspacePreTokenizer('▁', PrependScheme.Always, split: true), "Hello  world"));
        Assert.Equal(["▁Hello▁world"], Run(new MetaspacePreTokenizer('▁', PrependScheme.First, split: false), "Hello world"));
        Assert.Equal(["Hello▁world"], Run(new MetaspacePreTokenizer('▁', PrependScheme.Never, split: false), "Hello world"));
        // Rust's Metaspace decoder drops every ▁ of the first token
        Assert.Equal(["Hello", " world"], new MetaspaceDecoder('▁', dropFirst: true).DecodeChain(["▁▁Hello", "▁world"]));
    }

    // ---- Unicode normalization ----

    /// <summary>Scalpel's NFC/NFD/NFKC/NFKD against ICU (node's String.prototype.normalize) on generated text.</summary>
    [Fact]
    public void UnicodeNormalizationMatchesIcu()
    {
        var rng = new Random(11);
        (int, int)[] ranges =
        [
            (0x41, 0x7A), (0xC0, 0x17F), (0x1E00, 0x1EFF), (0x300, 0x36F), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0), (0x370, 0x3FF), (0x1F00, 0x1FFF),
            (0x400, 0x4FF), (0x5B0, 0x5EA), (0x900, 0x97F), (0x9BE, 0x9D7), (0xB3E, 0xB57), (0xBBE, 0xBD7), (0xCC0, 0xCD6), (0xD3E, 0xD57),
            (0x1100, 0x11FF), (0xAC00, 0xACFF), (0x3099, 0x309A), (0x3040, 0x30FF), (0x2000, 0x2100), (0x2150, 0x218B), (0x2460, 0x24FF),
            (0x3300, 0x33FF), (0xF900, 0xFA6D), (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D15E, 0x1D164), (0x1D400, 0x1D7FF), (0x2F800, 0x2FA1D),
            (0x0F71, 0x0F81), (0x1B05, 0x1B44), (0x110B9, 0x110BA), (0x11131, 0x11134),
        ];
        var inputs = new List<string>();
        for (int n = 0; n < 3000; n++)
        {
            var sb = new StringBuilder();
            int len = rng.Next(1, 10);
            for (int i = 0; i < len; i++)
            {
                var (lo, hi) = ranges[rng.Next(ranges.Length)];
                int cp = rng.Next(lo, hi + 1);
                if (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(cp) == System.Globalization.UnicodeCategory.OtherNotAssigned) cp = 'q';
                sb.Append(char.ConvertFromUtf32(cp));
            }
            inputs.Add(sb.ToString());
        }
        var (_, icu) = TokenizerJsOracle.Run(null, [], inputs);
        var failures = new List<string>();
        var forms = new (string Name, NormalForm Form)[] { ("NFC", NormalForm.Nfc), ("NFD", NormalForm.Nfd), ("NFKC", NormalForm.Nfkc), ("NFKD", NormalForm.Nfkd) };
        for (int i = 0; i < inputs.Count; i++)
        {
            foreach (var (name, form) in forms)
            {
                string ours = UnicodeNormalizer.Normalize(inputs[i], form);
                string viaPipeline = new UnicodeFormNormalizer(form).Apply(inputs[i]);
                if (ours != icu[i][name] || viaPipeline != icu[i][name])
                    failures.Add($"{name} {TokenizerConformanceTests.Escape(inputs[i])}: icu {TokenizerConformanceTests.Escape(icu[i][name])} scalpel {TokenizerConformanceTests.Escape(ours)} / {TokenizerConformanceTests.Escape(viaPipeline)}");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join('\n', failures.Take(12)));
    }

    [Fact]
    public void NormalizedTextKeepsTrackOfTheOriginal()
    {
        // "e" + combining acute → "é": the composed character stands for the "e" it came from (as Hugging Face aligns it)
        var src = NormText.Original("xe\u0301y", track: true);
        var p = new UnicodeFormNormalizer(NormalForm.Nfc).Apply(new Piece(src, 0, 4));
        Assert.Equal("xéy", p.Span.ToString());
        Assert.Equal((1, 2), p.Source.OriginalRange(1, 2));
        Assert.Equal((3, 4), p.Source.OriginalRange(2, 3));
        // "ﬁ" → "fi" under NFKC: both letters stand for the ligature
        var lig = new UnicodeFormNormalizer(NormalForm.Nfkc).Apply(new Piece(NormText.Original("aﬁ", track: true), 0, 2));
        Assert.Equal("afi", lig.Span.ToString());
        Assert.Equal((1, 2), lig.Source.OriginalRange(1, 2));
        Assert.Equal((1, 2), lig.Source.OriginalRange(2, 3));
        // canonical reordering moves the marks, not the positions they stand for (offsets stay in order)
        var reordered = new UnicodeFormNormalizer(NormalForm.Nfc).Apply(new Piece(NormText.Original("x\u0311\u094D", track: true), 0, 3));
        Assert.Equal("x\u094D\u0311", reordered.Span.ToString());
        Assert.Equal([(0, 1), (1, 2), (2, 3)], Enumerable.Range(0, 3).Select(i => reordered.Source.OriginalRange(i, i + 1)));
        // an untouched string is returned as is
        var same = new Piece(NormText.Original("plain", track: true), 0, 5);
        Assert.Equal(same, new UnicodeFormNormalizer(NormalForm.Nfc).Apply(same));
    }

    [Fact]
    public void NormalizerIsUsedForNormalizedAddedTokenPatterns()
    {
        // a JSON tokenizer whose added token is normalized by NFKC: "ｈｉ" in text becomes the token "hi"
        var json = new JsonObject
        {
            ["normalizer"] = JsonNode.Parse("""{"type": "NFKC"}"""),
            ["added_tokens"] = JsonNode.Parse("""[{"id": 3, "content": "ｈｉ", "normalized": true, "special": false}]"""),
            ["model"] = JsonNode.Parse("""{"type": "BPE", "vocab": {"h": 0, "i": 1, "x": 2}, "merges": []}"""),
        };
        var tok = Tokenizer.FromJson(json.ToJsonString(), new TokenizerConfig(), "t.json");
        Assert.Equal([2, 3, 2], tok.Encode("xhix"));
        Assert.Equal([2, 3, 2], tok.Encode("xｈｉx"));
    }
}
