using System.Text;
using System.Text.Json;

namespace Scalpel.Training.Recipes;

/// <summary>
/// metrics.jsonl: one JSON object per line, appended and flushed as it happens, so a crash loses at most the line
/// being written. Training lines: type "train" with step, epoch, loss, lr, grad_norm, tokens_per_s, elapsed_s;
/// validation lines: type "val" with step, val_loss, val_accuracy; one final "summary" line.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _writer;

    public MetricsLog(string path, bool append)
    {
        _writer = new StreamWriter(path, append, new UTF8Encoding(false)) { AutoFlush = true };
    }

    /// <summary>Keeps only the lines up to (and including) a step: a resumed run rewrites what came after its checkpoint.</summary>
    public static void TruncateAfter(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = new List<string>();
        foreach (var line in File.ReadLines(path))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("step", out var s) && s.TryGetInt32(out int n) && n > step) continue;
                if (doc.RootElement.TryGetProperty("type", out var t) && t.GetString() == "summary") continue;
                kept.Add(line);
            }
            catch (JsonException) { /* a torn last line from a crash */ }
        }
        string temp = path + ".tmp";
        File.WriteAllLines(temp, kept);
        File.Move(temp, path, overwrite: true);
    }

    public void Write(Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            fields(json);
            json.WriteEndObject();
        }
        _writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public void Dispose() => _writer.Dispose();
}
