using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Generation;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel generate</c>: one answer from a model (with an adapter, optionally), streamed to stdout as it is generated.
/// The prompt is a user message rendered with the chat template (or plain text with --raw), or a conversation file.
/// </summary>
internal static class GenerateCommand
{
    private const string UsageText =
        "usage: scalpel generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE) [options]\n" +
        "  --prompt TEXT            the user's message (\"-\" reads it from stdin)\n" +
        "  --messages FILE          a conversation: {\"messages\": [...], \"tools\": [...]?} or a JSON list of messages\n" +
        "  --raw                    --prompt is plain text to continue, not a chat message\n" +
        "  --choice TEXT            the answer must be exactly one of these (repeatable)\n" +
        "  --json-schema FILE       the answer must be JSON conforming to this schema\n" +
        "  --json-object            the answer must be a JSON object\n" +
        "  --json                   print one JSON object at the end (text, finish_reason, token counts) instead of streaming\n" +
        GenerationArgs.Usage;

    public static int Run(string[] argv)
    {
        var args = new CommandArgs(argv, UsageText, [.. GenerationArgs.ValueFlags, "--prompt", "--messages", "--choice", "--json-schema"],
            ["--raw", "--json", "--json-object"], repeatable: ["--stop", "--choice"]);
        if (new[] { args.Has("--choice"), args.Has("--json-schema"), args.Has("--json-object") }.Count(b => b) > 1)
            throw new UsageException("--choice, --json-schema and --json-object exclude each other");
        if (args.Positionals.Count > 0) throw new UsageException($"unexpected argument '{args.Positionals[0]}'\n\n{UsageText}");
        if (args.Has("--prompt") == args.Has("--messages")) throw new UsageException($"give --prompt or --messages\n\n{UsageText}");
        if (args.Has("--raw") && !args.Has("--prompt")) throw new UsageException("--raw goes with --prompt");
        int maxTokens = args.Int("--max-tokens", 256, 1, 1 << 20);
        bool json = args.Has("--json");

        try
        {
            using var loaded = GenerationArgs.Load(args);
            var sampling = GenerationArgs.Sampling(args, loaded.Defaults.Sampling);
            int[] prompt = Prompt(args, loaded);
            var request = new GenerationRequest
            {
                PromptIds = prompt, MaxNewTokens = maxTokens, Sampling = sampling, StopStrings = args.Values("--stop"),
                Constraint = Constraint(args, loaded),
                OnText = json ? null : piece => { Console.Out.Write(piece); Console.Out.Flush(); },
            };
            var result = loaded.Generator.Generate(request);
            if (json)
            {
                var output = new JsonObject
                {
                    ["text"] = result.Text,
                    ["finish_reason"] = result.FinishReason == FinishReason.Stop ? "stop" : "length",
                    ["prompt_tokens"] = result.PromptTokens,
                    ["completion_tokens"] = result.CompletionTokens,
                    ["tokens"] = new JsonArray([.. result.Tokens.Select(t => (JsonNode)t)]),
                };
                Console.Out.WriteLine(output.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            }
            else Console.Out.WriteLine();
            return 0;
        }
        catch (GenerationException e)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }

    private static Func<Generation.Constraints.ITokenConstraint>? Constraint(CommandArgs args, InferenceModel loaded)
    {
        if (args.Has("--json-object")) return loaded.Vocabulary.JsonObjectGrammar.Start;
        if (args.Values("--choice") is { Count: > 0 } choices) return Generation.Constraints.TokenGrammar.Choice(loaded.Vocabulary, choices).Start;
        if (args.Value("--json-schema") is not { } file) return null;
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no such file");
        JsonNode? schema;
        try { schema = JsonNode.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new FormatException($"{file}: invalid JSON ({e.Message})"); }
        try { return Generation.Constraints.TokenGrammar.JsonSchema(loaded.Vocabulary, schema!).Start; }
        catch (NotSupportedException e) { throw new FormatException($"{file}: {e.Message}"); }
    }

    private static int[] Prompt(CommandArgs args, InferenceModel loaded)
    {
        if (args.Value("--prompt") is { } text)
        {
            if (text == "-") text = Console.In.ReadToEnd();
            if (args.Has("--raw")) return loaded.Tokenizer.Encode(text, addSpecialTokens: true);
            var messages = new JsonArray();
            if (args.Value("--system") is { } system) messages.Add((JsonNode)new JsonObject { ["role"] = "system", ["content"] = system });
            messages.Add((JsonNode)new JsonObject { ["role"] = "user", ["content"] = text });
            return loaded.EncodeConversation(messages);
        }
        var (conversation, tools) = ReadConversation(args.Required("--messages"));
        if (args.Value("--system") is { } sys) conversation.Insert(0, (JsonNode)new JsonObject { ["role"] = "system", ["content"] = sys });
        return loaded.EncodeConversation(conversation, tools);
    }

    internal static (JsonArray Messages, JsonArray? Tools) ReadConversation(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no such file");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new FormatException($"{file}: invalid JSON ({e.Message})"); }
        switch (root)
        {
            case JsonArray list:
                return (list, null);
            case JsonObject o when o["messages"] is JsonArray messages:
                var tools = o["tools"] switch
                {
                    null => null,
                    JsonArray a => a,
                    _ => throw new FormatException($"{file}: \"tools\" must be a list of tool definitions"),
                };
                return (messages, tools);
            default:
                throw new FormatException($"{file}: expected {{\"messages\": [...]}} or a JSON list of messages");
        }
    }
}
