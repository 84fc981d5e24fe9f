using Scalpel.Tests.Oracles;
using Scalpel.Training.Config;
using Xunit;

namespace Scalpel.Tests.Training.Config;

/// <summary>docs/config.md and examples/ stay in step with what the parser accepts.</summary>
public class ConfigDocsTests
{
    [Fact]
    public void EveryFieldIsDocumentedAsItsSetKey()
    {
        string docs = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "config.md"));
        foreach (string field in ConfigSchema.Fields) Assert.Contains($"| `{field}` |", docs);
        // and nothing is documented that the parser would reject
        var documented = System.Text.RegularExpressions.Regex.Matches(docs, @"^\| `([a-z_.0-9]+)` \|", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value);
        foreach (string field in documented) Assert.True(ConfigSchema.IsField(field), field);
    }

    [Fact]
    public void EveryDocumentedEnumValueIsAccepted()
    {
        foreach (var (field, names) in new (string, IEnumerable<string>)[]
                 {
                     ("model.precision", TrainConfigNames.Precision.Select(p => p.Name)),
                     ("data.format", TrainConfigNames.Format.Select(p => p.Name)),
                     ("data.train_on", TrainConfigNames.TrainOnValues.Select(p => p.Name)),
                     ("data.truncation", TrainConfigNames.TruncationValues.Select(p => p.Name)),
                     ("method", TrainConfigNames.Method.Select(p => p.Name)),
                     ("training.schedule", TrainConfigNames.Schedule.Select(p => p.Name)),
                     ("validation.early_stopping.metric", TrainConfigNames.Metric.Select(p => p.Name)),
                 })
        {
            string docs = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "config.md"));
            string row = docs.Split('\n').Single(l => l.StartsWith($"| `{field}` |", StringComparison.Ordinal));
            foreach (string name in names) Assert.Contains($"`{name}`", row);
        }
    }

    [Fact]
    public void ExamplesParse()
    {
        var configs = Directory.GetFiles(Path.Combine(RepoPaths.Root, "examples"), "config.yaml", SearchOption.AllDirectories);
        Assert.NotEmpty(configs);
        foreach (string file in configs)
        {
            var config = TrainConfig.Load(file, []);
            Assert.StartsWith(Path.GetDirectoryName(file)!, config.Data.Train);
        }
    }
}
