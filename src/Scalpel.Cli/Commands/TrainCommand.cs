using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Training;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel train CONFIG.yaml [--set KEY=VALUE ...] [--resume RUN_DIR] [--home DIR] [--dry-run [--json]] [--memory-limit SIZE]
/// [--ignore-memory-plan]</c>: runs the fine-tuning recipe. Ctrl-C or SIGTERM finishes the current step, writes a checkpoint
/// and exits; <c>--resume</c> continues from it. Before loading anything the memory plan is checked: a run that would not
/// fit is refused with what to change; <c>--dry-run</c> prints the plan (and a time estimate) and stops there.
/// </summary>
internal static class TrainCommand
{
    private const string Usage = "usage: scalpel train CONFIG.yaml [--set KEY=VALUE ...] [--resume RUN_DIR] [--home DIR] [--dry-run [--json]] " +
                                 "[--memory-limit SIZE] [--ignore-memory-plan]";

    public static int Run(string[] args)
    {
        string? configPath = null, resume = null, home = null;
        bool dryRun = false, json = false, ignorePlan = false;
        long? memoryLimit = null;
        var overrides = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value\n{Usage}");
            switch (args[i])
            {
                case "--set": overrides.Add(Value()); break;
                case "--resume": resume = Value(); break;
                case "--home": home = Value(); break;
                case "--dry-run": dryRun = true; break;
                case "--json": json = true; break;
                case "--ignore-memory-plan": ignorePlan = true; break;
                case "--memory-limit":
                    string size = Value();
                    memoryLimit = MemoryPlanner.TryParseSize(size, out long bytes) ? bytes
                        : throw new UsageException($"--memory-limit: '{size}' is not a size (e.g. 8G, 512M, 1073741824)");
                    break;
                case var a when a.StartsWith("--", StringComparison.Ordinal): throw new UsageException($"unknown option '{a}'\n{Usage}");
                default:
                    if (configPath is not null) throw new UsageException(Usage);
                    configPath = args[i];
                    break;
            }
        }
        // A resumed run reads its own config snapshot unless a config is named.
        configPath ??= resume is not null ? Path.Combine(resume, "config.yaml") : throw new UsageException(Usage);
        if (!File.Exists(configPath)) throw new UsageException($"{configPath}: no such config file");
        var config = TrainConfig.Load(configPath, overrides);
        if (resume is not null && Path.GetFullPath(config.Output.Dir) != Path.GetFullPath(resume))
            config = config with { Output = config.Output with { Dir = resume } };
        if (json && !dryRun) throw new UsageException($"--json goes with --dry-run\n{Usage}");

        config.CheckInputsExist();
        var plan = MemoryPlanner.Plan(config, memoryLimit, estimateTime: dryRun);
        if (dryRun)
        {
            Console.WriteLine(json ? plan.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) : plan.Describe());
            if (!plan.Fits && !json) Console.Error.WriteLine(plan.Refusal());
            return plan.Fits ? 0 : 3;
        }
        if (!plan.Fits && !ignorePlan)
        {
            Console.Error.WriteLine(plan.Describe());
            Console.Error.WriteLine(plan.Refusal());
            Console.Error.WriteLine("(--ignore-memory-plan starts it anyway)");
            return 3;
        }

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
        try
        {
            bool live = !Console.IsOutputRedirected;
            var progress = new SynchronousProgress<FineTuneProgress>(p =>
            {
                string line = p.ValLoss is double vl
                    ? $"step {p.Step}/{p.TotalSteps}  val_loss {vl:F4}  val_accuracy {p.ValAccuracy:P1}"
                    : $"{Bar(p)} step {p.Step}/{p.TotalSteps}  epoch {p.Epoch + 1}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tok/s  " +
                      $"elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {Eta(p)}";
                if (live && p.ValLoss is null) Console.Write("\r" + line.PadRight(Math.Max(line.Length, 100)));
                else Console.WriteLine((live ? "\r" : "") + line);
            });
            var result = FineTuneRecipe.Run(config, resume is not null, RunRegistry.DefaultPath(home), progress, cancel.Token, checkMemory: false);
            if (live) Console.WriteLine();
            Console.WriteLine($"{result.Status.ToString().ToLowerInvariant()}: {result.StopReason}");
            if (MemoryPlanner.PeakResidentBytes() is long peak)
                Console.WriteLine($"peak memory {MemoryPlanner.Format(peak)} (planned {MemoryPlanner.Format(plan.PeakBytes)})");
            if (result.BestStep is int best) Console.WriteLine($"best validation loss {result.BestValLoss:F4} at step {best}");
            Console.WriteLine(result.Status == RunStatus.Interrupted
                ? $"resume with: scalpel train --resume {result.RunDirectory}"
                : $"report: {Path.Combine(result.RunDirectory, "report.html")}");
            Console.WriteLine(result.Status == RunStatus.Interrupted ? result.RunDirectory : result.OutputPath);
            return result.Status switch { RunStatus.Completed or RunStatus.Stopped => 0, RunStatus.Interrupted => 130, _ => 1 };
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static string Bar(FineTuneProgress p)
    {
        const int width = 20;
        int filled = p.TotalSteps == 0 ? width : (int)Math.Round(width * (double)p.Step / p.TotalSteps);
        return "[" + new string('#', filled) + new string('-', width - filled) + "]";
    }

    private static string Eta(FineTuneProgress p)
    {
        if (p.Step == 0) return "?";
        var remaining = TimeSpan.FromSeconds(p.Elapsed.TotalSeconds / p.Step * (p.TotalSteps - p.Step));
        return remaining.ToString(@"hh\:mm\:ss");
    }
}
