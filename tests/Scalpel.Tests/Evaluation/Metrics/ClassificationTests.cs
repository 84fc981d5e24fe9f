using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class ClassificationTests
{
    private static EvalItem[] Items(params (string Prediction, string Reference)[] pairs) =>
        [.. pairs.Select(p => new EvalItem(p.Prediction, p.Reference))];

    [Fact]
    public void HandComputedCase()
    {
        // truth → predicted: cat→cat, cat→dog, cat→"??", dog→dog, dog→dog, bird→cat
        var items = Items(("cat", "cat"), ("dog", "cat"), ("no idea", "cat"), ("dog", "dog"), ("Dog.", "dog"), ("cat", "bird"));
        var result = new ClassificationMetric(["cat", "dog", "bird"]).Compute(items);

        Assert.Equal([1.0, 0, 0, 1, 1, 0], result.PerExample);
        Assert.Equal(3.0 / 6, result.Values["accuracy"].Value, 12);
        // cat: tp 1, predicted 2, support 3 → P 1/2, R 1/3, F1 2·(1/6)/(5/6) = 0.4
        Assert.Equal(0.5, result.Values["precision/cat"].Value, 12);
        Assert.Equal(1.0 / 3, result.Values["recall/cat"].Value, 12);
        Assert.Equal(0.4, result.Values["f1/cat"].Value, 12);
        // dog: tp 2, predicted 3, support 2 → P 2/3, R 1, F1 0.8
        Assert.Equal(2.0 / 3, result.Values["precision/dog"].Value, 12);
        Assert.Equal(1.0, result.Values["recall/dog"].Value, 12);
        Assert.Equal(0.8, result.Values["f1/dog"].Value, 12);
        // bird: never predicted → precision 0 (zero_division=0), recall 0, F1 0
        Assert.Equal(0.0, result.Values["precision/bird"].Value);
        Assert.Equal(0.0, result.Values["f1/bird"].Value);
        Assert.Equal((0.4 + 0.8 + 0) / 3, result.Values["macro_f1"].Value, 12);

        var confusion = result.Confusion!;
        Assert.Equal(["cat", "dog", "bird", ConfusionMatrix.OtherColumn], confusion.Columns);
        Assert.Equal([1, 1, 0, 1], confusion.Counts[0]);
        Assert.Equal([0, 2, 0, 0], confusion.Counts[1]);
        Assert.Equal([1, 0, 0, 0], confusion.Counts[2]);
        Assert.Equal(["cat", "dog", ConfusionMatrix.OtherColumn, "dog", "dog", "cat"], result.Notes!);
    }

    [Fact]
    public void PredictionsMapToLabelsAfterNormalisation()
    {
        var metric = new ClassificationMetric(["Positive", "Negative", "not sure"]);
        Assert.Equal(0, metric.MapLabel(" positive."));
        Assert.Equal(1, metric.MapLabel("NEGATIVE!"));
        Assert.Equal(2, metric.MapLabel("Not  sure"));
        Assert.Equal(-1, metric.MapLabel("positive, I think"));
        Assert.Equal(-1, metric.MapLabel("positive!!! negative"));

        // Multiple choice: the label "A" is not an article to be dropped.
        var choice = new ClassificationMetric(["A", "B", "C", "D"]);
        Assert.Equal([0, 1, 2, 3, -1, -1], new[] { "a", "(B)", "**C**.", " d ", "B) Paris", "The answer is A" }.Select(choice.MapLabel));
        Assert.Throws<ArgumentException>(() => new ClassificationMetric(["yes", "Yes."]));
        Assert.Throws<ArgumentException>(() => metric.Compute(Items(("positive", "neutral"))));
    }

    /// <summary>
    /// scikit-learn as the oracle: on random label sets and predictions (some of which are no label),
    /// accuracy_score, precision_recall_fscore_support(labels=..., zero_division=0) with macro F1 as the mean of the
    /// per-label F1, and confusion_matrix(labels=...) for the label columns.
    /// </summary>
    [Fact]
    public void MatchesScikitLearn()
    {
        var rng = new Random(17);
        var cases = new JsonArray();
        var ours = new List<MetricResult>();
        for (int c = 0; c < 150; c++)
        {
            int k = rng.Next(2, 6), n = rng.Next(1, 40);
            string[] labels = [.. Enumerable.Range(0, k).Select(i => $"label{i}")];
            var truth = Enumerable.Range(0, n).Select(_ => labels[rng.Next(rng.Next(1, k + 1))]).ToArray();   // some labels absent
            var predicted = Enumerable.Range(0, n).Select(i => rng.NextDouble() switch
            {
                < 0.4 => truth[i],
                < 0.85 => labels[rng.Next(k)],
                _ => "something else",
            }).ToArray();
            ours.Add(new ClassificationMetric(labels).Compute([.. truth.Zip(predicted, (t, p) => new EvalItem(p, t))], new BootstrapOptions(Resamples: 1)));
            cases.Add(new JsonObject
            {
                ["labels"] = new JsonArray([.. labels.Select(l => (JsonNode)l)]),
                ["truth"] = new JsonArray([.. truth.Select(l => (JsonNode)l)]),
                ["predicted"] = new JsonArray([.. predicted.Select(l => (JsonNode)l)]),
            });
        }
        const string script = """
            import json, sys
            from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
            out = []
            for c in json.load(sys.stdin):
                p, r, f, _ = precision_recall_fscore_support(c["truth"], c["predicted"], labels=c["labels"], zero_division=0)
                cm = confusion_matrix(c["truth"], c["predicted"], labels=c["labels"])
                out.append({"accuracy": accuracy_score(c["truth"], c["predicted"]), "p": p.tolist(), "r": r.tolist(),
                            "f": f.tolist(), "macro_f1": float(f.mean()), "cm": cm.tolist()})
            print(json.dumps(out))
            """;
        var expected = PythonOracle.Run(script, cases).AsArray();
        for (int c = 0; c < ours.Count; c++)
        {
            var e = expected[c]!;
            var result = ours[c];
            var labels = result.Confusion!.Labels;
            Assert.Equal((double)e["accuracy"]!, result.Values["accuracy"].Value, 12);
            Assert.Equal((double)e["macro_f1"]!, result.Values["macro_f1"].Value, 12);
            for (int j = 0; j < labels.Count; j++)
            {
                Assert.Equal((double)e["p"]![j]!, result.Values[$"precision/{labels[j]}"].Value, 12);
                Assert.Equal((double)e["r"]![j]!, result.Values[$"recall/{labels[j]}"].Value, 12);
                Assert.Equal((double)e["f"]![j]!, result.Values[$"f1/{labels[j]}"].Value, 12);
                for (int m = 0; m < labels.Count; m++)
                    Assert.Equal((int)e["cm"]![j]![m]!, result.Confusion.Counts[j][m]);
            }
        }
    }

    [Fact]
    public void IntervalsBracketTheValues()
    {
        var rng = new Random(3);
        string[] labels = ["x", "y", "z"];
        var items = Enumerable.Range(0, 120).Select(_ => new EvalItem(labels[rng.Next(3)], labels[rng.Next(3)])).ToArray();
        var result = new ClassificationMetric(labels).Compute(items);
        foreach (var (name, value) in result.Values)
            Assert.True(value.Ci95Low <= value.Value && value.Value <= value.Ci95High && value.Ci95Low < value.Ci95High, $"{name}: {value}");
    }
}
