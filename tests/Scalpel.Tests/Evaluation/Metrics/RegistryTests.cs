using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Scalpel.Tests.Evaluation.Metrics;

public class RegistryTests
{
    private static MetricOptions Yaml(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return MetricOptions.FromYaml(stream.Documents[0].RootNode);
    }

    [Fact]
    public void EveryNameCreatesItsMetric()
    {
        var options = new Dictionary<string, MetricOptions>
        {
            ["accuracy"] = Yaml("labels: [yes, no]"),
            ["schema_valid"] = Yaml("schema: {type: object}"),
        };
        Assert.Equal(
            ["exact_match", "normalized_match", "accuracy", "json_valid", "schema_valid", "field_accuracy", "tool_call_accuracy",
             "tool_name_accuracy", "rouge_l", "chrf", "perplexity", "token_loss", "refusal_rate"],
            MetricRegistry.Names);
        foreach (string name in MetricRegistry.Names)
        {
            var metric = MetricRegistry.Create(name, options.GetValueOrDefault(name));
            Assert.Equal(name, metric.Name);
        }
    }

    [Fact]
    public void MistakesAreReportedAtCreation()
    {
        Assert.Contains("exact_match", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("exact-match")).Message);
        Assert.Matches("'betta'.*beta", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("chrf", Yaml("betta: 3"))).Message);
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("accuracy")).Message);
        Assert.Contains("takes no options", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("rouge_l", Yaml("stem: true"))).Message);
        Assert.Contains("'pattern'", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("schema_valid", Yaml("schema: {type: string, pattern: '^a'}"))).Message);
        Assert.Contains("chrF++", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("chrf", Yaml("word_order: 2"))).Message);
        Assert.Contains("a number", Assert.Throws<ArgumentException>(() => MetricRegistry.Create("chrf", Yaml("beta: high"))).Message);
    }

    [Fact]
    public void OptionsReachTheMetric()
    {
        var chrf = (ChrfMetric)MetricRegistry.Create("chrf", Yaml("{beta: 3, eps_smoothing: true, whitespace: false}"));
        Assert.Equal((3.0, true), (chrf.Beta, chrf.EpsSmoothing));
        var refusal = (RefusalMetric)MetricRegistry.Create("refusal_rate", Yaml("extra_phrases: [Nope]\nwindow: 20"));
        Assert.Equal(20, refusal.Window);
        Assert.Contains("nope", refusal.Phrases);
        var stars = (ClassificationMetric)MetricRegistry.Create("accuracy", Yaml("labels: [1, 2, 3, 4, 5]"));
        Assert.Equal(["1", "2", "3", "4", "5"], stars.Labels);
        var json = MetricRegistry.Create("json_valid", Yaml("strip_code_fence: true"));
        Assert.Equal(1.0, json.Compute([new EvalItem("```json\n[1]\n```", "")]).Headline.Value);
        var schema = MetricRegistry.Create("schema_valid", new MetricOptions(new JsonObject { ["schema"] = """{"type": "integer"}""" }));
        Assert.Equal([1.0, 0.0], schema.Compute([new EvalItem("3", ""), new EvalItem("3.5", "")]).PerExample);
    }

    [Fact]
    public void YamlScalarsBecomeTypedJson()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader("""
            schema:
              type: object
              properties:
                n: {type: integer, minimum: 0, maximum: 1.5e1}
                flag: {enum: [true, "true", null, ~, '3', 3]}
            """));
        var node = MetricOptions.YamlToJson(stream.Documents[0].RootNode)!;
        var n = node["schema"]!["properties"]!["n"]!;
        Assert.Equal("integer", (string?)n["type"]);
        Assert.Equal("""{"type":"integer","minimum":0,"maximum":1.5e1}""", n.ToJsonString());
        Assert.Equal("""[true,"true",null,null,"3",3]""", node["schema"]!["properties"]!["flag"]!["enum"]!.ToJsonString());
    }
}
