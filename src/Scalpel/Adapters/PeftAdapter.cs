using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Backends;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Adapters;

/// <summary>An adapter folder Scalpel cannot apply; the message names the file and the field or tensor.</summary>
public sealed class AdapterFormatException(string message) : Exception(message);

/// <summary>
/// LoRA adapters in the layout peft reads and writes: adapter_config.json + adapter_model.safetensors with keys
/// <c>base_model.model.&lt;module&gt;.lora_A.weight</c> / <c>.lora_B.weight</c> (A [r, in], B [out, r], F32); with DoRA
/// also <c>&lt;module&gt;.lora_magnitude_vector</c> [out] (get_peft_model_state_dict drops the adapter name and the
/// DoRA layer's ".weight"); with modules_to_save the whole trained matrices as <c>base_model.model.model.embed_tokens.weight</c>
/// and <c>base_model.model.lm_head.weight</c>. Loading refuses, by name, every peft option Scalpel would otherwise silently ignore.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";
    private const string MagnitudeSuffix = ".lora_magnitude_vector";

    /// <summary>Writes the model's LoRA adapter to a folder (each file written to a temp file, then renamed).</summary>
    public static void Save(DecoderModel model, string directory, string? baseModelNameOrPath = null)
    {
        var config = model.Lora ?? throw new InvalidOperationException("the model has no LoRA adapter to save");
        Directory.CreateDirectory(directory);
        // Each tensor is downloaded a band of rows at a time while the file is written: no host copy of the adapter
        // (with modules_to_save, of a whole embedding) is held beside the model.
        var writer = new SafeTensorsWriter();
        void Add(string name, Parameter p) => writer.Add(name, DType.F32, p.Value.Shape, model.Backend.RangeDownloader(p.Value));
        foreach (var (module, a, b) in model.LoraModules)
        {
            Add(KeyPrefix + module + ".lora_A.weight", a);
            Add(KeyPrefix + module + ".lora_B.weight", b);
        }
        foreach (var linear in model.LoraLinears.Where(l => l.Lora!.Dora is not null))
            Add(KeyPrefix + linear.Name + MagnitudeSuffix, linear.Lora!.Dora!.Magnitude);
        foreach (var (_, weight) in model.SavedModules)
            Add(KeyPrefix + weight.Name, weight);
        writer.Save(Path.Combine(directory, WeightsFileName), new Dictionary<string, string> { ["format"] = "pt" });
        WriteAtomically(Path.Combine(directory, ConfigFileName), ConfigJson(config, baseModelNameOrPath));
    }

    private static void WriteAtomically(string path, string text)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>adapter_config.json with every field peft writes for a plain LoRA adapter.</summary>
    public static string ConfigJson(LoraConfig config, string? baseModelNameOrPath)
    {
        var targets = new JsonArray(config.ResolveTargets().Order(StringComparer.Ordinal).Select(t => (JsonNode)t).ToArray());
        var json = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_alpha"] = config.Alpha,
            ["lora_bias"] = false,
            ["lora_dropout"] = config.Dropout,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = config.ModulesToSave.Count == 0 ? null
                : new JsonArray(config.ModulesToSave.Select(m => (JsonNode)m).ToArray()),
            ["peft_type"] = "LORA",
            ["r"] = config.Rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = targets,
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = config.UseDora,
            ["use_rslora"] = config.UseRsLora,
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Reads and checks adapter_config.json.</summary>
    public static LoraConfig ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path)) throw new AdapterFormatException($"{directory}: no {ConfigFileName} (not a PEFT adapter folder)");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new AdapterFormatException($"{path}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException($"{path}: invalid JSON ({e.Message})");
        }

        string? Str(string field) => root[field] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        bool True(string field) => root[field] is JsonValue v && v.TryGetValue(out bool b) && b;
        bool NonEmpty(string field) => root[field] switch
        {
            null => false,
            JsonObject o => o.Count > 0,
            JsonArray a => a.Count > 0,
            JsonValue v => !(v.TryGetValue(out string? s) && s.Length == 0),
            _ => true,
        };
        void Refuse(bool condition, string field, string why)
        {
            if (condition) throw new AdapterFormatException($"{path}: field '{field}': {why}");
        }

        Refuse(Str("peft_type") is not "LORA", "peft_type", $"'{Str("peft_type") ?? "missing"}' adapters are not supported (only LORA)");
        Refuse(Str("task_type") is not (null or "CAUSAL_LM"), "task_type", $"'{Str("task_type")}' is not a causal LM adapter");
        Refuse(True("fan_in_fan_out"), "fan_in_fan_out", "transposed (Conv1D-style) weights do not fit Llama-family models");
        Refuse(True("lora_bias"), "lora_bias", "LoRA bias terms are not supported");
        Refuse(Str("bias") is not (null or "none"), "bias", $"bias '{Str("bias")}' trains base biases, which Scalpel does not load from adapters");
        Refuse(True("ensure_weight_tying") && NonEmpty("modules_to_save"), "ensure_weight_tying",
            "keeping a trained embedding and LM head tied is not supported (Scalpel trains modules_to_save as peft does by default: as untied copies)");
        Refuse(NonEmpty("trainable_token_indices"), "trainable_token_indices", "training single token embeddings is not supported");
        Refuse(NonEmpty("layers_to_transform"), "layers_to_transform", "adapters on a subset of layers are not supported");
        Refuse(NonEmpty("rank_pattern"), "rank_pattern", "per-module ranks are not supported");
        Refuse(NonEmpty("alpha_pattern"), "alpha_pattern", "per-module alphas are not supported");
        Refuse(NonEmpty("layer_replication"), "layer_replication", "layer replication is not supported");

        int rank = root["r"] is JsonValue r && r.TryGetValue(out int ri) ? ri : throw new AdapterFormatException($"{path}: field 'r' must be an integer");
        float alpha = root["lora_alpha"] is JsonValue a && a.TryGetValue(out double ad) ? (float)ad : throw new AdapterFormatException($"{path}: field 'lora_alpha' must be a number");
        float dropout = root["lora_dropout"] is JsonValue d && d.TryGetValue(out double dd) ? (float)dd : 0f;
        IReadOnlyList<string> targets = root["target_modules"] switch
        {
            JsonArray list => list.Select(t => t is JsonValue tv && tv.TryGetValue(out string? ts) ? ts
                : throw new AdapterFormatException($"{path}: field 'target_modules' must list module names")).ToList(),
            JsonValue v when v.TryGetValue(out string? s) && s == "all-linear" => ["all-linear"],
            JsonValue v when v.TryGetValue(out string? s) => throw new AdapterFormatException(
                $"{path}: field 'target_modules': regular expressions ('{s}') are not supported; list the module names"),
            _ => throw new AdapterFormatException($"{path}: field 'target_modules' is missing"),
        };
        IReadOnlyList<string> modulesToSave = root["modules_to_save"] switch
        {
            null => [],
            JsonArray list => list.Select(t => t is JsonValue tv && tv.TryGetValue(out string? ts) ? ts
                : throw new AdapterFormatException($"{path}: field 'modules_to_save' must list module names")).ToList(),
            _ => throw new AdapterFormatException($"{path}: field 'modules_to_save' must be a list of module names or null"),
        };
        var config = new LoraConfig
        {
            Rank = rank, Alpha = alpha, Dropout = dropout, UseRsLora = True("use_rslora"), UseDora = True("use_dora"), TargetModules = targets,
            ModulesToSave = modulesToSave,
        };
        try
        {
            config.ResolveTargets();
            config.ResolveModulesToSave();
        }
        catch (ArgumentException e) { throw new AdapterFormatException($"{path}: {e.Message}"); }
        return config;
    }

    /// <summary>
    /// Reads an adapter for on-the-fly use next to others (a server serving several adapters on one base): the weights
    /// go to the model's backend but the model itself is not changed. Checked like <see cref="Load"/>.
    /// </summary>
    public static AdapterWeights LoadDetached(DecoderModel model, string directory, string name)
    {
        var (config, file, stored, _) = OpenChecked(model, directory);
        using var weights = file;
        if (config.ModulesToSave.Count > 0)
            throw new AdapterFormatException($"{Path.Combine(directory, ConfigFileName)}: field 'modules_to_save': an adapter that replaces " +
                                             $"{string.Join(" and ", config.ModulesToSave)} cannot be served next to others on one base; " +
                                             "apply it to the model alone or merge it");
        var targets = config.ResolveTargets();
        var perLayer = new LoraWeights?[model.Blocks.Length][];
        for (int l = 0; l < model.Blocks.Length; l++)
        {
            var linears = model.Blocks[l].Linears;
            perLayer[l] = new LoraWeights?[linears.Length];
            for (int i = 0; i < linears.Length; i++)
            {
                var linear = linears[i];
                if (!targets.Contains(linear.Name[(linear.Name.LastIndexOf('.') + 1)..])) continue;
                Parameter Read(string suffix, int rows, int cols)
                {
                    var tensor = model.Backend.Allocate(Tensors.DType.F32, rows, cols);
                    var values = new float[tensor.Length];
                    file.ReadAsF32(stored[KeyPrefix + linear.Name + suffix], values);
                    model.Backend.Upload(tensor, values);
                    return new Parameter(linear.Name + suffix, tensor);
                }
                var a = Read(".lora_A.weight", config.Rank, linear.In);
                var b = Read(".lora_B.weight", linear.Out, config.Rank);
                var dora = config.UseDora ? model.CreateDora(linear, a, b, config.Scaling, linear.Name + MagnitudeSuffix) : null;
                var lora = new LoraWeights(a, b, config.Scaling, 0f, dora);
                if (dora is not null)
                {
                    ReadInto(file, stored[KeyPrefix + linear.Name + MagnitudeSuffix], model, dora.Magnitude);
                    model.RefreshDora(linear, lora);
                }
                perLayer[l][i] = lora;
            }
        }
        return new AdapterWeights(name, directory, config, perLayer);
    }

    /// <summary>Opens an adapter's config and weights and checks every tensor's name and shape against the model.</summary>
    private static (LoraConfig Config, SafeTensorsFile File, Dictionary<string, string> Stored, string WeightsPath) OpenChecked(
        DecoderModel model, string directory)
    {
        var config = ReadConfig(directory);
        string weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new AdapterFormatException($"{directory}: no {WeightsFileName}");
        var file = SafeTensorsFile.Open(weightsPath);
        try
        {
            // Expected tensors and shapes, from the model's own linears, before anything is applied.
            var targets = config.ResolveTargets();
            var expected = new Dictionary<string, int[]>();
            foreach (var linear in model.Blocks.SelectMany(b => b.Linears))
            {
                if (!targets.Contains(linear.Name[(linear.Name.LastIndexOf('.') + 1)..])) continue;
                expected[KeyPrefix + linear.Name + ".lora_A.weight"] = [config.Rank, linear.In];
                expected[KeyPrefix + linear.Name + ".lora_B.weight"] = [linear.Out, config.Rank];
                if (config.UseDora) expected[KeyPrefix + linear.Name + MagnitudeSuffix] = [linear.Out];
            }
            foreach (string module in config.ModulesToSave)
                expected[KeyPrefix + (module == "embed_tokens" ? "model.embed_tokens.weight" : "lm_head.weight")] =
                    [model.Spec.VocabSize, model.Spec.HiddenSize];
            var stored = new Dictionary<string, string>();   // expected key → name in the file
            foreach (var name in file.Tensors.Keys)
            {
                string key = name.Replace(".default.weight", ".weight");   // some writers keep the adapter name
                if (key.EndsWith(MagnitudeSuffix + ".weight", StringComparison.Ordinal)) key = key[..^".weight".Length];
                if (!expected.ContainsKey(key))
                    throw new AdapterFormatException($"{weightsPath}: tensor '{name}' matches no LoRA module of this {model.Spec.Architecture} " +
                                                     "(an adapter for another model, or other target modules than adapter_config.json says)");
                stored[key] = name;
            }
            foreach (var (key, shape) in expected)
            {
                if (!stored.TryGetValue(key, out var name)) throw new AdapterFormatException($"{weightsPath}: tensor '{key}' is missing");
                var info = file.Tensors[name];
                if (!info.Shape.SequenceEqual(shape))
                    throw new AdapterFormatException($"{weightsPath}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], " +
                                                     $"this model with r={config.Rank} needs [{string.Join(", ", shape)}]");
            }
            return (config, file, stored, weightsPath);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Applies the adapter in a folder to a model that has none yet: checks every tensor's name and shape against
    /// the model before anything is loaded, so an adapter made for another model is refused whole.
    /// </summary>
    /// <param name="settings">LoRA settings to apply instead of adapter_config.json's, e.g. a training run's own
    /// dropout; rank, alpha, target modules and rsLoRA must equal the file's.</param>
    public static LoraConfig Load(DecoderModel model, string directory, LoraConfig? settings = null)
    {
        if (model.Lora is not null) throw new InvalidOperationException("the model already has a LoRA adapter");
        var (config, file, stored, _) = OpenChecked(model, directory);
        using var weights = file;
        if (settings is not null)
        {
            if (settings.Rank != config.Rank || settings.Alpha != config.Alpha || settings.UseRsLora != config.UseRsLora
                || !settings.ResolveTargets().SetEquals(config.ResolveTargets()))
                throw new AdapterFormatException($"{Path.Combine(directory, ConfigFileName)}: r, lora_alpha, target_modules or use_rslora " +
                                                 $"differ from the settings to apply (r={settings.Rank}, alpha={settings.Alpha})");
            if (settings.UseDora != config.UseDora || !settings.ResolveModulesToSave().SetEquals(config.ResolveModulesToSave()))
                throw new AdapterFormatException($"{Path.Combine(directory, ConfigFileName)}: use_dora or modules_to_save differ from the " +
                                                 $"settings to apply (use_dora={settings.UseDora}, modules_to_save=[{string.Join(", ", settings.ModulesToSave)}])");
            config = settings;
        }
        model.ApplyLora(config);
        foreach (var linear in model.LoraLinears)
        {
            var lora = linear.Lora!;
            ReadInto(file, stored[KeyPrefix + linear.Name + ".lora_A.weight"], model, lora.A);
            ReadInto(file, stored[KeyPrefix + linear.Name + ".lora_B.weight"], model, lora.B);
            if (lora.Dora is { } dora) ReadInto(file, stored[KeyPrefix + linear.Name + MagnitudeSuffix], model, dora.Magnitude);
        }
        foreach (var (_, weight) in model.SavedModules) ReadInto(file, stored[KeyPrefix + weight.Name], model, weight);
        return config;
    }

    private static void ReadInto(SafeTensorsFile file, string name, DecoderModel model, Parameter parameter)
    {
        var values = new float[parameter.Value.Length];
        file.ReadAsF32(name, values);
        model.Backend.Upload(parameter.Value, values);
        parameter.MarkChanged();
    }
}
