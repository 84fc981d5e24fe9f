using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Scalpel.Data;

namespace Scalpel.Bench;

/// <summary>
/// `scalpel data check` throughput on generated OpenAI chat JSONL (tools, multi-turn, tool calls, unicode).
/// `prepare DIR [MB ...]` writes chat-50mb.jsonl and chat-200mb.jsonl (or the sizes given) once; `run FILE` checks one file in a fresh process
/// (so its peak RSS is the check's own) and prints one JSON line: examples, mb, seconds, examples_per_s, mb_per_s, peak_rss_mb.
/// </summary>
public static class DataBench
{
    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["prepare", var dir, .. var sizes]:
                Directory.CreateDirectory(dir);
                foreach (int mb in sizes.Length > 0 ? sizes.Select(int.Parse) : [50, 200]) Prepare(Path.Combine(dir, $"chat-{mb}mb.jsonl"), mb);
                return 0;
            case ["run", var file]:
                return Check(file);
            default:
                Console.Error.WriteLine("usage: Scalpel.Bench data-check prepare DIR [MB ...] | run FILE");
                return 2;
        }
    }

    private static int Check(string file)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var report = DataChecker.Check(file);
        double seconds = watch.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        double mb = new FileInfo(file).Length / 1048576.0;
        Console.Error.WriteLine($"{Path.GetFileName(file)}: {report.Examples:N0} examples, {report.Errors.Count} errors, {report.Warnings.Count} warnings, " +
                                $"{report.Stats.Messages:N0} messages, {report.Stats.ToolCalls:N0} tool calls in {seconds:F2} s");
        // InvariantGlobalization: numbers print with '.', as JSON needs.
        Console.WriteLine($"{{\"examples\": {report.Examples}, \"mb\": {mb:F1}, \"seconds\": {seconds:F3}, \"examples_per_s\": {report.Examples / seconds:F0}, " +
                          $"\"mb_per_s\": {mb / seconds:F1}, \"cpu_s\": {cpuSeconds:F2}, \"threads\": {Environment.ProcessorCount}, \"peak_rss_mb\": {LoraBench.PeakRssMb():F1}, " +
                          $"\"errors\": {report.Errors.Count}, \"warnings\": {report.Warnings.Count}}}");
        return report.HasErrors ? 1 : 0;
    }

    // ------------------------------------------------------------------ the generated dataset

    private static void Prepare(string path, int megabytes)
    {
        long target = (long)megabytes << 20;
        if (File.Exists(path) && Math.Abs(new FileInfo(path).Length - target) < (1 << 20))
        {
            Console.Error.WriteLine($"{path}: already there");
            return;
        }
        var watch = Stopwatch.StartNew();
        var rng = new Random(megabytes);
        var words = Vocabulary(new Random(1));
        string tmp = path + ".tmp";
        long examples = 0;
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            while (stream.Position < target)
            {
                WriteExample(w, rng, words);
                w.Flush();
                stream.WriteByte((byte)'\n');
                w.Reset();
                examples++;
            }
            w.Dispose();
        }
        File.Move(tmp, path, overwrite: true);
        Console.Error.WriteLine($"{path}: {examples:N0} examples, {new FileInfo(path).Length / 1048576.0:F0} MB in {watch.Elapsed.TotalSeconds:F1} s");
    }

    private static readonly string[] Systems =
    [
        "You are a helpful assistant.",
        "You are a support agent for an online shop. Answer briefly and politely; use the tools to look up orders.",
        "Tu es un assistant qui répond en français, de façon concise et précise.",
        "あなたは親切なアシスタントです。簡潔に答えてください。",
    ];

    private static readonly (string Name, string Description, string[] Params)[] Tools =
    [
        ("get_weather", "Current weather for a city", ["city", "unit"]),
        ("search_orders", "Find a customer's orders by email or order id", ["email", "order_id", "limit"]),
        ("convert_currency", "Convert an amount between currencies", ["amount", "from", "to"]),
        ("create_ticket", "Open a support ticket", ["title", "body", "priority"]),
        ("lookup_product", "Product details by SKU", ["sku"]),
    ];

    private static string[] Vocabulary(Random rng)
    {
        string[] syllables = ["ka", "to", "ri", "me", "sa", "no", "lu", "pe", "di", "vo", "ra", "te", "mi", "zu", "qu", "an", "el", "or", "is", "un"];
        var words = new List<string>();
        for (int i = 0; i < 6000; i++)
        {
            var sb = new StringBuilder();
            int n = 1 + rng.Next(3);
            for (int j = 0; j < n; j++) sb.Append(syllables[rng.Next(syllables.Length)]);
            words.Add(sb.ToString());
        }
        // Unicode among the frequent words: accents, CJK, Cyrillic, Arabic, emoji (surrogate pairs), symbols.
        string[] unicode = ["café", "naïve", "Zürich", "São Paulo", "東京", "データ", "模型", "Привет", "مرحبا", "🙂", "🚀", "€", "—", "½", "日本語", "über"];
        for (int i = 0; i < unicode.Length; i++) words.Insert(7 + i * 23, unicode[i]);
        return [.. words];
    }

    private static string Sentence(Random rng, string[] words, int count)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            // Zipf-like: small indices much more often.
            int k = (int)(words.Length * Math.Pow(rng.NextDouble(), 2.5));
            if (i > 0) sb.Append(i % 13 == 12 ? ". " : i % 7 == 6 ? ", " : " ");
            sb.Append(words[Math.Min(k, words.Length - 1)]);
        }
        sb.Append(rng.Next(6) == 0 ? "?" : ".");
        return sb.ToString();
    }

    private static void WriteExample(Utf8JsonWriter w, Random rng, string[] words)
    {
        var tools = Tools.OrderBy(_ => rng.Next()).Take(1 + rng.Next(3)).ToArray();
        bool withTools = rng.Next(3) != 0;
        w.WriteStartObject();
        w.WriteStartArray("messages");
        if (rng.Next(4) != 0) Message(w, "system", Systems[rng.Next(Systems.Length)]);
        int turns = 1 + rng.Next(4);
        int call = 0;
        for (int t = 0; t < turns; t++)
        {
            Message(w, "user", Sentence(rng, words, 8 + rng.Next(60)));
            if (withTools && rng.Next(3) == 0)
            {
                var tool = tools[rng.Next(tools.Length)];
                string id = $"call_{call++}";
                w.WriteStartObject();
                w.WriteString("role", "assistant");
                w.WriteNull("content");
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                var args = new StringBuilder("{");
                foreach (var p in tool.Params.Take(1 + rng.Next(tool.Params.Length)))
                    args.Append(args.Length > 1 ? ", " : "").Append('"').Append(p).Append("\": \"").Append(words[rng.Next(words.Length)]).Append('"');
                w.WriteString("arguments", args.Append('}').ToString());
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteStartObject();
                w.WriteString("role", "tool");
                w.WriteString("tool_call_id", id);
                w.WriteString("content", "{\"result\": \"" + Sentence(rng, words, 5 + rng.Next(30)).Replace("\"", "'") + "\", \"ok\": true}");
                w.WriteEndObject();
            }
            w.WriteStartObject();
            w.WriteString("role", "assistant");
            w.WriteString("content", Sentence(rng, words, 20 + rng.Next(250)));
            if (t < turns - 1 && rng.Next(5) == 0) w.WriteNumber("weight", 0);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (withTools)
        {
            w.WriteStartArray("tools");
            foreach (var tool in tools)
            {
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                w.WriteString("description", tool.Description);
                w.WriteStartObject("parameters");
                w.WriteString("type", "object");
                w.WriteStartObject("properties");
                foreach (var p in tool.Params)
                {
                    w.WriteStartObject(p);
                    w.WriteString("type", "string");
                    w.WriteString("description", $"The {p} to use");
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteStartArray("required");
                w.WriteStringValue(tool.Params[0]);
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void Message(Utf8JsonWriter w, string role, string content)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
