using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Text;

/// <summary>A tokenizer_config.json (or special_tokens_map.json) that cannot be used; the message names the file and field.</summary>
public sealed class TokenizerConfigException(string message) : Exception(message);

/// <summary>An added token as tokenizer_config.json's added_tokens_decoder describes it.</summary>
public sealed record AddedTokenConfig(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool SingleWord, bool Normalized);

/// <summary>
/// The parts of a Hugging Face tokenizer_config.json Scalpel uses: the special tokens (strings, or AddedToken
/// objects with a "content"), add_bos/add_eos, added_tokens_decoder, model_max_length and the chat template
/// (a string, or a list of {name, template} where "default" is the one used). special_tokens_map.json fills
/// special tokens the config leaves out.
/// </summary>
public sealed class TokenizerConfig
{
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }
    public string? UnkToken { get; init; }
    public bool? AddBosToken { get; init; }
    public bool? AddEosToken { get; init; }
    public long? ModelMaxLength { get; init; }
    /// <summary>The default chat template, or null when there is none.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>Named templates (e.g. "tool_use") besides the default.</summary>
    public IReadOnlyDictionary<string, string> NamedChatTemplates { get; init; } = new Dictionary<string, string>();
    public IReadOnlyList<AddedTokenConfig> AddedTokens { get; init; } = [];
    /// <summary>transformers' tokenizer class (e.g. "LlamaTokenizer"; a "Fast" suffix is kept as written).</summary>
    public string? TokenizerClass { get; init; }
    /// <summary>Whether decode removes spaces before punctuation and contractions (transformers' clean_up_tokenization).</summary>
    public bool? CleanUpTokenizationSpaces { get; init; }

    /// <summary>Reads tokenizer_config.json (and special_tokens_map.json when present) from a folder; an empty config when neither exists.</summary>
    public static TokenizerConfig FromDirectory(string directory)
    {
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        string mapPath = Path.Combine(directory, "special_tokens_map.json");
        var config = File.Exists(configPath) ? Parse(File.ReadAllText(configPath), configPath) : new TokenizerConfig();
        if (!File.Exists(mapPath)) return config;
        var map = Parse(File.ReadAllText(mapPath), mapPath);
        return new TokenizerConfig
        {
            BosToken = config.BosToken ?? map.BosToken,
            EosToken = config.EosToken ?? map.EosToken,
            PadToken = config.PadToken ?? map.PadToken,
            UnkToken = config.UnkToken ?? map.UnkToken,
            AddBosToken = config.AddBosToken,
            AddEosToken = config.AddEosToken,
            ModelMaxLength = config.ModelMaxLength,
            ChatTemplate = config.ChatTemplate,
            NamedChatTemplates = config.NamedChatTemplates,
            AddedTokens = config.AddedTokens,
            TokenizerClass = config.TokenizerClass,
            CleanUpTokenizationSpaces = config.CleanUpTokenizationSpaces,
        };
    }

    public static TokenizerConfig Parse(string json, string sourceName)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }) as JsonObject
                   ?? throw new TokenizerConfigException($"{sourceName}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new TokenizerConfigException($"{sourceName}: invalid JSON ({e.Message})");
        }

        string? Token(string field) => root[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            JsonObject o when o["content"] is JsonValue c && c.TryGetValue(out string? s) => s,
            _ => throw new TokenizerConfigException($"{sourceName}: field '{field}' must be a string or an object with \"content\""),
        };
        bool? Flag(string field) => root[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out bool b) => b,
            _ => throw new TokenizerConfigException($"{sourceName}: field '{field}' must be true or false"),
        };

        string? template = null;
        var named = new Dictionary<string, string>();
        switch (root["chat_template"])
        {
            case null:
                break;
            case JsonValue v when v.TryGetValue(out string? s):
                template = s;
                break;
            case JsonArray list:
                foreach (var item in list)
                {
                    if (item is not JsonObject o || o["name"]?.GetValue<string>() is not { } name || o["template"]?.GetValue<string>() is not { } body)
                        throw new TokenizerConfigException($"{sourceName}: field 'chat_template' list entries must be {{\"name\", \"template\"}}");
                    if (name == "default") template = body; else named[name] = body;
                }
                break;
            default:
                throw new TokenizerConfigException($"{sourceName}: field 'chat_template' must be a string or a list of named templates");
        }

        var added = new List<AddedTokenConfig>();
        if (root["added_tokens_decoder"] is JsonObject decoder)
        {
            foreach (var (key, value) in decoder)
            {
                if (!int.TryParse(key, out int id) || value is not JsonObject t || t["content"]?.GetValue<string>() is not { } content)
                    throw new TokenizerConfigException($"{sourceName}: field 'added_tokens_decoder.{key}' must map a token id to an object with \"content\"");
                bool F(string f) => t[f] is JsonValue b && b.TryGetValue(out bool x) && x;
                added.Add(new AddedTokenConfig(id, content, F("special"), F("lstrip"), F("rstrip"), F("single_word"), F("normalized")));
            }
        }

        long? maxLength = root["model_max_length"] is JsonValue m && m.TryGetValue(out double d) && d < 1e15 ? (long)d : null;
        return new TokenizerConfig
        {
            BosToken = Token("bos_token"), EosToken = Token("eos_token"), PadToken = Token("pad_token"), UnkToken = Token("unk_token"),
            AddBosToken = Flag("add_bos_token"), AddEosToken = Flag("add_eos_token"), ModelMaxLength = maxLength,
            ChatTemplate = template, NamedChatTemplates = named, AddedTokens = added.OrderBy(a => a.Id).ToList(),
            TokenizerClass = root["tokenizer_class"] switch
            {
                null => null,
                JsonValue v when v.TryGetValue(out string? s) => s,
                _ => throw new TokenizerConfigException($"{sourceName}: field 'tokenizer_class' must be a string"),
            },
            CleanUpTokenizationSpaces = Flag("clean_up_tokenization_spaces"),
        };
    }
}
