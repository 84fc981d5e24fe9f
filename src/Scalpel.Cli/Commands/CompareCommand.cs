using Scalpel.Evaluation;
using Scalpel.Generation;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel compare SUITE.yaml --model DIR --train TRAIN.jsonl [--adapter A ...]</c>: every prompting baseline, each
/// adapter and an optional endpoint on the same test sets; writes compare.md, compare.html and compare.json with a verdict.
/// </summary>
internal static class CompareCommand
{
    private const string UsageText =
        "usage: scalpel compare SUITE.yaml --model DIR [--train TRAIN.jsonl] [--adapter DIR ...] [--regression FILE]\n" +
        "                       [--endpoint URL --endpoint-model NAME] [--limit N] [--out DIR]\n" +
        "  --train FILE        training examples for the few-shot baselines (random and BM25-retrieved)\n" +
        "  --adapter DIR       a PEFT adapter to compare (repeatable); its setup is named after its folder\n" +
        "  --regression FILE   a general instruction set scored for the base model and each adapter\n" +
        "  --endpoint URL      an OpenAI-compatible API (e.g. https://api.openai.com/v1) as a larger-model baseline;\n" +
        "                      the key comes from $OPENAI_API_KEY\n" +
        "  --out DIR           where the reports go (default: compare-results/SUITE_NAME)";

    public static int Run(string[] argv)
    {
        var args = new CommandArgs(argv, UsageText, ["--model", "--train", "--adapter", "--regression", "--endpoint", "--endpoint-model", "--limit", "--out"],
            [], repeatable: ["--adapter"]);
        if (args.Positionals.Count != 1) throw new UsageException($"which suite?\n\n{UsageText}");
        Uri? endpoint = null;
        if (args.Value("--endpoint") is { } url)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
                throw new UsageException($"--endpoint must be an http(s) URL, got '{url}'");
            if (!args.Has("--endpoint-model")) throw new UsageException("--endpoint needs --endpoint-model NAME");
        }
        foreach (var adapter in args.Values("--adapter"))
            if (!Directory.Exists(adapter)) throw new UsageException($"--adapter {adapter}: no such folder");
        try
        {
            var suite = EvalSuite.Load(args.Positionals[0]);
            var options = new CompareOptions
            {
                ModelDirectory = args.Required("--model"),
                TrainPath = args.Value("--train"),
                Adapters = args.Values("--adapter"),
                Endpoint = endpoint,
                EndpointModel = args.Value("--endpoint-model"),
                EndpointApiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY"),
                RegressionPath = args.Value("--regression"),
                Limit = args.Has("--limit") ? args.Int("--limit", 0, 1, int.MaxValue) : null,
            };
            string outDir = args.Value("--out") ?? Path.Combine("compare-results", CompareReport.Safe(suite.Name));
            var result = CompareRunner.Run(suite, options, new SynchronousProgress<string>(line => Console.Error.WriteLine(line)));
            CompareReport.WriteAll(result, outDir);
            Console.Out.WriteLine(result.Verdict.Summary);
            Console.Out.WriteLine(Path.GetFullPath(Path.Combine(outDir, "compare.html")));
            return 0;
        }
        catch (Exception e) when (e is EvalSuiteException or GenerationException or Data.DatasetException or HttpRequestException)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }
}
