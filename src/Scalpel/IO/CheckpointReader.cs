using System.Text.Json;

namespace Scalpel.IO;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: model.safetensors, or shards listed by model.safetensors.index.json.
/// </summary>
/// <remarks>
/// As in transformers, a folder holding both uses model.safetensors. With an index, every shard is opened once and
/// checked against it: a missing shard, a tensor the index places in a shard that lacks it, or a tensor stored in two
/// shards is an error naming the folder and the file or tensor. Tensors a shard holds beyond the index are readable too.
/// </remarks>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _owner;

    private CheckpointReader(string directory, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> owner)
    {
        Directory = directory;
        _files = files;
        _owner = owner;
    }

    public string Directory { get; }

    /// <summary>Every tensor in the checkpoint, including any of a dtype Scalpel cannot read as floats.</summary>
    public IEnumerable<string> TensorNames => _owner.Keys;

    /// <summary>The safetensors files backing this checkpoint, in the order they were opened.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files;

    public static CheckpointReader Open(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"checkpoint folder '{directory}' does not exist");

        string single = Path.Combine(directory, SingleFileName);
        string index = Path.Combine(directory, IndexFileName);
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            return new CheckpointReader(directory, [file], file.TensorNames.ToDictionary(n => n, _ => file, StringComparer.Ordinal));
        }
        if (File.Exists(index))
            return OpenSharded(directory, index);

        string hint = File.Exists(Path.Combine(directory, "pytorch_model.bin")) || File.Exists(Path.Combine(directory, "pytorch_model.bin.index.json"))
            ? " (it has PyTorch .bin weights, which Scalpel does not read: convert them to safetensors)"
            : "";
        throw new SafeTensorsFormatException(
            $"checkpoint folder '{directory}' has neither {SingleFileName} nor {IndexFileName}{hint}");
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    /// <summary>Throws SafeTensorsFormatException naming the checkpoint and the tensor when it is missing.</summary>
    public TensorInfo Info(string name) => Owner(name).Info(name);

    public void ReadAsF32(string name, Span<float> destination) => Owner(name).ReadAsF32(name, destination);

    public void ReadAsBF16(string name, Span<ushort> destination) => Owner(name).ReadAsBF16(name, destination);

    /// <summary>Elements [start, start + destination.Length) of a tensor as F32.</summary>
    public void ReadAsF32(string name, long start, Span<float> destination) => Owner(name).ReadAsF32(name, start, destination);

    /// <summary>Elements [start, start + destination.Length) of a tensor as BF16 bits.</summary>
    public void ReadAsBF16(string name, long start, Span<ushort> destination) => Owner(name).ReadAsBF16(name, start, destination);

    public void Dispose()
    {
        foreach (SafeTensorsFile file in _files) file.Dispose();
    }

    private SafeTensorsFile Owner(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _owner.TryGetValue(name, out SafeTensorsFile? file)
            ? file
            : throw new SafeTensorsFormatException($"checkpoint '{Directory}' has no tensor '{name}'");
    }

    private static CheckpointReader OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> weightMap = ReadWeightMap(indexPath);

        var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var files = new List<SafeTensorsFile>();
        try
        {
            foreach (var group in weightMap.GroupBy(kv => kv.Value, StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(directory, group.Key);
                if (!File.Exists(shardPath))
                {
                    int others = group.Count() - 1;
                    string also = others > 0 ? $" and {others} other{(others == 1 ? "" : "s")}" : "";
                    throw new SafeTensorsFormatException(
                        $"checkpoint '{directory}': {IndexFileName} puts tensor '{group.First().Key}'{also} in shard '{group.Key}', " +
                        "but that file does not exist");
                }
                var file = SafeTensorsFile.Open(shardPath);
                files.Add(file);
                shardOf[group.Key] = file;
            }

            var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (SafeTensorsFile file in files)
                foreach (string name in file.TensorNames)
                {
                    if (owner.TryGetValue(name, out SafeTensorsFile? first))
                        throw new SafeTensorsFormatException(
                            $"checkpoint '{directory}': tensor '{name}' is stored in two shards, " +
                            $"'{Path.GetFileName(first.Path)}' and '{Path.GetFileName(file.Path)}'");
                    owner[name] = file;
                }

            foreach (var (name, shard) in weightMap)
            {
                if (!owner.TryGetValue(name, out SafeTensorsFile? actual))
                    throw new SafeTensorsFormatException(
                        $"checkpoint '{directory}': {IndexFileName} puts tensor '{name}' in shard '{shard}', but that shard does not contain it");
                if (actual != shardOf[shard])
                    throw new SafeTensorsFormatException(
                        $"checkpoint '{directory}': {IndexFileName} puts tensor '{name}' in shard '{shard}', " +
                        $"but it is stored in '{Path.GetFileName(actual.Path)}'");
            }
            return new CheckpointReader(directory, files, owner);
        }
        catch
        {
            foreach (SafeTensorsFile file in files) file.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException($"checkpoint index '{indexPath}' is not valid JSON ({e.Message})");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"checkpoint index '{indexPath}' must be a JSON object");
            if (!root.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"checkpoint index '{indexPath}' has no 'weight_map' object");

            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new SafeTensorsFormatException(
                        $"checkpoint index '{indexPath}': weight_map entry for tensor '{entry.Name}' must be a file name string");
                string shard = entry.Value.GetString()!;
                // Shards sit beside the index: a path that leaves the folder is refused rather than followed.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\'))
                    throw new SafeTensorsFormatException(
                        $"checkpoint index '{indexPath}': weight_map puts tensor '{entry.Name}' in '{shard}', which is not a plain file name");
                if (!weightMap.TryAdd(entry.Name, shard))
                    throw new SafeTensorsFormatException(
                        $"checkpoint index '{indexPath}': weight_map lists tensor '{entry.Name}' twice");
            }
            if (weightMap.Count == 0)
                throw new SafeTensorsFormatException($"checkpoint index '{indexPath}' has an empty weight_map");
            return weightMap;
        }
    }
}
