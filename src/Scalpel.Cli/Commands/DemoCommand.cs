using Scalpel.Training;

namespace Scalpel.Cli.Commands;

/// <summary><c>scalpel demo</c>: the whole engine path on a tiny model it builds itself (a pipeline check).</summary>
internal static class DemoCommand
{
    public static int Run(string[] args)
    {
        string? work = args switch
        {
            [] => null,
            ["--work", var dir] => dir,
            _ => throw new UsageException("usage: scalpel demo [--work DIR]"),
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
}
