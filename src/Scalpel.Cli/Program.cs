using Scalpel.Adapters;
using Scalpel.Cli.Commands;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Text;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;

namespace Scalpel.Cli;

/// <summary>Wrong use of the command itself (unknown flag, missing argument): exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The <c>scalpel</c> command: one file per command under Commands/. Errors a user can fix are one clear line on
/// stderr: exit code 1 for bad input (data, checkpoints, configs), 2 for wrong use of the command.
/// </summary>
public static class Program
{
    /// <summary>Every command: name, one-line usage, handler (arguments after the name → exit code).</summary>
    private static readonly (string Name, string Usage, Func<string[], int> Run)[] Commands =
    [
        ("demo", "demo [--work DIR]            pipeline check: examples/keyword-task through scalpel train on a tiny model built here", DemoCommand.Run),
        ("inspect", "inspect MODEL_DIR            architecture, shapes and tensors of a Hugging Face checkpoint folder", InspectCommand.Run),
        ("pull", "pull ORG/NAME [--revision R] [--include PATTERNS]   download a model from the Hugging Face Hub into the shared cache", PullCommand.Run),
        ("export", "export merged|gguf --model DIR [--adapter DIR] --out DIR|FILE ...   fold an adapter into its base (HF folder or GGUF)", ExportCommand.Run),
        ("init", "init --model DIR --data TRAIN.jsonl [--validation FILE] [--out config.yaml]   a commented starter config", InitCommand.Run),
        ("train", "train CONFIG.yaml [--set KEY=VALUE ...] [--resume RUN_DIR]   fine-tune: validation, early stopping, checkpoints, report", TrainCommand.Run),
        ("runs", "runs [show ID] [--json]      training runs: status, best validation loss, duration (--home DIR; default $SCALPEL_HOME or ~/.scalpel)", RunsCommand.Run),
        ("data", "data CMD FILE [options]      datasets: check (exit 1 on errors), stats, split, convert, dedupe (scalpel data --help)", DataCommand.Run),
        ("tokenize", "tokenize --tokenizer DIR [--no-special] [--json] [FILE]   token ids of text (stdin or FILE) as transformers encodes it", TokenizeCommand.Run),
        ("generate", "generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE) [--max-tokens N] [--temperature T] ...   one answer, streamed", GenerateCommand.Run),
        ("chat", "chat --model DIR [--adapter DIR] [--system TEXT]   interactive chat (/reset, /system TEXT, /exit)", ChatCommand.Run),
        ("eval", "eval SUITE.yaml --model DIR [--adapter DIR] [--json]   score a model on an eval suite (metrics with 95% intervals)", EvalCommand.Run),
        ("compare", "compare SUITE.yaml --model DIR --train TRAIN.jsonl [--adapter DIR ...] [--out DIR]   prompting baselines vs adapters, with a verdict", CompareCommand.Run),
        ("serve", "serve --model DIR [--adapters DIR ...] [--port N] [--api-key KEY]   OpenAI-compatible server: chat, files, fine-tuning jobs, dashboard", ServeCommand.Run),
        ("mcp", "mcp --root DIR [--root DIR ...] [--home DIR]   MCP server on stdio for agents: data, configs, training, eval, compare, export under the roots", McpCommand.Run),
        ("template", "template render --model DIR CONVERSATION.json [--add-generation-prompt] [--json]\n                                       render {\"messages\", \"tools\"?} with the model's chat template (--json: text + assistant spans)", TemplateCommand.Run),
    ];

    public static string Usage =>
        "scalpel — fine-tune Llama-family models in .NET\n\nusage:\n" +
        string.Join('\n', Commands.Select(c => "  scalpel " + c.Usage)) +
        "\n  scalpel --help | --version";

    public static int Main(string[] args)
    {
        try
        {
            if (args is [] or ["--help" or "-h" or "help"]) { Console.WriteLine(Usage); return 0; }
            if (args is ["--version"]) { Console.WriteLine(typeof(Program).Assembly.GetName().Version); return 0; }
            foreach (var (name, _, run) in Commands)
                if (args[0] == name) return run(args[1..]);
            throw new UsageException($"unknown command '{args[0]}'\n\n{Usage}");
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is ModelConfigException or SafeTensorsFormatException or AdapterFormatException or TrainConfigException or FineTuneException
                                      or TokenizerFormatException or TokenizerConfigException or TemplateException or IOException
                                      or UnauthorizedAccessException or ArgumentException or FormatException or GgufExportException or GgufFormatException
                                      or Scalpel.Server.Inference.ServerStartException)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }
}

/// <summary>IProgress that reports on the calling thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
