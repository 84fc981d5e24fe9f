using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Scalpel.Text;
using Xunit;

namespace Scalpel.Tests.Text.Jinja;

/// <summary>
/// Small templates covering the Jinja2 semantics chat templates rely on, with the output Python Jinja2 3.1 gave
/// when configured exactly as transformers configures it (python-jinja2-cases.json, written by
/// python_jinja2_cases.py beside this file). Errors must be errors, with a position.
/// </summary>
public class PythonJinja2ConformanceTests
{
    private static readonly Lazy<JsonObject> Data = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Scalpel.Tests", "Text", "Jinja", "python-jinja2-cases.json")))!.AsObject());

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Data.Value["cases"]!.AsArray()) data.Add((string)c!["name"]!);
        return data;
    }

    private static JsonObject Case(string name) => Data.Value["cases"]!.AsArray().Single(c => (string)c!["name"]! == name)!.AsObject();

    private static readonly DateTime FixedNow = new(2024, 7, 26, 9, 5, 3);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesPythonJinja2(string name)
    {
        var c = Case(name);
        string template = (string)c["template"]!;
        var context = (c["context"] ?? Data.Value["default_context"])!.DeepClone().AsObject();
        if (c["expected"] is { } expected)
        {
            var t = new ChatTemplate(template, name) { Clock = () => FixedNow };
            Assert.Equal((string)expected!, t.Render(context));
        }
        else
        {
            var e = Assert.Throws<TemplateException>(() => new ChatTemplate(template, name) { Clock = () => FixedNow }.Render(context));
            Assert.StartsWith(name + ":", e.Message);
            Assert.True(e.Line >= 1 && e.Column >= 1, e.Message);
        }
    }
}
