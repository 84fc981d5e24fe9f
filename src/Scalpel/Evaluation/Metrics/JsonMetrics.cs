using System.Text.Json;

namespace Scalpel.Evaluation.Metrics;

/// <summary><c>json_valid</c>: the prediction parses as one JSON value (optionally inside a Markdown code fence).</summary>
public sealed class JsonValidMetric(bool stripCodeFence = false) : PerExampleMetric
{
    public override string Name => "json_valid";

    protected override double Score(EvalItem item, out string? note)
    {
        bool ok = JsonValues.TryParse(item.Prediction, stripCodeFence, out _, out note);
        return ok ? 1 : 0;
    }
}

/// <summary><c>schema_valid</c>: the prediction parses as JSON and conforms to a <see cref="JsonSchema"/>.</summary>
public sealed class SchemaValidMetric(JsonSchema schema, bool stripCodeFence = false) : PerExampleMetric
{
    public override string Name => "schema_valid";

    public JsonSchema Schema { get; } = schema;

    protected override double Score(EvalItem item, out string? note)
    {
        if (!JsonValues.TryParse(item.Prediction, stripCodeFence, out var value, out note)) return 0;
        var errors = Schema.Validate(value, maxErrors: 1);
        note = errors.Count == 0 ? null : errors[0];
        return errors.Count == 0 ? 1 : 0;
    }
}

/// <summary>
/// <c>field_accuracy</c>: the reference is a JSON object; an item's score is the fraction of its top-level fields whose
/// value in the prediction equals the reference value as JSON (<see cref="JsonValues.Equal"/>); fields the prediction
/// adds are not counted. A prediction that is not a JSON object scores 0; a reference with no fields scores 1 when
/// the prediction is an object. The headline is the mean over items; <c>field/NAME</c> is, over the items whose
/// reference has field NAME, the fraction where the prediction got it right.
/// </summary>
public sealed class FieldAccuracyMetric(bool stripCodeFence = false) : IMetric
{
    public string Name => "field_accuracy";

    public MetricDirection Direction => MetricDirection.HigherIsBetter;

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        int n = items.Count;
        var fields = new OrderedDictionary<string, int>();
        var perItem = new List<(int Field, bool Right)>[n];
        var scores = new double[n];
        var notes = new string?[n];
        for (int i = 0; i < n; i++)
        {
            if (!JsonValues.TryParse(items[i].Reference, stripCodeFence: false, out var reference, out string? error) || reference.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"metric '{Name}': item {i}'s reference is not a JSON object ({error ?? reference.ValueKind.ToString()})");
            bool predictionIsObject = JsonValues.TryParse(items[i].Prediction, stripCodeFence, out var prediction, out error)
                && prediction.ValueKind == JsonValueKind.Object;
            if (!predictionIsObject) notes[i] = error ?? $"the prediction is {prediction.ValueKind}, not an object";

            perItem[i] = [];
            var wrong = new List<string>();
            foreach (var field in reference.EnumerateObject())
            {
                if (!fields.TryGetValue(field.Name, out int f)) fields[field.Name] = f = fields.Count;
                bool right = predictionIsObject && prediction.TryGetProperty(field.Name, out var got) && JsonValues.Equal(field.Value, got);
                perItem[i].Add((f, right));
                if (!right) wrong.Add(field.Name);
            }
            scores[i] = perItem[i].Count == 0 ? (predictionIsObject ? 1 : 0) : (double)perItem[i].Count(x => x.Right) / perItem[i].Count;
            if (predictionIsObject && wrong.Count > 0) notes[i] = "wrong: " + string.Join(", ", wrong);
        }

        int nf = fields.Count;
        var estimates = bootstrap.Estimate(1 + nf, (weights, outputs) =>
        {
            outputs[0] = Bootstrap.WeightedMean(scores, weights);
            var right = new long[nf];
            var seen = new long[nf];
            for (int i = 0; i < n; i++)
            {
                if (weights[i] == 0) continue;
                foreach (var (f, ok) in perItem[i])
                {
                    seen[f] += weights[i];
                    if (ok) right[f] += weights[i];
                }
            }
            for (int f = 0; f < nf; f++) outputs[1 + f] = seen[f] == 0 ? double.NaN : (double)right[f] / seen[f];
        });
        var values = new OrderedDictionary<string, MetricValue> { [Name] = estimates[0] };
        foreach (var (field, f) in fields) values["field/" + field] = estimates[1 + f];
        return new MetricResult(Name, Direction, values, scores) { Notes = notes };
    }
}
