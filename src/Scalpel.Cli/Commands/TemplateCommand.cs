using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Text;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel template render --model DIR CONVERSATION.json [--add-generation-prompt] [--json]</c>: renders a conversation
/// ({"messages": [...], "tools": [...]?}) with the model folder's chat template, exactly as transformers'
/// apply_chat_template would. Prints the text as is (no newline added), or with --json one line
/// {"text": ..., "assistant_spans": [[start, end], ...]} with offsets in Unicode code points, end exclusive.
/// </summary>
internal static class TemplateCommand
{
    private const string UsageText = "usage: scalpel template render --model DIR CONVERSATION.json [--add-generation-prompt] [--json]";

    public static int Run(string[] args)
    {
        if (args is not ["render", .. var rest]) throw new UsageException(UsageText);
        string? model = null, file = null;
        bool prompt = false, json = false;
        for (int i = 0; i < rest.Length; i++)
        {
            switch (rest[i])
            {
                case "--model":
                    if (i + 1 >= rest.Length || model is not null) throw new UsageException("--model needs one folder\n" + UsageText);
                    model = rest[++i];
                    break;
                case "--add-generation-prompt": prompt = true; break;
                case "--json": json = true; break;
                case var a when a.StartsWith('-') && a.Length > 1:
                    throw new UsageException($"unknown option '{a}'\n" + UsageText);
                default:
                    if (file is not null) throw new UsageException($"unexpected argument '{rest[i]}'\n" + UsageText);
                    file = rest[i];
                    break;
            }
        }
        if (model is null || file is null) throw new UsageException(UsageText);

        try
        {
            var (messages, tools) = ReadConversation(file);
            var template = ChatTemplate.FromDirectory(model);
            if (!json)
            {
                Console.Out.Write(template.RenderConversationText(messages, tools, prompt));
                Console.Out.Flush();
                return 0;
            }
            var rendering = template.RenderConversation(messages, tools, prompt);
            var spans = new JsonArray();
            foreach (var (start, end) in rendering.AssistantSpans)
                spans.Add(new JsonArray(CodePointIndex(rendering.Text, start), CodePointIndex(rendering.Text, end)));
            var result = new JsonObject { ["text"] = rendering.Text, ["assistant_spans"] = spans };
            Console.Out.WriteLine(result.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            return 0;
        }
        catch (Exception e) when (e is TemplateException or TokenizerConfigException)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
    }

    private static (JsonArray Messages, JsonArray? Tools) ReadConversation(string file)
    {
        if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no such file");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new FormatException($"{file}: invalid JSON ({e.Message})"); }
        if (root is not JsonObject o || o["messages"] is not JsonArray messages)
            throw new FormatException($"{file}: expected a JSON object {{\"messages\": [...], \"tools\": [...]}}");
        var tools = o["tools"] switch
        {
            null => null,
            JsonArray a => a,
            _ => throw new FormatException($"{file}: \"tools\" must be a list of tool definitions"),
        };
        return (messages, tools);
    }

    /// <summary>UTF-16 offset → Unicode code point offset.</summary>
    private static int CodePointIndex(string text, int utf16)
    {
        int n = 0;
        for (int i = 0; i < utf16; i++, n++)
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
        return n;
    }
}
