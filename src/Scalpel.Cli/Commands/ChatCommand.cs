using Scalpel.Generation;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel chat</c>: an interactive conversation. Answers stream as they are generated; the conversation is kept (and
/// its KV cache reused) until <c>/reset</c>. Lines starting with / are commands.
/// </summary>
internal static class ChatCommand
{
    private const string UsageText =
        "usage: scalpel chat --model DIR [--adapter DIR] [options]\n" +
        "  in the chat: /reset forgets the conversation, /system TEXT sets the system prompt, /exit ends\n" +
        "  --context N              tokens the conversation may hold (default: the model's, at most 4096)\n" +
        GenerationArgs.Usage;

    public static int Run(string[] argv)
    {
        var args = new CommandArgs(argv, UsageText, [.. GenerationArgs.ValueFlags, "--context"], [], repeatable: ["--stop"]);
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected argument '{args.Positionals[0]}'\n\n{UsageText}");
        int maxTokens = args.Int("--max-tokens", 512, 1, 1 << 20);
        int context = args.Int("--context", 4096, 16, 1 << 20);
        using var loaded = GenerationArgs.Load(args);
        if (loaded.Template is null)
        {
            Console.Error.WriteLine($"scalpel: {loaded.Directory} has no chat template, so it cannot chat; use scalpel generate --raw");
            return 1;
        }
        var settings = new GenerationRequest
        {
            PromptIds = [], MaxNewTokens = maxTokens, Sampling = GenerationArgs.Sampling(args, loaded.Defaults.Sampling),
            StopStrings = args.Values("--stop"),
        };
        using var session = new ChatSession(loaded.Generator, loaded.Template, context) { SystemPrompt = args.Value("--system") };
        bool interactive = !Console.IsInputRedirected;
        if (interactive) Console.Error.WriteLine($"chatting with {loaded.Directory}{(loaded.AdapterDirectory is { } a ? " + " + a : "")}; /reset, /system TEXT, /exit");
        while (true)
        {
            if (interactive) Console.Error.Write("> ");
            string? line = Console.In.ReadLine();
            if (line is null || line.Trim() is "/exit" or "/quit") return 0;
            if (line.Trim().Length == 0) continue;
            if (line.Trim() == "/reset")
            {
                session.Reset();
                Console.Error.WriteLine("(conversation cleared)");
                continue;
            }
            if (line.StartsWith("/system", StringComparison.Ordinal))
            {
                session.SystemPrompt = line["/system".Length..].Trim();
                session.Reset();
                Console.Error.WriteLine(session.SystemPrompt.Length == 0 ? "(system prompt removed; conversation cleared)" : "(system prompt set; conversation cleared)");
                continue;
            }
            if (line.StartsWith('/'))
            {
                Console.Error.WriteLine($"unknown command {line.Split(' ')[0]}: /reset, /system TEXT, /exit");
                continue;
            }
            try
            {
                session.Send(line, settings, piece => { Console.Out.Write(piece); Console.Out.Flush(); });
                Console.Out.WriteLine();
            }
            catch (GenerationException e)
            {
                Console.Error.WriteLine($"scalpel: {e.Message}");
            }
        }
    }
}
