using Scalpel.Evaluation;
using Scalpel.Training;
using Scalpel.Training.Recipes;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel demo</c>: a pipeline check. Runs examples/keyword-task end to end on a tiny model it builds itself
/// (generated tokenizer and chat template, random weights): data → template → LoRA training with validation →
/// adapter → report, and prints exact match before and after.
/// </summary>
internal static class DemoCommand
{
    private const string Example = "examples/keyword-task/config.yaml";

    public static int Run(string[] args)
    {
        string? work = null, config = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--work": work = Value(); break;
                case "--config": config = Value(); break;
                default: throw new UsageException("usage: scalpel demo [--work DIR] [--config EXAMPLE_CONFIG.yaml]");
            }
        }
        config ??= FindExample() ?? throw new UsageException($"cannot find {Example}; run from the repository or pass --config");
        bool temporary = work is null;
        work ??= Path.Combine(Path.GetTempPath(), "scalpel-demo-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Console.WriteLine("Pipeline check (a tiny random model built here, not a real model):");
            Console.WriteLine($"  {config} in {work}: tokenizer + chat template + 2000 chat examples → LoRA → validation → adapter → report");
            var report = PipelineCheck.Run(config, work, new SynchronousProgress<FineTuneProgress>(p =>
            {
                if (p.ValLoss is double v) Console.WriteLine($"  step {p.Step,4}/{p.TotalSteps}  val_loss {v,7:F4}  val_token_accuracy {p.ValAccuracy:P1}");
            }));
            Console.WriteLine($"{report.Run.Status.ToString().ToLowerInvariant()}: {report.Run.StopReason}");
            Console.WriteLine($"Exact-match accuracy on 200 held-out examples: base {report.ExactMatchBefore:P1} → fine-tuned {report.ExactMatchAfter:P1}");
            Console.WriteLine($"{report.Run.Steps} steps in {report.Elapsed.TotalSeconds:F1} s; adapter {report.Run.OutputPath}");
            if (!temporary) Console.WriteLine($"report: {Path.Combine(report.Run.RunDirectory, "report.html")}");

            // Evals decide: every prompting baseline against the adapter on the same held-out examples.
            string suite = Path.Combine(Path.GetDirectoryName(config)!, "suite.yaml");
            if (File.Exists(suite))
            {
                string copy = Path.Combine(work, "suite.yaml");
                File.Copy(suite, copy, overwrite: true);
                Console.WriteLine("Was it worth it? Prompting baselines vs the adapter (scalpel compare):");
                var comparison = CompareRunner.Run(EvalSuite.Load(copy), new CompareOptions
                {
                    ModelDirectory = Path.Combine(work, "model"), TrainPath = Path.Combine(work, "train.jsonl"), Adapters = [report.Run.OutputPath],
                });
                var task = comparison.Tasks[0];
                foreach (var r in task.Results)
                    Console.WriteLine($"  {r.Setup,-20} exact_match {r.Metric("exact_match")!.Headline.Value:P1}");
                Console.WriteLine(comparison.Verdict.Summary);
                string compareDir = Path.Combine(work, "compare");
                CompareReport.WriteAll(comparison, compareDir);
                if (!temporary) Console.WriteLine($"comparison: {Path.Combine(compareDir, "compare.html")}");
            }
            return report.ExactMatchAfter >= 0.95 ? 0 : 1;
        }
        finally
        {
            if (temporary && Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static string? FindExample()
    {
        if (File.Exists(Example)) return Path.GetFullPath(Example);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, Example);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
