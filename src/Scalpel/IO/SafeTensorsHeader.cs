using System.Text.Json;
using System.Text.Unicode;
using Scalpel.Tensors;

namespace Scalpel.IO;

/// <summary>The element types a safetensors header may name, with their sizes in bits.</summary>
internal static class SafeTensorsDTypes
{
    // Every dtype of the reference implementation. Only F32/BF16/F16 load as floats; the rest are recognised so a
    // header that uses them can still be validated (offsets, sizes) and a read can say which dtype it met.
    private static readonly Dictionary<string, int> Bits = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 8, ["U8"] = 8, ["I8"] = 8,
        ["F8_E5M2"] = 8, ["F8_E4M3"] = 8, ["F8_E8M0"] = 8,
        ["F4"] = 4, ["F6_E2M3"] = 6, ["F6_E3M2"] = 6,
        ["I16"] = 16, ["U16"] = 16, ["F16"] = 16, ["BF16"] = 16,
        ["I32"] = 32, ["U32"] = 32, ["F32"] = 32,
        ["I64"] = 64, ["U64"] = 64, ["F64"] = 64, ["C64"] = 64,
    };

    public static bool TryGetBits(string name, out int bits) => Bits.TryGetValue(name, out bits);

    public static DType? Loadable(string name) => name switch
    {
        "F32" => DType.F32,
        "BF16" => DType.BF16,
        "F16" => DType.F16,
        _ => null,
    };

    public static string Name(DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.BF16 => "BF16",
        DType.F16 => "F16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors storage dtype Scalpel writes"),
    };
}

/// <summary>One validated header entry; <see cref="Begin"/>/<see cref="End"/> are relative to the data section.</summary>
internal sealed record SafeTensorsEntry(string Name, string DTypeName, DType? DType, int[] Shape, long ElementCount, long Begin, long End)
{
    public TensorInfo ToInfo() => new(Name, DType!.Value, Shape, Begin, End - Begin);
}

/// <summary>
/// Parses and validates a safetensors JSON header. Nothing in it is trusted until every entry has been checked against
/// the size of the data section; every failure names the file and, where there is one, the tensor.
/// </summary>
internal static class SafeTensorsHeader
{
    public const string MetadataKey = "__metadata__";

    /// <returns>Entries sorted by data offset, and the string metadata (empty when absent).</returns>
    public static (List<SafeTensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(
        ReadOnlyMemory<byte> header, long dataLength, string path)
    {
        if (!Utf8.IsValid(header.Span))
            throw Fail(path, "header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Fail(path, $"header is not valid JSON ({e.Message})");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(path, $"header must be a JSON object, found {Describe(root)}");

            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Fail(path, $"header names '{property.Name}' twice");
                if (property.Name == MetadataKey)
                    ReadMetadata(property.Value, metadata, path);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, dataLength, path));
            }

