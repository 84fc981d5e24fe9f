using System.Text.Json.Nodes;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>Unusable tokenizer folders: one exception naming the file and the component (and its type), never a fallback.</summary>
public class TokenizerErrorTests
{
    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scalpel-tok-err-" + Guid.NewGuid().ToString("N"));
        public TempDir() => Directory.CreateDirectory(Path);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }

    private const string Minimal = """
        {"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
         "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
        """;

    private static TokenizerFormatException Load(string json)
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), json);
        return Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromDirectory(dir.Path));
    }

    private static string With(string field, string value)
    {
        var node = JsonNode.Parse(Minimal)!;
        var parts = field.Split('.');
        JsonNode target = node;
        foreach (var p in parts[..^1]) target = target[p]!;
        target[parts[^1]] = JsonNode.Parse(value);
        return node.ToJsonString();
    }

    [Fact]
    public void MinimalTokenizerWorks()
    {
        var tok = Tokenizer.FromJson(Minimal, new TokenizerConfig(), "t.json");
        Assert.Equal([2, 0], tok.Encode("aba"));
        Assert.Equal("ab a", tok.Decode([2, 0]));   // no decoder: tokens joined with spaces
        var stream = tok.CreateStreamingDecoder();
        Assert.Equal(["ab", " a", ""], new[] { stream.Append(2), stream.Append(0), stream.Flush() });
    }

    [Theory]
    [InlineData("model", """{"type": "Unigram", "vocab": [["a", 0.0]]}""", "Unigram")]
    [InlineData("model", """{"type": "WordPiece", "vocab": {"a": 0}}""", "WordPiece")]
    [InlineData("normalizer", """{"type": "BertNormalizer"}""", "BertNormalizer")]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}""", "normalizer.normalizers[1]")]
    [InlineData("pre_tokenizer", """{"type": "Whitespace"}""", "Whitespace")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]}""", "after ByteLevel")]
    [InlineData("post_processor", """{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]}""", "RobertaProcessing")]
    [InlineData("decoder", """{"type": "WordPiece", "prefix": "##"}""", "WordPiece")]
    [InlineData("model.merges", """["a c"]""", "merge 0")]
    [InlineData("model.merges", """["abc"]""", "model.merges[0]")]
    [InlineData("model.vocab", """{"a": "zero"}""", "model.vocab")]
    [InlineData("model.dropout", "0.1", "dropout")]
    [InlineData("model.unk_token", "\"<unk>\"", "unk_token")]
    [InlineData("pre_tokenizer", """{"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}""", "pre_tokenizer.pattern")]
    [InlineData("pre_tokenizer", """{"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways"}""", "Sideways")]
    [InlineData("post_processor", """{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}""", "<s>")]
    public void UnsupportedOrBrokenComponentsAreNamed(string field, string value, string expected)
    {
        var e = Load(With(field, value));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains(field.Split('.')[0], e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MalformedJsonNamesTheFile()
    {
        var e = Load("""{"model": {"type": "BPE", """);
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("invalid JSON", e.Message);
        Assert.Contains("model", Load("""{"normalizer": null}""").Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromDirectory(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "tokenizer.json"), e.Message);
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.model"), "x");
        Assert.Contains("tokenizer.model", Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromDirectory(dir.Path)).Message);
        string missing = Path.Combine(dir.Path, "nope");
        Assert.Contains(missing, Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromDirectory(missing)).Message);
    }

    [Fact]
    public void BadTokenizerConfigNamesItsFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), Minimal);
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"add_bos_token": "yes"}""");
        var e = Assert.Throws<TokenizerConfigException>(() => Tokenizer.FromDirectory(dir.Path));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("add_bos_token", e.Message);
    }
}
