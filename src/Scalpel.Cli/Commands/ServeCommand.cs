using Scalpel.Server;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel serve</c>: the OpenAI-compatible server. Prints <c>listening on http://HOST:PORT</c> once it accepts
/// requests, then runs until Ctrl+C (or SIGTERM).
/// </summary>
internal static class ServeCommand
{
    private const string UsageText =
        "usage: scalpel serve --model DIR [--adapters DIR ...] [--host 127.0.0.1] [--port N] [--data DIR] [--api-key KEY | --api-keys FILE]\n" +
        "                     [--cors ORIGIN ...] [--max-queue N] [--max-batch N] [--max-body-mb N] [--context TOKENS] [--max-adapters N]\n" +
        "                     [--db postgres://USER:PASSWORD@HOST:PORT/DB] [--checkpoint-interval STEPS] [--mcp-root DIR ...] [--home DIR]\n" +
        "  fine-tuning jobs live in DATA/scalpel.db (SQLite) unless --db names a PostgreSQL database\n" +
        "  --context: tokens per request (prompt + answer), default the model's limit up to 4096;\n" +
        "  --max-adapters: adapters kept loaded at once (least recently used unloaded first), default 8\n" +
        "  MCP (Streamable HTTP) at /mcp, behind the same API keys: its tools touch only the --mcp-root folders (default: the --data folder);\n" +
        "  --home: where MCP training runs are registered (runs.db), default SCALPEL_HOME or ~/.scalpel\n" +
        "  without an API key the server binds 127.0.0.1 only; --port 0 picks a free port";

    public static int Run(string[] argv)
    {
        var args = new CommandArgs(argv, UsageText,
            ["--model", "--adapters", "--host", "--port", "--data", "--api-key", "--api-keys", "--cors", "--max-queue", "--max-batch",
             "--max-body-mb", "--db", "--checkpoint-interval", "--context", "--max-adapters", "--mcp-root", "--home"], [],
            repeatable: ["--adapters", "--api-key", "--cors", "--mcp-root"]);
        // --adapters A B C: the values after the flag up to the next flag.
        var adapters = new List<string>(args.Values("--adapters"));
        adapters.AddRange(args.Positionals);
        var keys = new List<string>(args.Values("--api-key"));
        if (args.Value("--api-keys") is { } keyFile)
        {
            if (!File.Exists(keyFile)) throw new UsageException($"--api-keys {keyFile}: no such file");
            keys.AddRange(File.ReadAllLines(keyFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
        }
        if (keys.Any(k => k.Length < 8)) throw new UsageException("API keys must be at least 8 characters");
        var options = new ServerOptions
        {
            ModelDirectory = args.Required("--model"),
            Adapters = adapters,
            Host = args.Value("--host") ?? "127.0.0.1",
            Port = args.Int("--port", 8000, 0, 65535),
            DataDirectory = args.Value("--data") ?? "scalpel-data",
            ApiKeys = keys,
            CorsOrigins = args.Values("--cors"),
            MaxQueue = args.Int("--max-queue", 64, 1, 100_000),
            MaxBatch = args.Int("--max-batch", 16, 1, 256),
            MaxBodyBytes = (long)args.Int("--max-body-mb", 512, 1, 1 << 20) << 20,
            Database = args.Value("--db"),
            JobCheckpointInterval = args.Has("--checkpoint-interval") ? args.Int("--checkpoint-interval", 100, 1, 1_000_000) : null,
            ContextLength = args.Has("--context") ? args.Int("--context", 4096, 2, 1 << 20) : null,
            MaxLoadedAdapters = args.Int("--max-adapters", 8, 1, 1000),
            McpRoots = args.Values("--mcp-root"),
            McpHome = args.Value("--home"),
        };
        if (!Directory.Exists(options.ModelDirectory)) throw new UsageException($"--model {options.ModelDirectory}: no such folder");
        foreach (var a in adapters) if (!Directory.Exists(a)) throw new UsageException($"--adapters {a}: no such folder");
        foreach (var r in options.McpRoots) if (!Directory.Exists(r)) throw new UsageException($"--mcp-root {r}: no such folder");

        var stop = new CancellationTokenSource();           // not disposed: the exit handlers may still fire at shutdown
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
        return RunAsync(options, stop.Token).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(ServerOptions options, CancellationToken stop)
    {
        await using var server = ScalpelServer.Create(options, ServerFeatures.All());
        try
        {
            await server.StartAsync(stop);
        }
        catch (Scalpel.Server.Jobs.JobStoreException e)
        {
            // The job database cannot be opened (a PostgreSQL server down, a corrupt file): one line, exit 1.
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
        if (options.ApiKeys.Count == 0) Console.Error.WriteLine("no API key: accepting requests from this machine only (127.0.0.1)");
        Console.Out.WriteLine($"listening on {server.Address!.ToString().TrimEnd('/')}");
        Console.Out.WriteLine($"dashboard: {server.Address}");
        Console.Out.WriteLine($"mcp: {server.Address}mcp");
        Console.Out.Flush();
        // Until Ctrl+C or SIGTERM: the host's console lifetime turns either into a graceful stop (a running
        // fine-tuning job checkpoints and pauses), and so does `stop`.
        await server.WaitForShutdownAsync(stop);
        return 0;
    }
}
