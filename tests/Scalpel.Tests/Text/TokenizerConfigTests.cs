using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text;

public class TokenizerConfigTests
{
    [Fact]
    public void ReadsRealConfigs()
    {
        var llama3 = TokenizerConfig.FromDirectory(Path.Combine(RepoPaths.Fixtures, "tokenizers", "llama3"));
        Assert.Equal("<|begin_of_text|>", llama3.BosToken);
        Assert.Contains(llama3.AddedTokens, t => t.Id == 128009 && t.Content == "<|eot_id|>" && t.Special);

        var llama2 = TokenizerConfig.FromDirectory(Path.Combine(RepoPaths.Fixtures, "tokenizers", "llama2"));
        Assert.Equal("<s>", llama2.BosToken);
        Assert.Equal("</s>", llama2.EosToken);
    }

    [Fact]
    public void TemplateListPicksDefaultAndKeepsNamed()
    {
        var c = TokenizerConfig.Parse("""{"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]}""", "x.json");
        Assert.Equal("A", c.ChatTemplate);
        Assert.Equal("B", c.NamedChatTemplates["tool_use"]);
    }

    [Theory]
    [InlineData("""{"bos_token": 3}""", "bos_token")]
    [InlineData("""{"chat_template": 5}""", "chat_template")]
    [InlineData("""{"add_bos_token": "yes"}""", "add_bos_token")]
    [InlineData("""[1]""", "JSON object")]
    [InlineData("""{"a": """, "invalid JSON")]
    public void BadFieldsAreNamed(string json, string expected)
    {
        var e = Assert.Throws<TokenizerConfigException>(() => TokenizerConfig.Parse(json, "tokenizer_config.json"));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
