using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class JsonMetricTests
{
    [Fact]
    public void JsonValidParsesStrictJson()
    {
        var items = new[]
        {
            new EvalItem("""{"a": 1}""", ""),
            new EvalItem("  [1, 2]\n", ""),
            new EvalItem("42", ""),
            new EvalItem("""{"a": 1,}""", ""),
            new EvalItem("{'a': 1}", ""),
            new EvalItem("```json\n{\"a\": 1}\n```", ""),
            new EvalItem("", ""),
        };
        var strict = new JsonValidMetric().Compute(items);
        Assert.Equal([1.0, 1, 1, 0, 0, 0, 0], strict.PerExample);
        Assert.NotNull(strict.Notes![3]);
        var fenced = new JsonValidMetric(stripCodeFence: true).Compute(items);
        Assert.Equal([1.0, 1, 1, 0, 0, 1, 0], fenced.PerExample);
    }

    [Fact]
    public void SchemaValidNotesTheFirstError()
    {
        var metric = new SchemaValidMetric(JsonSchema.Parse("""{"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}"""));
        var result = metric.Compute([new EvalItem("""{"city": "Oslo"}""", ""), new EvalItem("""{"city": 3}""", ""), new EvalItem("not json", "")]);
        Assert.Equal([1.0, 0, 0], result.PerExample);
        Assert.Null(result.Notes![0]);
        Assert.StartsWith("at /city:", result.Notes[1]);
        Assert.NotNull(result.Notes[2]);
    }

    [Fact]
    public void FieldAccuracyComparesTopLevelFieldsAsJson()
    {
        var items = new[]
        {
            // 3 of 3: key order, 1 vs 1.0, nested objects in any order; the extra field is ignored
            new EvalItem("""{"b": 1.0, "a": "x", "c": {"q": [1, 2], "p": null}, "extra": 5}""", """{"a": "x", "b": 1, "c": {"p": null, "q": [1, 2]}}"""),
            // 1 of 3: wrong type for b ("1" is a string), c missing
            new EvalItem("""{"a": "x", "b": "1"}""", """{"a": "x", "b": 1, "c": true}"""),
            // not an object: 0 of 2
            new EvalItem("[1]", """{"a": "x", "d": 2}"""),
        };
        var result = new FieldAccuracyMetric().Compute(items);
        Assert.Equal([1.0, 1.0 / 3, 0], result.PerExample);
        Assert.Equal((1 + 1.0 / 3) / 3, result.Headline.Value, 12);
        Assert.Equal(2.0 / 3, result.Values["field/a"].Value, 12);
        Assert.Equal(0.5, result.Values["field/b"].Value, 12);
        Assert.Equal(0.5, result.Values["field/c"].Value, 12);
        Assert.Equal(0.0, result.Values["field/d"].Value);
        Assert.Equal(["field_accuracy", "field/a", "field/b", "field/c", "field/d"], result.Values.Keys);
        Assert.Equal("wrong: b, c", result.Notes![1]);

        Assert.Throws<ArgumentException>(() => new FieldAccuracyMetric().Compute([new EvalItem("{}", "not json")]));
    }

    [Theory]
    [InlineData("1", "1.0", true)]
    [InlineData("100", "1e2", true)]
    [InlineData("0.1", "0.10", true)]
    [InlineData("1", "true", false)]
    [InlineData("\"1\"", "1", false)]
    [InlineData("""{"a": 1, "b": 2}""", """{"b": 2, "a": 1}""", true)]
    [InlineData("""[1, 2]""", """[2, 1]""", false)]
    [InlineData("12345678901234567890123", "12345678901234567890124", false)]
    public void JsonEqualityIsByValue(string a, string b, bool equal)
    {
        Assert.True(JsonValues.TryParse(a, false, out var x, out _));
        Assert.True(JsonValues.TryParse(b, false, out var y, out _));
        Assert.Equal(equal, JsonValues.Equal(x, y));
    }
}
