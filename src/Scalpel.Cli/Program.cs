using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Training;

namespace Scalpel.Cli;

/// <summary>The <c>scalpel</c> command. Errors a user can fix are one clear line on stderr and exit code 1.</summary>
public static class Program
{
    private const string Usage = """
        scalpel — fine-tune Llama-family models in .NET

        usage:
          scalpel demo [--work DIR]       build a tiny random Llama checkpoint, LoRA-fine-tune it on a synthetic
                                          keyword task, and report accuracy before and after
          scalpel inspect MODEL_DIR       read a Hugging Face checkpoint folder: architecture, shapes, tensors
          scalpel --help | --version
        """;

    public static int Main(string[] args)
    {
        try
        {
            return args switch
            {
                [] or ["--help" or "-h" or "help"] => Print(Usage, 0),
                ["--version"] => Print(typeof(Program).Assembly.GetName().Version?.ToString() ?? "0", 0),
                ["demo", .. var rest] => Demo(rest),
                ["inspect", var dir] => Inspect(dir),
                ["inspect", ..] => Fail("usage: scalpel inspect MODEL_DIR"),
                _ => Fail($"unknown command '{string.Join(' ', args)}'\n\n{Usage}"),
            };
        }
        catch (Exception e) when (e is ModelConfigException or SafeTensorsFormatException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return Fail(e.Message);
        }
    }

    private static int Print(string text, int code)
    {
        Console.WriteLine(text);
        return code;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"scalpel: {message}");
        return 1;
    }

    private static int Demo(string[] args)
    {
        string? work = args switch
        {
            [] => null,
            ["--work", var dir] => dir,
            _ => throw new ArgumentException("usage: scalpel demo [--work DIR]"),
        };
        bool temporary = work is null;
        work ??= Path.Combine(Path.GetTempPath(), "scalpel-demo-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Console.WriteLine($"Writing a tiny random Llama checkpoint to {work} and fine-tuning it with LoRA (all linear layers, rank 8)...");
            var report = KeywordTask.RunDemo(work, new SynchronousProgress<StepResult>(s =>
            {
                if (s.Step % 25 == 0) Console.WriteLine($"  step {s.Step,4}  loss {s.Loss,7:F4}  grad-norm {s.GradNorm,7:F3}  lr {s.LearningRate:E2}");
            }));
            Console.WriteLine($"Exact-match accuracy on 200 held-out examples: base {report.AccuracyBefore:P1} → fine-tuned {report.AccuracyAfter:P1}");
            Console.WriteLine($"{report.Steps} steps in {report.Elapsed.TotalSeconds:F1} s");
            return report.AccuracyAfter >= 0.95 ? 0 : 1;
        }
        finally
        {
            if (temporary && Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static int Inspect(string dir)
    {
        if (!Directory.Exists(dir)) return Fail($"{dir}: no such folder");
        var spec = ModelSpec.FromConfigFile(Path.Combine(dir, "config.json"));
        using var reader = CheckpointReader.Open(dir);
        Console.WriteLine($"{spec.Architecture} ({spec.ModelType}): {spec.NumLayers} layers, hidden {spec.HiddenSize}, " +
                          $"intermediate {spec.IntermediateSize}, heads {spec.NumHeads}/{spec.NumKvHeads} kv, head_dim {spec.HeadDim}, vocab {spec.VocabSize}");
        Console.WriteLine($"rope theta {spec.RopeTheta}, scaling {spec.Rope.Type}, tied embeddings {spec.TieWordEmbeddings}");
        long total = 0;
        foreach (var name in reader.TensorNames.Order(StringComparer.Ordinal))
        {
            var info = reader.Info(name);
            total += info.ElementCount;
            Console.WriteLine($"  {name,-60} {info.DType,-5} [{string.Join(", ", info.Shape)}]");
        }
        Console.WriteLine($"{total:N0} parameters");
        return 0;
    }
}

/// <summary>IProgress that reports on the calling thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
