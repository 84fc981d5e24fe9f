namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// <c>accuracy</c> for classification into a fixed list of labels. A prediction maps to the label it equals after
/// <see cref="TextNormalization.Label"/> normalisation (so " Positive." is "positive" and "(B)" is "B"); one that
/// equals no label ("B) Paris", "I think positive") is wrong and lands in the confusion matrix's <see cref="ConfusionMatrix.OtherColumn"/>. References must be labels.
/// Besides <c>accuracy</c> it yields <c>macro_f1</c> and <c>precision/L</c>, <c>recall/L</c>, <c>f1/L</c> for every
/// label L, with scikit-learn's semantics for <c>precision_recall_fscore_support(labels=labels, zero_division=0)</c>:
/// a ratio whose denominator is zero is 0, and the macro average is over all the labels, present or not.
/// </summary>
public sealed class ClassificationMetric : IMetric
{
    private readonly string[] _labels;
    private readonly Dictionary<string, int> _index = [];

    public ClassificationMetric(IReadOnlyList<string> labels)
    {
        if (labels.Count < 2) throw new ArgumentException("classification needs at least two labels");
        _labels = [.. labels];
        for (int i = 0; i < _labels.Length; i++)
        {
            string key = TextNormalization.Label(_labels[i]);
            if (key.Length == 0) throw new ArgumentException($"label '{_labels[i]}' is empty after normalisation");
            if (!_index.TryAdd(key, i))
                throw new ArgumentException($"labels '{_labels[_index[key]]}' and '{_labels[i]}' are the same after normalisation");
        }
    }

    public string Name => "accuracy";

    public MetricDirection Direction => MetricDirection.HigherIsBetter;

    public IReadOnlyList<string> Labels => _labels;

    /// <summary>The index of the label <paramref name="text"/> names, or -1 if it names none.</summary>
    public int MapLabel(string text) => _index.TryGetValue(TextNormalization.Label(text), out int i) ? i : -1;

    public MetricResult Compute(IReadOnlyList<EvalItem> items, Bootstrap bootstrap)
    {
        bootstrap.CheckCount(items, Name);
        int k = _labels.Length, n = items.Count;
        var truth = new int[n];
        var predicted = new int[n];   // k = other
        var scores = new double[n];
        var notes = new string?[n];
        for (int i = 0; i < n; i++)
        {
            truth[i] = MapLabel(items[i].Reference);
            if (truth[i] < 0)
                throw new ArgumentException($"metric '{Name}': item {i}'s reference '{items[i].Reference}' is none of the labels ({string.Join(", ", _labels)})");
            int p = MapLabel(items[i].Prediction);
            predicted[i] = p < 0 ? k : p;
            scores[i] = p == truth[i] ? 1 : 0;
            notes[i] = p < 0 ? ConfusionMatrix.OtherColumn : _labels[p];
        }

        var names = new List<string> { Name, "macro_f1" };
        foreach (string label in _labels) names.AddRange([$"precision/{label}", $"recall/{label}", $"f1/{label}"]);
        var estimates = bootstrap.Estimate(names.Count, (weights, outputs) =>
        {
            var confusion = new long[k, k + 1];
            for (int i = 0; i < n; i++) confusion[truth[i], predicted[i]] += weights[i];
            Summarise(confusion, outputs);
        });

        var values = new OrderedDictionary<string, MetricValue>();
        for (int j = 0; j < names.Count; j++) values[names[j]] = estimates[j];

        var counts = new int[k][];
        for (int r = 0; r < k; r++) counts[r] = new int[k + 1];
        for (int i = 0; i < n; i++) counts[truth[i]][predicted[i]]++;
        return new MetricResult(Name, Direction, values, scores)
        {
            Notes = notes,
            Confusion = new ConfusionMatrix(_labels, counts),
        };
    }

    /// <summary>accuracy, macro F1, then precision, recall, F1 per label, from a k × (k+1) confusion matrix.</summary>
    private static void Summarise(long[,] confusion, Span<double> outputs)
    {
        int k = confusion.GetLength(0);
        long total = 0, correct = 0;
        double f1Sum = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = confusion[c, c], support = 0, predictedAs = 0;
            for (int j = 0; j <= k; j++) support += confusion[c, j];
            for (int r = 0; r < k; r++) predictedAs += confusion[r, c];
            total += support;
            correct += tp;
            double precision = predictedAs == 0 ? 0 : (double)tp / predictedAs;
            double recall = support == 0 ? 0 : (double)tp / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            f1Sum += f1;
            outputs[2 + 3 * c] = precision;
            outputs[3 + 3 * c] = recall;
            outputs[4 + 3 * c] = f1;
        }
        outputs[0] = total == 0 ? double.NaN : (double)correct / total;
        outputs[1] = f1Sum / k;
    }
}
