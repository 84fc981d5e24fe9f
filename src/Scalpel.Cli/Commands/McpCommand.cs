using Scalpel.Server.Mcp;
using Scalpel.Training.Runs;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel mcp --root DIR [--root DIR ...] [--home DIR]</c>: an MCP server on stdin/stdout for agents (the tools are in
/// Scalpel.Server/Mcp). Every path a tool is given must resolve under a --root. Nothing else may write to stdout.
/// </summary>
internal static class McpCommand
{
    private const string Usage = "usage: scalpel mcp --root DIR [--root DIR ...] [--home DIR]";

    public static int Run(string[] args)
    {
        var rootDirs = new List<string>();
        string? home = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value\n{Usage}");
            switch (args[i])
            {
                case "--root": rootDirs.Add(Value()); break;
                case "--home": home = Value(); break;
                default: throw new UsageException($"unknown option '{args[i]}'\n{Usage}");
            }
        }
        if (rootDirs.Count == 0) throw new UsageException($"which folders may the agent touch? pass at least one --root\n{Usage}");
        McpRoots roots;
        try { roots = new McpRoots(rootDirs); }
        catch (OutsideRootsException e) { throw new UsageException(e.Message); }

        // stdout carries JSON-RPC only (the transport writes to the raw stream): a stray Console.WriteLine goes to stderr.
        Console.SetOut(Console.Error);
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        var runs = new McpRuns(RunRegistry.DefaultPath(home));
        try { ScalpelMcpServer.RunStdioAsync(roots, runs, stop.Token).GetAwaiter().GetResult(); }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        // The client closed stdin (or Ctrl-C): runs still training stop at their next step with a checkpoint, resumable.
        runs.StopAll(TimeSpan.FromMinutes(2));
        return 0;
    }
}
