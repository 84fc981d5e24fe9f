using System.Text.Json;
using Scalpel.Text.Tokenization.Unicode;

namespace Scalpel.Text.Tokenization;

/// <summary>The components read from a tokenizer.json.</summary>
internal sealed class TokenizerParts
{
    public required Normalizer? Normalizer { get; init; }
    public required PreTokenizer? PreTokenizer { get; init; }
    public required BpeModel Model { get; init; }
    public required PostProcessor PostProcessor { get; init; }
    public required bool HasPostProcessor { get; init; }
    public required Decoder? Decoder { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    /// <summary>Some component needs to know where text came from even without offsets (Metaspace "first").</summary>
    public required bool NeedsAlignment { get; init; }
}

/// <summary>
/// Reads Hugging Face tokenizer.json (the tokenizers library's serialization) with JsonDocument. Every component
/// Scalpel does not implement is an error naming the file, the component and its type, never a silent fallback.
/// </summary>
internal static class TokenizerJson
{
    public static TokenizerParts Read(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{source}: invalid JSON ({e.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Fail(source, "(root)", "expected a JSON object");
            var r = new Reader(source);

            var normalizer = r.Normalizer(Prop(root, "normalizer"), "normalizer");
            bool needsAlignment = false;
            var preTokenizer = r.PreTokenizer(Prop(root, "pre_tokenizer"), "pre_tokenizer", ref needsAlignment, out bool byteLevel);
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw Fail(source, "model", "missing (a tokenizer.json needs a model)");
            var bpe = r.Model(model, byteLevel);
            var added = r.AddedTokens(Prop(root, "added_tokens"));
            var postJson = Prop(root, "post_processor");
            var post = r.PostProcessor(postJson, "post_processor");
            var decoder = r.Decoder(Prop(root, "decoder"), "decoder");
            return new TokenizerParts
            {
                Normalizer = normalizer, PreTokenizer = preTokenizer, Model = bpe, PostProcessor = post,
                HasPostProcessor = postJson is not null, Decoder = decoder, AddedTokens = added, NeedsAlignment = needsAlignment,
            };
        }
    }

    private static JsonElement? Prop(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static TokenizerFormatException Fail(string source, string component, string message) =>
        new($"{source}: {component}: {message}");

    private sealed class Reader(string source)
    {
        private TokenizerFormatException Fail(string component, string message) => TokenizerJson.Fail(source, component, message);

        private TokenizerFormatException Unsupported(string component, string type, string supported) =>
            Fail(component, $"type '{type}' is not supported (Scalpel reads {supported})");

        private string Type(JsonElement e, string component)
        {
            if (e.ValueKind != JsonValueKind.Object) throw Fail(component, "expected an object");
            if (!e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String) throw Fail(component, "missing field 'type'");
            return t.GetString()!;
        }

        private string String(JsonElement e, string name, string component, string? fallback = null)
        {
            if (e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null)
            {
                if (v.ValueKind != JsonValueKind.String) throw Fail(component, $"field '{name}' must be a string");
                return v.GetString()!;
            }
            return fallback ?? throw Fail(component, $"missing field '{name}'");
        }

        private string? OptionalString(JsonElement e, string name, string component)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != JsonValueKind.String) throw Fail(component, $"field '{name}' must be a string or null");
            return v.GetString();
        }

        private bool Bool(JsonElement e, string name, string component, bool fallback)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Fail(component, $"field '{name}' must be true or false"),
            };
        }

