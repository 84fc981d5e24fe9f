using Scalpel.IO;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Adapters;

/// <summary>What an export writes: a merged Hugging Face folder, one GGUF file, or a GGUF LoRA adapter alone.</summary>
public enum ExportKind { Merged, Gguf, GgufAdapter }

/// <summary>An export request that is wrong as asked (a type the kind cannot take, a missing companion option): nothing was read.</summary>
public sealed class ExportRequestException(string message) : ArgumentException(message);

/// <summary>One export, as <c>scalpel export</c> and the MCP <c>export</c> tool ask for it.</summary>
public sealed record ExportRequest
{
    public required ExportKind Kind { get; init; }
    public required string ModelDirectory { get; init; }
    /// <summary>LoRA adapter folded in (merged, gguf) or written alone (gguf-adapter, where it is required).</summary>
    public string? AdapterDirectory { get; init; }
    /// <summary>A folder (merged) or a .gguf file (gguf, gguf-adapter).</summary>
    public required string Output { get; init; }
    /// <summary>merged: bf16, f16 or f32 (null: as stored); gguf: f32, f16, bf16, q8_0 or q4_0 (null: f16);
    /// gguf-adapter: f32, f16 or bf16 (null: f32).</summary>
    public string? Type { get; init; }
    public long MaxShardBytes { get; init; } = CheckpointWriter.DefaultMaxShardBytes;
    /// <summary>Also write an Ollama Modelfile next to the GGUF file.</summary>
    public bool Modelfile { get; init; }
    /// <summary>gguf-adapter with a Modelfile: the base model's GGUF file, the Modelfile's FROM line.</summary>
    public string? BaseGguf { get; init; }
}

/// <summary>What an export wrote: the output (folder or file), the Modelfile if one was asked for, and its warnings.</summary>
public sealed record ExportResult(ExportKind Kind, string Output, string? ModelfilePath, IReadOnlyList<string> Warnings);

/// <summary>
/// The one export path behind the CLI and the MCP server: checks everything that can be refused before a weight is
/// read (<see cref="Check"/>), then loads the base in F32, folds the adapter in and writes.
/// </summary>
public static class ModelExport
{
    public static ExportKind ParseKind(string text) => text switch
    {
        "merged" => ExportKind.Merged,
        "gguf" => ExportKind.Gguf,
        "gguf-adapter" or "gguf_adapter" => ExportKind.GgufAdapter,
        _ => throw new ExportRequestException($"kind must be merged, gguf or gguf-adapter, not '{text}'"),
    };

    /// <summary>Refuses what would fail (bad type, missing folders, an architecture llama.cpp would run differently) without loading weights.</summary>
    public static void Check(ExportRequest request) => Prepare(request);

    public static ExportResult Run(ExportRequest request, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var (dtype, ggmlType) = Prepare(request);
        string model = request.ModelDirectory;
        progress?.Report($"loading {model}" + (request.AdapterDirectory is { } a ? $" + {a}" : ""));
        // Merge in F32 whatever the stored precision, then round once to the output type.
        using var loaded = DecoderModel.Load(model, precision: WeightPrecision.F32);
        if (request.AdapterDirectory is { } adapter) PeftAdapter.Load(loaded, adapter);
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report($"writing {request.Output}");
        switch (request.Kind)
        {
            case ExportKind.Merged:
                MergedExport.Write(loaded, model, request.Output, dtype, request.MaxShardBytes);
                return new ExportResult(request.Kind, Path.GetFullPath(request.Output), null, []);
            case ExportKind.Gguf:
                GgufExport.Write(loaded, model, request.Output, ggmlType);
                break;
            default:
                GgufExport.WriteAdapter(loaded, model, request.Output, ggmlType);
                break;
        }
        if (!request.Modelfile) return new ExportResult(request.Kind, Path.GetFullPath(request.Output), null, []);
        var written = request.Kind == ExportKind.GgufAdapter
            ? OllamaModelfile.Write(model, request.BaseGguf!, request.Output)
            : OllamaModelfile.Write(model, request.Output);
        return new ExportResult(request.Kind, Path.GetFullPath(request.Output), written.Path, written.Warnings);
    }

    private static (DType Merged, GgmlType Gguf) Prepare(ExportRequest request)
    {
        string model = request.ModelDirectory;
        bool adapterOnly = request.Kind == ExportKind.GgufAdapter;
        if (adapterOnly && request.AdapterDirectory is null) throw new ExportRequestException("gguf-adapter exports an adapter: give the adapter folder");
        if (request.Kind == ExportKind.Merged)
        {
            if (request.Modelfile) throw new ExportRequestException("a Modelfile goes with a GGUF export, not a merged folder");
            DType? asked = request.Type switch
            {
                null => null,
                "bf16" or "bfloat16" => DType.BF16,
                "f16" or "float16" => DType.F16,
                "f32" or "float32" => DType.F32,
                _ => throw new ExportRequestException($"type must be bf16, f16 or f32 for a merged export, not '{request.Type}'"),
            };
            if (!Directory.Exists(model)) throw new IOException($"{model}: no such model folder");
            CheckAdapter(request.AdapterDirectory);
            if (asked is { } d) return (d, default);
            using var reader = CheckpointReader.Open(model);
            return (reader.Info(reader.TensorNames.First()).DType, default);
        }

        GgmlType type;
        try { type = GgufExport.ParseType(request.Type ?? (adapterOnly ? "f32" : "f16")); }
        catch (ArgumentException e) { throw new ExportRequestException($"type: {e.Message}"); }
        if (adapterOnly && type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ExportRequestException($"type: a GGUF LoRA adapter is f32, f16 or bf16, not '{request.Type}'");
        if (adapterOnly && request.Modelfile != (request.BaseGguf is not null))
            throw new ExportRequestException("modelfile and base go together for gguf-adapter: the Modelfile's FROM is the base GGUF");
        if (request.BaseGguf is { } baseGguf && !File.Exists(baseGguf))
            throw new IOException($"base {baseGguf}: no such GGUF file (write it with scalpel export gguf)");
        if (!Directory.Exists(model)) throw new IOException($"{model}: no such model folder");
        CheckAdapter(request.AdapterDirectory);
        if (Directory.Exists(request.Output)) throw new IOException($"{request.Output}: is a folder; the output names the .gguf file to write");
        GgufExport.Architecture(ModelSpec.FromConfigFile(model));
        if (!adapterOnly && !File.Exists(Path.Combine(model, "tokenizer.json")))
            throw new GgufExportException($"{model}: no tokenizer.json; GGUF export needs the model's tokenizer");
        return (default, type);
    }

    private static void CheckAdapter(string? adapter)
    {
        if (adapter is not null && !Directory.Exists(adapter)) throw new IOException($"{adapter}: no such adapter folder");
    }
}
