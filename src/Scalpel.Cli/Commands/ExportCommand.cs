using Scalpel.Adapters;
using Scalpel.IO;

namespace Scalpel.Cli.Commands;

/// <summary>
/// <c>scalpel export merged</c>: fold an adapter into its base and write a plain Hugging Face folder.
/// <c>scalpel export gguf</c>: the same weights (adapter folded in) as one GGUF file for llama.cpp and Ollama.
/// <c>scalpel export gguf-adapter</c>: the adapter alone as a GGUF LoRA file. <c>--modelfile</c> adds an Ollama
/// Modelfile next to the written file (FROM, ADAPTER with <c>--base</c>, TEMPLATE, PARAMETER stop).
/// </summary>
internal static class ExportCommand
{
    private const string Usage = "usage: scalpel export merged --model DIR [--adapter DIR] --out DIR [--dtype bf16|f16|f32] [--max-shard-size BYTES|NGB|NMB]\n" +
                                 "       scalpel export gguf --model DIR [--adapter DIR] --out FILE --type f32|f16|bf16|q8_0|q4_0 [--modelfile]\n" +
                                 "       scalpel export gguf-adapter --model DIR --adapter DIR --out FILE [--type f32|f16|bf16] [--modelfile --base BASE.gguf]";

    public static int Run(string[] args)
    {
        if (args is ["gguf", .. var ggufArgs]) return RunGguf(ggufArgs, adapterOnly: false);
        if (args is ["gguf-adapter", .. var adapterArgs]) return RunGguf(adapterArgs, adapterOnly: true);
        if (args is not ["merged", .. var rest]) throw new UsageException(Usage);
        string? model = null, adapter = null, output = null, dtype = null;
        long maxShard = CheckpointWriter.DefaultMaxShardBytes;
        for (int i = 0; i < rest.Length; i++)
        {
            string Value() => i + 1 < rest.Length ? rest[++i] : throw new UsageException($"{rest[i]} needs a value\n{Usage}");
            switch (rest[i])
            {
                case "--model": model = Value(); break;
                case "--adapter": adapter = Value(); break;
                case "--out": output = Value(); break;
                case "--dtype": dtype = Value(); break;
                case "--max-shard-size": maxShard = ParseSize(Value()); break;
                default: throw new UsageException($"unknown option '{rest[i]}'\n{Usage}");
            }
        }
        if (model is null || output is null) throw new UsageException(Usage);
        return Export(new ExportRequest { Kind = ExportKind.Merged, ModelDirectory = model, AdapterDirectory = adapter, Output = output, Type = dtype, MaxShardBytes = maxShard });
    }

    private static int RunGguf(string[] rest, bool adapterOnly)
    {
        string? model = null, adapter = null, output = null, type = adapterOnly ? "f32" : null, baseGguf = null;
        bool modelfile = false;
        for (int i = 0; i < rest.Length; i++)
        {
            string Value() => i + 1 < rest.Length ? rest[++i] : throw new UsageException($"{rest[i]} needs a value\n{Usage}");
            switch (rest[i])
            {
                case "--model": model = Value(); break;
                case "--adapter": adapter = Value(); break;
                case "--out": output = Value(); break;
                case "--type": type = Value(); break;
                case "--modelfile": modelfile = true; break;
                case "--base" when adapterOnly: baseGguf = Value(); break;
                default: throw new UsageException($"unknown option '{rest[i]}'\n{Usage}");
            }
        }
        if (model is null || output is null || type is null || (adapterOnly && adapter is null)) throw new UsageException(Usage);
        return Export(new ExportRequest
        {
            Kind = adapterOnly ? ExportKind.GgufAdapter : ExportKind.Gguf, ModelDirectory = model, AdapterDirectory = adapter, Output = output,
            Type = type, Modelfile = modelfile, BaseGguf = baseGguf,
        });
    }

    /// <summary>The library's export (the MCP tool makes the same call); a request wrong as asked is a usage error (exit 2).</summary>
    private static int Export(ExportRequest request)
    {
        ExportResult result;
        try { result = ModelExport.Run(request); }
        catch (ExportRequestException e) { throw new UsageException(e.Message); }
        Console.WriteLine(result.Output);
        if (result.ModelfilePath is { } modelfilePath)
        {
            foreach (string warning in result.Warnings) Console.Error.WriteLine($"warning: {warning}");
            Console.WriteLine(modelfilePath);
        }
        return 0;
    }

    private static long ParseSize(string text)
    {
        string t = text.Trim().ToUpperInvariant();
        long unit = t.EndsWith("GB") ? 1_000_000_000 : t.EndsWith("MB") ? 1_000_000 : t.EndsWith("KB") ? 1_000 : 1;
        string digits = unit == 1 ? t : t[..^2];
        return long.TryParse(digits, out long n) && n > 0 ? n * unit : throw new UsageException($"--max-shard-size: '{text}' is not a size like 2GB");
    }
}
