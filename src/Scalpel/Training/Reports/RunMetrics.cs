using System.Text.Json;

namespace Scalpel.Training.Reports;

/// <summary>One training line of metrics.jsonl. Missing numbers are null (the chart leaves a gap).</summary>
public sealed record TrainPoint(int Step, double? Epoch, double? Loss, double? LearningRate, double? GradNorm, double? TokensPerSecond, double? ElapsedSeconds);

/// <summary>One validation line of metrics.jsonl.</summary>
public sealed record ValidationPoint(int Step, double? ValLoss, double? ValAccuracy);

/// <summary>The final line of metrics.jsonl: which step the run kept and why it ended.</summary>
public sealed record RunSummary(int? BestStep, string? StoppedReason, double? BestValLoss);

/// <summary>
/// metrics.jsonl read back: one JSON object per line, <c>"type"</c> "train", "val" or "summary" (a line without a
/// type is a validation line when it has <c>val_loss</c>, a training line when it has <c>loss</c>). Lines that are
/// not such objects (a line cut short by a kill, say) are skipped and counted, never fatal.
/// </summary>
public sealed record RunMetrics(IReadOnlyList<TrainPoint> Train, IReadOnlyList<ValidationPoint> Validation, RunSummary? Summary,
    IReadOnlyList<int> SkippedLines)
{
    public static RunMetrics Empty { get; } = new([], [], null, []);

    public static RunMetrics Read(string path) => File.Exists(path) ? Parse(File.ReadLines(path)) : Empty;

    public static RunMetrics Parse(IEnumerable<string> lines)
    {
        var train = new List<TrainPoint>();
        var validation = new List<ValidationPoint>();
        var skipped = new List<int>();
        RunSummary? summary = null;
        int lineNumber = 0;
        foreach (string line in lines)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object) { skipped.Add(lineNumber); continue; }
                string? type = o.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                type ??= o.TryGetProperty("val_loss", out _) ? "val" : o.TryGetProperty("loss", out _) ? "train" : null;
                switch (type)
                {
                    case "summary":
                        summary = new RunSummary(Int(o, "best_step"), Text(o, "stopped_reason"), Number(o, "best_val_loss"));
                        break;
                    case "train" when Int(o, "step") is { } step:
                        train.Add(new TrainPoint(step, Number(o, "epoch"), Number(o, "loss"), Number(o, "lr"), Number(o, "grad_norm"),
                            Number(o, "tokens_per_s"), Number(o, "elapsed_s")));
                        break;
                    case "val" when Int(o, "step") is { } step:
                        validation.Add(new ValidationPoint(step, Number(o, "val_loss"), Number(o, "val_accuracy")));
                        break;
                    default:
                        skipped.Add(lineNumber);
                        break;
                }
            }
            catch (JsonException)
            {
                skipped.Add(lineNumber);
            }
        }
        return new RunMetrics(train, validation, summary, skipped);
    }

    /// <summary>The best validation evaluation: the summary's choice when there is one, else the lowest val_loss so far.</summary>
    public (int Step, double? ValLoss)? Best()
    {
        if (Summary?.BestStep is { } step) return (step, Summary.BestValLoss ?? Validation.LastOrDefault(v => v.Step == step)?.ValLoss);
        var best = Validation.Where(v => v.ValLoss is not null).MinBy(v => v.ValLoss);
        return best is null ? null : (best.Step, best.ValLoss);
    }

    private static double? Number(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) ? d : null;

    private static int? Int(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;

    private static string? Text(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
