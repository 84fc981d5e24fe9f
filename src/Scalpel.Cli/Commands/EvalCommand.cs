using System.Text.Json.Nodes;
using Scalpel.Evaluation;
using Scalpel.Generation;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel eval SUITE.yaml --model DIR [--adapter DIR]</c>: scores one model (one prompting setup) on every task of a
/// suite; prints a table (or, with --json, the metrics as JSON) and writes results.json and per-example JSONL files.
/// </summary>
internal static class EvalCommand
{
    private const string UsageText =
        "usage: scalpel eval SUITE.yaml --model DIR [--adapter DIR] [--setup NAME] [--train FILE] [--limit N] [--out DIR] [--json]\n" +
        "  --setup NAME   zero-shot (default), system-prompt, few-shot-random or few-shot-retrieved (the few-shot ones need --train)\n" +
        "  --out DIR      where results.json and examples/*.jsonl go (default: eval-results/SUITE_NAME)\n" +
        "  --json         print {\"tasks\": [{\"name\", \"metrics\": {NAME: {\"value\", \"ci95\": [lo, hi]}}}]} instead of a table";

    public static int Run(string[] argv)
    {
        var args = new CommandArgs(argv, UsageText, ["--model", "--adapter", "--setup", "--train", "--limit", "--out"], ["--json"]);
        if (args.Positionals.Count != 1) throw new UsageException($"which suite?\n\n{UsageText}");
        var kind = (args.Value("--setup") ?? PromptSetups.ZeroShotName) switch
        {
            PromptSetups.ZeroShotName => PromptKind.ZeroShot,
            PromptSetups.SystemPromptName => PromptKind.SystemPrompt,
            PromptSetups.FewShotRandomName => PromptKind.FewShotRandom,
            PromptSetups.FewShotRetrievedName => PromptKind.FewShotRetrieved,
            var other => throw new UsageException($"unknown setup '{other}'\n\n{UsageText}"),
        };
        int? limit = args.Has("--limit") ? args.Int("--limit", 0, 1, int.MaxValue) : null;
        bool json = args.Has("--json");
        try
        {
            var suite = EvalSuite.Load(args.Positionals[0]);
            var train = args.Value("--train") is { } t ? EvalExample.Read(t) : null;
            var setups = new PromptSetups(train);
            foreach (var task in suite.Tasks)
            {
                EvalMetrics.Create(task);
                if (setups.Unavailable(kind, task) is { } why) throw new EvalSuiteException($"task '{task.Name}': {PromptSetups.NameOf(kind)} cannot run: {why}");
            }
            string outDir = args.Value("--out") ?? Path.Combine("eval-results", CompareReport.Safe(suite.Name));
            var progress = json ? null : new SynchronousProgress<string>(line => Console.Error.WriteLine(line));
            using var model = InferenceModel.Load(args.Required("--model"), args.Value("--adapter"));
            var source = new LocalModelSource(model);
            var results = new List<SetupResult>();
            foreach (var task in suite.Tasks)
            {
                var tests = EvalExample.Read(task.DataPath, limit is { } l ? Math.Min(l, task.Limit ?? int.MaxValue) : task.Limit);
                results.Add(EvalRunner.Run(task, PromptSetups.NameOf(kind), tests, e => setups.Messages(kind, e, task), source, progress: progress));
            }

            var document = EvalJson.Tasks(results);
            document["suite"] = suite.Name;
            document["model"] = Path.GetFullPath(model.Directory);
            document["adapter"] = model.AdapterDirectory is { } a ? Path.GetFullPath(a) : null;
            document["setup"] = PromptSetups.NameOf(kind);
            EvalJson.WriteJson(Path.Combine(outDir, "results.json"), document);
            foreach (var r in results)
                EvalJson.WriteJsonLines(Path.Combine(outDir, "examples", CompareReport.Safe(r.Task) + ".jsonl"),
                    r.Examples.Select((_, i) => (JsonNode)EvalJson.Example(r, i)));

            if (json) Console.Out.WriteLine(EvalJson.Tasks(results).ToJsonString(EvalJson.Options));
            else
            {
                foreach (var r in results)
                {
                    Console.Out.WriteLine($"{r.Task} ({r.Examples.Count} examples, {r.Setup})");
                    foreach (var m in r.Metrics)
                        foreach (var (name, v) in m.Values)
                            Console.Out.WriteLine($"  {name,-28} {EvalJson.F(v.Value),8}  95% CI [{EvalJson.F(v.Ci95Low)}, {EvalJson.F(v.Ci95High)}]");
                }
                Console.Out.WriteLine($"results: {Path.GetFullPath(Path.Combine(outDir, "results.json"))}");
            }
            return 0;
        }
        catch (Exception e) when (e is EvalSuiteException or GenerationException or Data.DatasetException)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }
}