        private int Int(JsonElement e, string name, string component, int fallback)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i)) throw Fail(component, $"field '{name}' must be an integer");
            return i;
        }

        private JsonElement Array(JsonElement e, string name, string component)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array) throw Fail(component, $"field '{name}' must be a list");
            return v;
        }

        /// <summary>{"String": "..."} or {"Regex": "..."}; literal is set for String patterns.</summary>
        private SplitPattern Pattern(JsonElement e, string component, out string? literal)
        {
            if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object) throw Fail(component, "missing field 'pattern'");
            if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
            {
                literal = s.GetString()!;
                return SplitPattern.ForString(literal);
            }
            if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
            {
                literal = null;
                try { return SplitPattern.ForRegex(r.GetString()!); }
                catch (ArgumentException ex) { throw Fail(component + ".pattern", $"regex not understood by .NET ({ex.Message})"); }
            }
            throw Fail(component, "field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
        }

        private static char SingleChar(string s, Func<string, Exception> fail)
        {
            if (s.Length != 1) throw fail($"'{s}' must be a single character");
            return s[0];
        }

        public Normalizer? Normalizer(JsonElement? json, string component)
        {
            if (json is not { } e) return null;
            string type = Type(e, component);
            switch (type)
            {
                case "Sequence":
                {
                    var list = Array(e, "normalizers", component);
                    var steps = new List<Normalizer>();
                    int i = 0;
                    foreach (var item in list.EnumerateArray())
                    {
                        var n = Normalizer(item, $"{component}.normalizers[{i++}]");
                        if (n is not null) steps.Add(n);
                    }
                    return new SequenceNormalizer(steps.ToArray());
                }
                case "NFC": return new UnicodeFormNormalizer(NormalForm.Nfc);
                case "NFD": return new UnicodeFormNormalizer(NormalForm.Nfd);
                case "NFKC": return new UnicodeFormNormalizer(NormalForm.Nfkc);
                case "NFKD": return new UnicodeFormNormalizer(NormalForm.Nfkd);
                case "Prepend": return new PrependNormalizer(String(e, "prepend", component));
                case "Replace":
                    return new ReplaceNormalizer(Pattern(e, component, out _), String(e, "content", component, ""));
                default:
                    throw Unsupported(component, type, "Sequence, NFC, NFD, NFKC, NFKD, Prepend and Replace normalizers");
            }
        }

        public PreTokenizer? PreTokenizer(JsonElement? json, string component, ref bool needsAlignment, out bool byteLevel)
        {
            byteLevel = false;
            if (json is not { } e) return null;
            string type = Type(e, component);
            switch (type)
            {
                case "Sequence":
                {
                    var list = Array(e, "pretokenizers", component);
                    var steps = new List<PreTokenizer>();
                    int i = 0, count = list.GetArrayLength();
                    foreach (var item in list.EnumerateArray())
                    {
                        string itemComponent = $"{component}.pretokenizers[{i}]";
                        var step = PreTokenizer(item, itemComponent, ref needsAlignment, out bool stepByteLevel);
                        if (byteLevel) throw Fail(itemComponent, "a pre-tokenizer after ByteLevel is not supported (ByteLevel must come last)");
                        byteLevel |= stepByteLevel;
                        if (step is not null) steps.Add(step);
                        i++;
                    }
                    return steps.Count == 1 ? steps[0] : new SequencePreTokenizer(steps.ToArray());
                }
                case "ByteLevel":
                {
                    byteLevel = true;
                    bool addPrefixSpace = Bool(e, "add_prefix_space", component, true);
                    bool useRegex = Bool(e, "use_regex", component, true);
                    // Without a prefix space or regex the step only maps bytes, which the byte-level model does itself.
                    return addPrefixSpace || useRegex ? new ByteLevelPreTokenizer(addPrefixSpace, useRegex) : null;
                }
                case "Split":
                {
                    var pattern = Pattern(e, component, out _);
                    string behavior = String(e, "behavior", component);
                    var b = behavior switch
                    {
                        "Removed" => SplitBehavior.Removed,
                        "Isolated" => SplitBehavior.Isolated,
                        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
                        "MergedWithNext" => SplitBehavior.MergedWithNext,
                        "Contiguous" => SplitBehavior.Contiguous,
                        _ => throw Fail(component, $"behavior '{behavior}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"),
                    };
                    return new SplitPreTokenizer(pattern, b, Bool(e, "invert", component, false));
                }
                case "Metaspace":
                {
                    char replacement = SingleChar(String(e, "replacement", component, "\u2581"), m => Fail(component + ".replacement", m));
                    PrependScheme scheme;
                    string? prepend = OptionalString(e, "prepend_scheme", component);
                    if (prepend is not null)
                    {
                        scheme = prepend switch
                        {
                            "always" => PrependScheme.Always,
                            "first" => PrependScheme.First,
                            "never" => PrependScheme.Never,
                            _ => throw Fail(component, $"prepend_scheme '{prepend}' is not one of always, first, never"),
                        };
                    }
                    else scheme = Bool(e, "add_prefix_space", component, true) ? PrependScheme.Always : PrependScheme.Never;
                    if (scheme == PrependScheme.First) needsAlignment = true;
                    return new MetaspacePreTokenizer(replacement, scheme, Bool(e, "split", component, true));
                }
                case "Digits":
                    return new DigitsPreTokenizer(Bool(e, "individual_digits", component, false));
                default:
                    throw Unsupported(component, type, "Sequence, Split, ByteLevel, Metaspace and Digits pre-tokenizers");
            }
        }

        public BpeModel Model(JsonElement e, bool byteLevel)
        {
            const string component = "model";
            string type;
            if (e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String) type = t.GetString()!;
            else if (e.TryGetProperty("merges", out _)) type = "BPE";
            else throw Fail(component, "missing field 'type'");
            if (type != "BPE") throw Unsupported(component, type, "BPE models only; Unigram and WordPiece tokenizers are not implemented");

            if (e.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
                throw Fail(component, "BPE dropout is not supported (encoding would be random)");
            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                string? value = OptionalString(e, affix, component);
                if (!string.IsNullOrEmpty(value)) throw Fail(component, $"{affix} '{value}' is not supported");
            }

            if (!e.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
                throw Fail(component + ".vocab", "must be an object mapping tokens to ids");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in vocabJson.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                    throw Fail(component + ".vocab", $"token '{entry.Name}' must map to a non-negative integer id");
                vocab[entry.Name] = id;
            }

            var merges = new List<(string, string)>();
            if (e.TryGetProperty("merges", out var mergesJson) && mergesJson.ValueKind != JsonValueKind.Null
                && !(mergesJson.ValueKind == JsonValueKind.Object && !mergesJson.EnumerateObject().Any()))
            {
                if (mergesJson.ValueKind != JsonValueKind.Array) throw Fail(component + ".merges", "must be a list");
                int i = 0;
                foreach (var m in mergesJson.EnumerateArray())
                {
                    if (m.ValueKind == JsonValueKind.String)
                    {
                        string s = m.GetString()!;
                        merges.Add(SplitMerge(s, vocab) ?? throw Fail($"{component}.merges[{i}]", $"'{s}' is not two tokens separated by a space"));
                    }
                    else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                             && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                    {
                        merges.Add((m[0].GetString()!, m[1].GetString()!));
                    }
                    else throw Fail($"{component}.merges[{i}]", "must be \"a b\" or [\"a\", \"b\"]");
                    i++;
                }
            }

            var options = new BpeOptions(
                ByteLevel: byteLevel,
                ByteFallback: Bool(e, "byte_fallback", component, false),
                FuseUnk: Bool(e, "fuse_unk", component, false),
                IgnoreMerges: Bool(e, "ignore_merges", component, false),
                UnkToken: OptionalString(e, "unk_token", component));
            return new BpeModel(vocab, merges, options, message => Fail(component, message));
        }

        /// <summary>
        /// "a b" → (a, b). Tokens that contain spaces themselves (SentencePiece vocabularies have a few) make the
        /// string ambiguous: then the first split whose two parts and their concatenation are all tokens is taken.
        /// </summary>
        private static (string, string)? SplitMerge(string s, Dictionary<string, int> vocab)
        {
            int first = s.IndexOf(' ', StringComparison.Ordinal);
            if (first < 0) return null;
            if (first > 0 && first < s.Length - 1 && s.IndexOf(' ', first + 1) < 0) return (s[..first], s[(first + 1)..]);
            for (int k = 1; k < s.Length - 1; k++)
            {
                if (s[k] != ' ') continue;
                string a = s[..k], b = s[(k + 1)..];
                if (vocab.ContainsKey(a) && vocab.ContainsKey(b) && vocab.ContainsKey(a + b)) return (a, b);
            }
            return null;
        }

        public List<AddedToken> AddedTokens(JsonElement? json)
        {
            var list = new List<AddedToken>();
            if (json is not { } e) return list;
            if (e.ValueKind != JsonValueKind.Array) throw Fail("added_tokens", "must be a list");
            int i = 0;
            foreach (var t in e.EnumerateArray())
            {
                string component = $"added_tokens[{i++}]";
                if (t.ValueKind != JsonValueKind.Object) throw Fail(component, "must be an object");
                int id = Int(t, "id", component, -1);
                if (id < 0) throw Fail(component, "missing or negative 'id'");
                bool special = Bool(t, "special", component, false);
                list.Add(new AddedToken(id, String(t, "content", component), special,
                    LStrip: Bool(t, "lstrip", component, false), RStrip: Bool(t, "rstrip", component, false),
                    SingleWord: Bool(t, "single_word", component, false), Normalized: Bool(t, "normalized", component, !special)));
            }
            return list;
        }

        public PostProcessor PostProcessor(JsonElement? json, string component)
        {
            if (json is not { } e) return Tokenization.PostProcessor.None;
            string type = Type(e, component);
            switch (type)
            {
                case "Sequence":
                {
                    var result = Tokenization.PostProcessor.None;
                    int i = 0;
                    foreach (var item in Array(e, "processors", component).EnumerateArray())
                        result = result.Then(PostProcessor(item, $"{component}.processors[{i++}]"));
                    return result;
                }
                case "ByteLevel":
                    return new PostProcessor([], [], Bool(e, "trim_offsets", component, true), Bool(e, "add_prefix_space", component, true));
                case "TemplateProcessing":
                    return Template(e, component);
                default:
                    throw Unsupported(component, type, "TemplateProcessing, ByteLevel and Sequence post-processors");
            }
        }

        private PostProcessor Template(JsonElement e, string component)
        {
            var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
            if (e.TryGetProperty("special_tokens", out var sp) && sp.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in sp.EnumerateObject())
                {
                    if (!entry.Value.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
                        throw Fail($"{component}.special_tokens.{entry.Name}", "missing 'ids'");
                    specials[entry.Name] = ids.EnumerateArray().Select(x => x.GetInt32()).ToArray();
                }
            }
            var prefix = new List<int>();
            var suffix = new List<int>();
            bool seenA = false;
            int i = 0;
            foreach (var item in Array(e, "single", component).EnumerateArray())
            {
                string itemComponent = $"{component}.single[{i++}]";
                if (item.TryGetProperty("Sequence", out var seq))
                {
                    string which = String(seq, "id", itemComponent);
                    if (which != "A") throw Fail(itemComponent, $"sequence '{which}' in the single-sequence template");
                    if (seenA) throw Fail(itemComponent, "the sequence appears twice in the template");
                    seenA = true;
                }
                else if (item.TryGetProperty("SpecialToken", out var special))
                {
                    string name = String(special, "id", itemComponent);
                    if (!specials.TryGetValue(name, out var ids)) throw Fail(itemComponent, $"special token '{name}' is not in special_tokens");
                    (seenA ? suffix : prefix).AddRange(ids);
                }
                else throw Fail(itemComponent, "must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
            }
            if (!seenA) throw Fail(component + ".single", "the template has no $A");
            return new PostProcessor(prefix.ToArray(), suffix.ToArray(), trimOffsets: false, addPrefixSpace: false);
        }

        public Decoder? Decoder(JsonElement? json, string component)
        {
            if (json is not { } e) return null;
            string type = Type(e, component);
            switch (type)
            {
                case "Sequence":
                {
                    var steps = new List<Decoder>();
                    int i = 0;
                    foreach (var item in Array(e, "decoders", component).EnumerateArray())
                    {
                        var d = Decoder(item, $"{component}.decoders[{i++}]");
                        if (d is not null) steps.Add(d);
                    }
                    return new SequenceDecoder(steps.ToArray());
                }
                case "ByteLevel": return new ByteLevelDecoder();
                case "ByteFallback": return new ByteFallbackDecoder();
                case "Fuse": return new FuseDecoder();
                case "Replace":
                {
                    var pattern = Pattern(e, component, out string? literal);
                    return new ReplaceDecoder(pattern, literal, String(e, "content", component, ""));
                }
                case "Strip":
                    return new StripDecoder(SingleChar(String(e, "content", component), m => Fail(component + ".content", m)),
                        Int(e, "start", component, 0), Int(e, "stop", component, 0));
                case "Metaspace":
                {
                    char replacement = SingleChar(String(e, "replacement", component, "\u2581"), m => Fail(component + ".replacement", m));
                    string? prepend = OptionalString(e, "prepend_scheme", component);
                    bool dropFirst = prepend is not null ? prepend != "never" : Bool(e, "add_prefix_space", component, true);
                    return new MetaspaceDecoder(replacement, dropFirst);
                }
                default:
                    throw Unsupported(component, type, "ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace and Sequence decoders");
            }
        }
    }
}
