using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>
/// ../shared/fixtures/chat-templates/goldens.json: renderings recorded from llama.cpp's and onnxruntime-extensions'
/// C++ tests (re-checked with Python Jinja2 under transformers' settings). Every case must render exactly, satisfy its
/// contains/not_contains, or fail as expect_error says. Where an expectation depends on the source engine's own input
/// preprocessing (plain_jinja2_reproduces_expected = false), the case's messages_polyfilled / messages_normalized /
/// tools_normalized inputs are rendered instead, as the fixtures README prescribes.
/// </summary>
public class ChatTemplateGoldenTests
{
    private static readonly Lazy<JsonObject> Goldens = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "chat-templates", "goldens.json")))!.AsObject());

    private static IEnumerable<(string Id, JsonObject Case)> AllCases()
    {
        foreach (var group in new[] { "llama_cpp", "onnxruntime_extensions" })
        {
            var cases = Goldens.Value[group]!["cases"]!.AsArray();
            for (int i = 0; i < cases.Count; i++) yield return ($"{group}[{i}] {(string)cases[i]!["name"]!}", cases[i]!.AsObject());
        }
    }

    private static bool Unsupported(JsonObject c) => c["supported_with_jinja"] is JsonValue v && !(bool)v;

    public static TheoryData<string> SupportedCases()
    {
        var data = new TheoryData<string>();
        foreach (var (id, c) in AllCases()) if (!Unsupported(c)) data.Add(id);
        return data;
    }

    /// <summary>Cases the fixtures mark as not renderable through Jinja (expected: null): only GigaChat, which llama.cpp
    /// formats with hard-coded code because its template needs tokens the test does not provide.</summary>
    [Fact]
    public void OnlyGigaChatIsMarkedUnsupported()
    {
        var skipped = AllCases().Where(x => Unsupported(x.Case)).Select(x => x.Id).ToList();
        Assert.Equal(["llama_cpp[27] ai-sage/GigaChat-20B-A3B-instruct"], skipped);
        Assert.Equal(72, AllCases().Count());
    }

    [Theory]
    [MemberData(nameof(SupportedCases))]
    public void RendersLikeTheGolden(string id)
    {
        var c = AllCases().Single(x => x.Id == id).Case;
        bool plain = c["plain_jinja2_reproduces_expected"] is not JsonValue p || (bool)p;
        var messages = (plain ? c["messages"] : c["messages_polyfilled"] ?? c["messages_normalized"] ?? c["messages"])!;
        var tools = plain ? c["tools"] : c["tools_normalized"] ?? c["tools"];
        var context = new JsonObject
        {
            ["messages"] = messages.DeepClone(),
            ["bos_token"] = c["bos_token"]?.DeepClone(),
            ["eos_token"] = c["eos_token"]?.DeepClone(),
            ["add_generation_prompt"] = c["add_generation_prompt"]!.DeepClone(),
        };
        if (tools is not null) context["tools"] = tools.DeepClone();
        string source = (string)c["template"]!;

        if (c["expect_error"] is JsonValue err && (bool)err)
        {
            var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(source, id).Render(context));
            Assert.True(e.Line >= 1, e.Message);
            return;
        }
        string text = ChatTemplate.Parse(source, id).Render(context);
        if (c["expected"] is JsonValue expected) Assert.Equal((string)expected!, text);
        foreach (var s in c["contains"]?.AsArray() ?? []) Assert.Contains((string)s!, text);
        foreach (var s in c["not_contains"]?.AsArray() ?? []) Assert.DoesNotContain((string)s!, text);
        Assert.True(c["expected"] is not null || c["contains"] is not null, $"{id} has nothing to check");
    }

    /// <summary>Every case that names a template file carries that file's exact text.</summary>
    [Fact]
    public void InlineTemplatesMatchTheirFiles()
    {
        int files = 0;
        foreach (var (id, c) in AllCases())
        {
            if (c["template_file"] is not JsonValue f) continue;
            string path = Path.Combine(RepoPaths.Fixtures, "chat-templates", (string)f!);
            Assert.True(File.ReadAllText(path) == (string)c["template"]!, id);
            files++;
        }
        Assert.True(files > 20);
    }
}
