using System.Globalization;

namespace Scalpel.Tests.Training.Reports;

/// <summary>Run folders as a training run leaves them (metrics.jsonl, config.yaml, data.json), for the report tests.</summary>
internal static class SyntheticRun
{
    public const string Hostile = "</script><script>document.title='pwned'</script><!-- & \"quotes\" 'single'";

    /// <summary>200 steps, validation every 25, early stopping chose step 150; config and data hold text that must be escaped.</summary>
    public static void WriteFull(string dir, int steps = 200)
    {
        var lines = new List<string>();
        for (int s = 1; s <= steps; s++)
        {
            double loss = 2.5 * Math.Exp(-s / 60.0) + 0.3;
            lines.Add(F($"{{\"type\":\"train\",\"step\":{s},\"epoch\":{s / 100.0},\"loss\":{loss},\"lr\":{2e-4 * Math.Min(1, s / 10.0)},\"grad_norm\":{1 / Math.Sqrt(s)},\"tokens_per_s\":{1000 + s},\"elapsed_s\":{s * 0.5}}}"));
            if (s % 25 == 0)
                lines.Add(F($"{{\"type\":\"val\",\"step\":{s},\"val_loss\":{loss + 0.1 + (s > 150 ? 0.01 * (s - 150) : 0)},\"val_accuracy\":{0.5 + s / 500.0}}}"));
        }
        lines.Add("{\"type\":\"summary\",\"best_step\":150,\"stopped_reason\":\"early stopping: validation loss did not improve for 2 evaluations\",\"best_val_loss\":0.5}");
        File.WriteAllLines(Path.Combine(dir, "metrics.jsonl"), lines);
        File.WriteAllText(Path.Combine(dir, "config.yaml"), $"model:\n  path: \"{Hostile.Replace("\"", "\\\"")}\"\ntraining:\n  lr: 0.0002\n");
        File.WriteAllText(Path.Combine(dir, "data.json"),
            "{\"train\": {\"file\": \"train.jsonl\", \"examples\": 1000, \"tokens\": 123456, \"sha256\": \"9f86d081\"}," +
            " \"validation\": {\"examples\": 100}, \"dropped_too_long\": 3, \"formats\": [\"chat\", \"alpaca\"]," +
            " \"files\": [{\"path\": \"a.jsonl\"}, {\"path\": \"b.jsonl\"}], \"note\": \"" + Hostile.Replace("\"", "\\\"") + "\"}");
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
