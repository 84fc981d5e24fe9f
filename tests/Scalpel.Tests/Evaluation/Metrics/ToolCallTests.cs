using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class ToolCallTests
{
    private static JsonArray Calls(params (string Name, string Arguments)[] calls) =>
        new([.. calls.Select(c => (JsonNode)new JsonObject
        {
            ["id"] = "call_" + c.Name,
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments },
        })]);

    private static (double Calls, double Names) Score(JsonArray? predicted, JsonArray? reference)
    {
        var item = new EvalItem("", "", predicted, reference);
        return (new ToolCallMetric(namesOnly: false).Compute([item]).PerExample[0], new ToolCallMetric(namesOnly: true).Compute([item]).PerExample[0]);
    }

    [Fact]
    public void ArgumentsCompareAsJson()
    {
        var reference = Calls(("get_weather", """{"city": "Paris", "days": 3, "units": {"temp": "C"}}"""));
        Assert.Equal((1.0, 1.0), Score(Calls(("get_weather", """{"units":{"temp":"C"},"days":3.0,"city":"Paris"}""")), reference));
        Assert.Equal((0.0, 1.0), Score(Calls(("get_weather", """{"city": "Paris", "days": "3", "units": {"temp": "C"}}""")), reference));
        Assert.Equal((0.0, 1.0), Score(Calls(("get_weather", """{"city": "Paris", "days": 3}""")), reference));
        Assert.Equal((0.0, 0.0), Score(Calls(("get_forecast", """{"city": "Paris", "days": 3, "units": {"temp": "C"}}""")), reference));
        Assert.Equal((0.0, 1.0), Score(Calls(("get_weather", """{city: Paris}""")), reference));   // arguments that are not JSON
    }

    [Fact]
    public void ParallelCallsCompareAsAMultiset()
    {
        var reference = Calls(("f", """{"x": 1}"""), ("g", "{}"), ("f", """{"x": 2}"""));
        Assert.Equal((1.0, 1.0), Score(Calls(("f", """{"x": 2}"""), ("f", """{"x": 1}"""), ("g", "{}")), reference));
        Assert.Equal((0.0, 1.0), Score(Calls(("f", """{"x": 1}"""), ("f", """{"x": 1}"""), ("g", "{}")), reference));
        Assert.Equal((0.0, 0.0), Score(Calls(("f", """{"x": 1}"""), ("g", "{}")), reference));
        Assert.Equal((0.0, 0.0), Score(Calls(("f", """{"x": 1}"""), ("g", "{}"), ("g", "{}")), reference));
    }

    [Fact]
    public void NoReferenceCallsMeansCallNothing()
    {
        Assert.Equal((1.0, 1.0), Score(null, null));
        Assert.Equal((1.0, 1.0), Score([], null));
        Assert.Equal((0.0, 0.0), Score(Calls(("f", "{}")), null));
        Assert.Equal((0.0, 0.0), Score(null, Calls(("f", "{}"))));
    }

    [Fact]
    public void ArgumentsMayBeObjectsOrFlatCalls()
    {
        var flat = new JsonArray(new JsonObject { ["name"] = "f", ["arguments"] = new JsonObject { ["x"] = 1 } });
        Assert.Equal((1.0, 1.0), Score(flat, Calls(("f", """{"x": 1.0}"""))));
        var noArguments = new JsonArray(new JsonObject { ["function"] = new JsonObject { ["name"] = "f" } });
        Assert.Equal((1.0, 1.0), Score(noArguments, Calls(("f", "{}"))));
        Assert.Equal((1.0, 1.0), Score(Calls(("f", "")), Calls(("f", "{}"))));
        var nameless = new JsonArray(new JsonObject { ["function"] = new JsonObject { ["arguments"] = "{}" } });
        Assert.Equal((0.0, 0.0), Score(nameless, Calls(("f", "{}"))));
        Assert.Throws<ArgumentException>(() => Score(null, nameless));
    }

    [Fact]
    public void HeadlineIsTheMeanOverItems()
    {
        var items = new[]
        {
            new EvalItem("", "", Calls(("f", "{}")), Calls(("f", "{}"))),
            new EvalItem("", "", Calls(("f", """{"a": 1}""")), Calls(("f", "{}"))),
            new EvalItem("", "", null, Calls(("f", "{}"))),
            new EvalItem("", "", Calls(("g", "{}")), Calls(("g", "{}"))),
        };
        Assert.Equal(0.5, new ToolCallMetric(false).Compute(items).Headline.Value, 12);
        Assert.Equal(0.75, new ToolCallMetric(true).Compute(items).Headline.Value, 12);
        Assert.NotNull(new ToolCallMetric(false).Compute(items).Notes![2]);
    }
}