            CheckNoOverlaps(entries, path);
            return (entries, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"{MetadataKey} must be an object of strings, found {Describe(value)}");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Fail(path, $"{MetadataKey} entry '{item.Name}' must be a string, found {Describe(item.Value)}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ReadEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(path, name, $"entry must be an object, found {Describe(value)}");

        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement))
            throw Fail(path, name, "entry has no 'dtype'");
        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw Fail(path, name, $"'dtype' must be a string, found {Describe(dtypeElement)}");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafeTensorsDTypes.TryGetBits(dtypeName, out int bits))
            throw Fail(path, name, $"unknown dtype '{dtypeName}'");

        if (!value.TryGetProperty("shape", out JsonElement shapeElement))
            throw Fail(path, name, "entry has no 'shape'");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw Fail(path, name, $"'shape' must be an array, found {Describe(shapeElement)}");
        var shape = new int[shapeElement.GetArrayLength()];
        long elements = 1;
        bool overflow = false;
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d))
                throw Fail(path, name, $"shape dimension {i} must be an integer, found {Describe(dim)}");
            if (d < 0)
                throw Fail(path, name, $"shape dimension {i} is negative ({d})");
            if (d > int.MaxValue)
                throw Fail(path, name, $"shape dimension {i} ({d}) is larger than {int.MaxValue}");
            shape[i++] = (int)d;
            // Keep multiplying after an overflow only to report it once every dimension has been checked.
            if (!overflow)
            {
                try { elements = checked(elements * d); }
                catch (OverflowException) { overflow = true; }
            }
        }

        if (!value.TryGetProperty("data_offsets", out JsonElement offsetsElement))
            throw Fail(path, name, "entry has no 'data_offsets'");
        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw Fail(path, name, $"'data_offsets' must be an array of two integers, found {Describe(offsetsElement)}");
        long begin = ReadOffset(offsetsElement[0], "begin", name, path);
        long end = ReadOffset(offsetsElement[1], "end", name, path);
        if (end < begin)
            throw Fail(path, name, $"data_offsets [{begin}, {end}] end before they begin");
        if (end > dataLength)
            throw Fail(path, name, $"data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes)");

        string shapeText = "[" + string.Join(", ", shape) + "]";
        if (overflow)
            throw Fail(path, name, $"shape {shapeText} has more elements than fit in 64 bits");
        long byteLength;
        try
        {
            long totalBits = checked(elements * bits);
            if (totalBits % 8 != 0)
                throw Fail(path, name, $"shape {shapeText} of {dtypeName} ({bits} bits each) does not fill whole bytes");
            byteLength = totalBits / 8;
        }
        catch (OverflowException)
        {
            throw Fail(path, name, $"shape {shapeText} of {dtypeName} is too large: its byte size overflows");
        }
        if (byteLength != end - begin)
            throw Fail(path, name,
                $"shape {shapeText} of {dtypeName} needs {byteLength} bytes but data_offsets [{begin}, {end}] hold {end - begin}");

        return new SafeTensorsEntry(name, dtypeName, SafeTensorsDTypes.Loadable(dtypeName), shape, elements, begin, end);
    }

    private static long ReadOffset(JsonElement element, string which, string name, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long offset))
        {
            // A u64 beyond long.MaxValue is still an integer, just far past any real file.
            if (element.ValueKind == JsonValueKind.Number && element.TryGetUInt64(out ulong big))
                throw Fail(path, name, $"data_offsets {which} ({big}) runs past the end of the data section");
            throw Fail(path, name, $"data_offsets {which} must be a non-negative integer, found {Describe(element)}");
        }
        if (offset < 0)
            throw Fail(path, name, $"data_offsets {which} is negative ({offset})");
        return offset;
    }

    /// <summary>Sorts by offset and rejects any two tensors sharing a byte. Gaps are tolerated; empty tensors touch no bytes.</summary>
    private static void CheckNoOverlaps(List<SafeTensorsEntry> entries, string path)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        SafeTensorsEntry? previous = null;
        foreach (SafeTensorsEntry entry in entries)
        {
            if (entry.End == entry.Begin) continue;
            if (previous is not null && entry.Begin < previous.End)
                throw Fail(path, entry.Name,
                    $"data_offsets [{entry.Begin}, {entry.End}] overlap tensor '{previous.Name}' at [{previous.Begin}, {previous.End}]");
            if (previous is null || entry.End > previous.End) previous = entry;
        }
    }

    private static string Describe(JsonElement element)
    {
        string text = element.GetRawText();
        if (text.Length > 60) text = text[..57] + "...";
        return element.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => $"an array {text}",
            JsonValueKind.String => $"the string {text}",
            JsonValueKind.Number => $"the number {text}",
            JsonValueKind.True or JsonValueKind.False => $"the boolean {text}",
            JsonValueKind.Null => "null",
            _ => text,
        };
    }

    public static SafeTensorsFormatException Fail(string path, string message) =>
        new($"safetensors file '{path}': {message}");

    public static SafeTensorsFormatException Fail(string path, string tensor, string message) =>
        new($"safetensors file '{path}': tensor '{tensor}': {message}");
}
