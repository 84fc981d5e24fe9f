using Scalpel.Adapters;
using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tensors;

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
        if (!Directory.Exists(model)) throw new IOException($"{model}: no such model folder");

        DType storeAs;
        using (var reader = CheckpointReader.Open(model))
        {
            storeAs = dtype switch
            {
                null => reader.Info(reader.TensorNames.First()).DType,
                "bf16" or "bfloat16" => DType.BF16,
                "f16" or "float16" => DType.F16,
                "f32" or "float32" => DType.F32,
                _ => throw new UsageException($"--dtype must be bf16, f16 or f32, not '{dtype}'"),
            };
        }
        // Merge in F32 whatever the stored precision, then round once to the output dtype.
        using var loaded = DecoderModel.Load(model, precision: WeightPrecision.F32);
        if (adapter is not null) PeftAdapter.Load(loaded, adapter);
        MergedExport.Write(loaded, model, output, storeAs, maxShard);
        Console.WriteLine(Path.GetFullPath(output));
        return 0;
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
        if (adapterOnly && modelfile != (baseGguf is not null))
            throw new UsageException($"--modelfile and --base go together for gguf-adapter: the Modelfile's FROM is the base GGUF\n{Usage}");
        if (baseGguf is not null && !File.Exists(baseGguf)) throw new IOException($"--base {baseGguf}: no such GGUF file (write it with scalpel export gguf)");
        GgmlType ggmlType;
        try { ggmlType = GgufExport.ParseType(type); }
        catch (ArgumentException e) { throw new UsageException($"--type: {e.Message}"); }
        if (adapterOnly && ggmlType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new UsageException($"--type: a GGUF LoRA adapter is f32, f16 or bf16, not '{type}'");
        if (!Directory.Exists(model)) throw new IOException($"{model}: no such model folder");
        if (Directory.Exists(output)) throw new IOException($"{output}: is a folder; --out names the .gguf file to write");
        // Check what can be refused before loading any weights.
        GgufExport.Architecture(ModelSpec.FromConfigFile(model));
        if (!adapterOnly && !File.Exists(Path.Combine(model, "tokenizer.json")))
            throw new GgufExportException($"{model}: no tokenizer.json; GGUF export needs the model's tokenizer");
        using var loaded = DecoderModel.Load(model, precision: WeightPrecision.F32);
        if (adapter is not null) PeftAdapter.Load(loaded, adapter);
        if (adapterOnly) GgufExport.WriteAdapter(loaded, model, output, ggmlType);
        else GgufExport.Write(loaded, model, output, ggmlType);
        Console.WriteLine(Path.GetFullPath(output));
        if (modelfile)
        {
            var written = adapterOnly ? OllamaModelfile.Write(model, baseGguf!, output) : OllamaModelfile.Write(model, output);
            foreach (string warning in written.Warnings) Console.Error.WriteLine($"warning: {warning}");
            Console.WriteLine(written.Path);
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
