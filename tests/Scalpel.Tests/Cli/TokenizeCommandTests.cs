using System.Text.Json.Nodes;
using Scalpel.Tests.Text;
using Xunit;

namespace Scalpel.Tests.Cli;

[Collection("console")]
public class TokenizeCommandTests
{
    private static (int Code, string Out, string Err) Run(string stdin, params string[] args) => CliRunner.RunWithInput(stdin, args);

    [Fact]
    public void PrintsIdsAsTransformersEncodes()
    {
        string dir = TokenizerFixtures.Dir("llama3");
        var (code, output, err) = Run("Hello world", "tokenize", "--tokenizer", dir);
        Assert.True(code == 0, err);
        Assert.Equal("128000 9906 1917", output.Trim());
        Assert.Equal("9906 1917", Run("Hello world", "tokenize", "--no-special", "--tokenizer", dir).Out.Trim());
    }

    [Fact]
    public void JsonHasIdsAndTheirVocabularyStrings()
    {
        var (code, output, _) = Run("Hello world 🦙", "tokenize", "--tokenizer", TokenizerFixtures.Dir("llama3"), "--json");
        Assert.Equal(0, code);
        var json = JsonNode.Parse(output)!;
        var ids = json["ids"]!.AsArray().Select(x => (int)x!).ToArray();
        var tokens = json["tokens"]!.AsArray().Select(x => (string)x!).ToArray();
        var tok = TokenizerFixtures.Load("llama3");
        Assert.Equal(tok.Encode("Hello world 🦙"), ids);
        Assert.Equal(["<|begin_of_text|>", "Hello", "Ġworld"], tokens[..3]);
        Assert.Equal(ids.Select(tok.IdToToken), tokens);
    }

    [Fact]
    public void ReadsAFileToo()
    {
        string path = Path.Combine(Path.GetTempPath(), "scalpel-tokenize-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(path, "Hello world");
        try
        {
            var (code, output, _) = Run("", "tokenize", "--tokenizer", TokenizerFixtures.Dir("llama2"), path);
            Assert.Equal(0, code);
            Assert.Equal("1 15043 3186", output.Trim());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadFolderIsOneLineAndExitCodeOne()
    {
        var (code, _, err) = Run("x", "tokenize", "--tokenizer", "/nonexistent/tokenizer");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/tokenizer", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("tokenize")]
    [InlineData("tokenize", "--json")]
    [InlineData("tokenize", "--tokenizer")]
    [InlineData("tokenize", "--tokenizer", "x", "--frobnicate")]
    public void BadUseIsExitCodeTwo(params string[] args)
    {
        var (code, _, err) = Run("", args);
        Assert.Equal(2, code);
        Assert.Contains("usage: scalpel tokenize", err);
    }
}
