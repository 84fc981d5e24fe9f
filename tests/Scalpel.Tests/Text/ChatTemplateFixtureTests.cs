using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text;

/// <summary>
/// Every chat template in ../shared/fixtures/chat-templates rendered through <see cref="ChatTemplate.RenderConversation"/>
/// with standard conversations (system or not, multi-turn, unicode, tools with tool calls in three argument styles,
/// reasoning), with and without add_generation_prompt, against what Python Jinja2 with transformers' environment
/// produced (Jinja/python-jinja2-templates.json): the same text, the same {% generation %} spans, and an error
/// exactly where Python raised one (e.g. Gemma's "System role not supported").
/// </summary>
public class ChatTemplateFixtureTests
{
    internal static readonly Lazy<JsonObject> Data = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Scalpel.Tests", "Text", "Jinja", "python-jinja2-templates.json")))!.AsObject());

    internal static readonly DateTime FixedNow = new(2024, 7, 26, 9, 5, 3);

    internal static ChatTemplate Load(string relativePath) =>
        new(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "chat-templates", relativePath)), relativePath)
        {
            BosToken = "<BOS>", EosToken = "<EOS>", Clock = () => FixedNow,
        };

    public static TheoryData<string> Templates()
    {
        var data = new TheoryData<string>();
        foreach (var t in Data.Value["renders"]!.AsArray().Select(r => (string)r!["template"]!).Distinct()) data.Add(t);
        return data;
    }

    [Fact]
    public void EveryFixtureTemplateIsCovered()
    {
        var files = Directory.GetFiles(Path.Combine(RepoPaths.Fixtures, "chat-templates"), "*.jinja", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Path.Combine(RepoPaths.Fixtures, "chat-templates"), f)).Order().ToList();
        Assert.Equal(30, files.Count);
        Assert.Equal(files, Data.Value["renders"]!.AsArray().Select(r => (string)r!.AsObject()["template"]!).Distinct().Order().ToList());
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void RendersLikePythonJinja2(string template)
    {
        var t = Load(template);
        var conversations = Data.Value["conversations"]!.AsObject();
        var extra = Data.Value["extra_variables"]!.AsObject();
        int rendered = 0;
        foreach (var r in Data.Value["renders"]!.AsArray().Where(r => (string)r!["template"]! == template))
        {
            string conversation = (string)r!["conversation"]!;
            bool agp = (bool)r["add_generation_prompt"]!;
            var messages = conversations[conversation]!.DeepClone().AsArray();
            var tools = conversation.StartsWith("tools", StringComparison.Ordinal) ? Data.Value["tools"]!.DeepClone().AsArray() : null;
            string where = $"{template} / {conversation} / add_generation_prompt={agp}";
            if (r["error"] is { } error)
            {
                var e = Assert.Throws<TemplateException>(() => t.Render(Context(messages, tools, agp, extra)));
                Assert.True(e.Line >= 1, where);
                string python = (string)error!;
                string reason = python[(python.IndexOf(": ", StringComparison.Ordinal) + 2)..];
                Assert.True(e.Reason == reason, $"{where}: Python said '{python}', Scalpel said '{e.Message}'");
                continue;
            }
            string expected = (string)r["expected"]!;
            Assert.True(t.Render(Context(messages, tools, agp, extra)) == expected, where);
            if (!t.HasGenerationBlocks) { rendered++; continue; }
            var rendering = t.RenderConversation(messages, tools, agp, extra.DeepClone().AsObject());
            Assert.Equal(expected, rendering.Text);
            var spans = rendering.AssistantSpans.Select(s => (CodePoints(expected, s.Start), CodePoints(expected, s.End))).ToList();
            var pySpans = r["generation_indices"]!.AsArray().Select(x => ((int)x![0]!, (int)x[1]!)).ToList();
            Assert.True(pySpans.SequenceEqual(spans), where);
            rendered++;
        }
        Assert.True(rendered >= 4, $"{template}: fewer than 4 standard renders succeeded");
    }

    private static JsonObject Context(JsonArray messages, JsonArray? tools, bool agp, JsonObject extra)
    {
        var c = extra.DeepClone().AsObject();
        c["messages"] = messages.DeepClone();
        c["tools"] = tools?.DeepClone();
        c["documents"] = null;
        c["add_generation_prompt"] = agp;
        return c;
    }

    internal static int CodePoints(string s, int utf16) => s[..utf16].EnumerateRunes().Count();
}
