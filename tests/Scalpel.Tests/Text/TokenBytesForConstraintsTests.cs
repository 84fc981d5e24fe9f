using System.Text;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>
/// Tokenizer.TokenBytes, the raw bytes one token adds to the text (what constrained decoding works on), checked against
/// the texts the llama.cpp vocab tests encode and against llama3's tiktoken ranks file.
/// </summary>
public class TokenBytesForConstraintsTests
{
    public static TheoryData<string, string> Pairs => new()
    {
        { "llama3", "llama-bpe" }, { "qwen2.5", "qwen2" }, { "llama2", "llama-spm" }, { "phi-3-mini", "phi-3" }, { "phi-2", "gpt-2" },
    };

    /// <summary>
    /// Concatenating TokenBytes over the ids of an encoded text gives the text's UTF-8. What holds exactly: byte-level
    /// tokenizers give the text itself; the SentencePiece-style ones (normalizer Prepend ▁ + Replace " " → ▁) give a space
    /// in front of a non-empty text, which their decoder's Strip removes from the whole text but a single token keeps.
    /// Qwen2.5 normalizes to NFC first, so its texts are compared after NFC.
    /// </summary>
    [Theory]
    [MemberData(nameof(Pairs))]
    public void Concatenated_token_bytes_equal_the_encoded_text(string tokenizerName, string vocab)
    {
        var tokenizer = TokenizerFixtures.Load(tokenizerName);
        bool metaspace = tokenizerName is "llama2" or "phi-3-mini";
        var cases = TokenizerFixtures.VocabCases(vocab);
        string[] extra = ["{\"name\": \"Zoë\", \"tags\": [\"a\", \"b\"]}\n", "emoji 🦙🚀 and 中文 and \t tabs", "\\u00e9 \"quoted\""];
        int checkedCases = 0;
        foreach (string raw in cases.Select(c => c.Text).Concat(extra))
        {
            string text = tokenizerName == "qwen2.5" ? raw.Normalize(NormalizationForm.FormC) : raw;
            int[] ids = tokenizer.Encode(text, addSpecialTokens: false);
            var bytes = ids.SelectMany(tokenizer.TokenBytes).ToArray();
            string expected = metaspace && text.Length > 0 ? " " + text : text;
            Assert.True(Encoding.UTF8.GetBytes(expected).AsSpan().SequenceEqual(bytes),
                $"{tokenizerName}: \"{text}\" gave \"{Encoding.UTF8.GetString(bytes)}\"");
            checkedCases++;
        }
        Assert.True(checkedCases >= 40);
    }

    /// <summary>Every one of llama3's 128,000 BPE ids against tokenizer.model, tiktoken's "base64(bytes) rank" list.</summary>
    [Fact]
    public void Llama3_token_bytes_match_the_tiktoken_ranks_file()
    {
        var tokenizer = TokenizerFixtures.Load("llama3");
        int n = 0;
        foreach (string line in File.ReadLines(Path.Combine(TokenizerFixtures.Dir("llama3"), "tokenizer.model")))
        {
            if (line.Length == 0) continue;
            var parts = line.Split(' ');
            byte[] expected = Convert.FromBase64String(parts[0]);
            int rank = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(expected.AsSpan().SequenceEqual(tokenizer.TokenBytes(rank)), $"id {rank}");
            n++;
        }
        Assert.Equal(128000, n);
    }

    [Fact]
    public void SentencePiece_byte_fallback_tokens_are_their_byte_and_special_tokens_are_empty()
    {
        var tokenizer = TokenizerFixtures.Load("llama2");
        for (int b = 0; b < 256; b++)
        {
            int id = tokenizer.TokenToId($"<0x{b:X2}>") ?? throw new InvalidOperationException($"<0x{b:X2}> missing");
            Assert.Equal([(byte)b], tokenizer.TokenBytes(id));
        }
        Assert.Equal(" the"u8.ToArray(), tokenizer.TokenBytes(tokenizer.TokenToId("▁the")!.Value));
        Assert.Empty(tokenizer.TokenBytes(tokenizer.EosTokenId!.Value));
        Assert.Empty(tokenizer.TokenBytes(tokenizer.BosTokenId!.Value));
        Assert.Empty(tokenizer.TokenBytes(-1));
        Assert.Empty(tokenizer.TokenBytes(tokenizer.VocabSize));

        var qwen = TokenizerFixtures.Load("qwen2.5");
        Assert.Empty(qwen.TokenBytes(qwen.TokenToId("<|im_end|>")!.Value));
        Assert.Equal("<tool_call>"u8.ToArray(), qwen.TokenBytes(qwen.TokenToId("<tool_call>")!.Value));   // added, not special
        Assert.Equal(" the"u8.ToArray(), qwen.TokenBytes(qwen.TokenToId("Ġthe")!.Value));
    }
}
