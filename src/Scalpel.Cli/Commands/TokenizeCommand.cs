using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Scalpel.Text;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel tokenize --tokenizer DIR [--no-special] [--json] [FILE]</c>: token ids of UTF-8 text from FILE or stdin, as
/// transformers' tokenizer.encode gives them (special tokens added unless --no-special). Prints the ids separated by
/// spaces, or with --json <c>{"ids": [...], "tokens": [...]}</c> where tokens are the vocabulary strings of the ids.
/// </summary>
internal static class TokenizeCommand
{
    public const string Usage = "usage: scalpel tokenize --tokenizer DIR [--no-special] [--json] [FILE]   (text from FILE or stdin)";

    public static int Run(string[] args)
    {
        string? dir = null, file = null;
        bool special = true, json = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tokenizer":
                    if (i + 1 >= args.Length) throw new UsageException("--tokenizer needs a folder\n" + Usage);
                    dir = args[++i];
                    break;
                case "--no-special":
                    special = false;
                    break;
                case "--json":
                    json = true;
                    break;
                case var a when a.StartsWith('-') && a != "-":
                    throw new UsageException($"unknown option '{a}'\n" + Usage);
                default:
                    if (file is not null) throw new UsageException($"more than one input file ('{file}', '{args[i]}')\n" + Usage);
                    file = args[i];
                    break;
            }
        }
        if (dir is null) throw new UsageException("--tokenizer DIR is required\n" + Usage);

        Tokenizer tokenizer;
        try
        {
            tokenizer = Tokenizer.FromDirectory(dir);
        }
        catch (Exception e) when (e is TokenizerFormatException or TokenizerConfigException)
        {
            Console.Error.WriteLine($"scalpel: {e.Message}");
            return 1;
        }
        string text = file is null or "-" ? Console.In.ReadToEnd() : File.ReadAllText(file, Encoding.UTF8);
        int[] ids = tokenizer.Encode(text, special);

        if (!json)
        {
            Console.WriteLine(string.Join(' ', ids));
            return 0;
        }
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("ids");
            foreach (int id in ids) writer.WriteNumberValue(id);
            writer.WriteEndArray();
            writer.WriteStartArray("tokens");
            foreach (int id in ids) writer.WriteStringValue(tokenizer.IdToToken(id));
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        Console.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
        return 0;
    }
}
