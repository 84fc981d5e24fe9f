using System.Text;
using Scalpel.Text.Tokenization;

namespace Scalpel.Text;

/// <summary>A tokenizer.json that cannot be used: the message names the file and the component or field.</summary>
public sealed class TokenizerFormatException(string message) : Exception(message);

/// <summary>Token ids and, for each, its [Start, End) in UTF-16 indices of the encoded text (special tokens added by the template: (0, 0)).</summary>
public sealed record TokenizedText(int[] Ids, (int Start, int End)[] Offsets);

/// <summary>
/// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) that encodes and decodes exactly as
/// transformers' fast tokenizers do, token for token: added tokens (lstrip/rstrip/single_word/normalized),
/// normalizers, pre-tokenizers, byte-level and SentencePiece-style BPE, the post-processor's special tokens and
/// the decoder chain. Safe to use from several threads at once.
/// </summary>
/// <remarks>
/// Where transformers itself departs from tokenizer.json, this follows transformers: Llama/CodeLlama/Gemma tokenizer
/// classes rebuild the template from add_bos_token/add_eos_token; added tokens listed only in tokenizer_config.json
/// are added with their ids; clean_up_tokenization_spaces applies on decode. Offsets follow Hugging Face's
/// offset_mapping (in UTF-16 units here rather than Python's code points); through NFC/NFKC changes they follow
/// NormalizedString's alignment (a composite stands for its first input character, so a swallowed combining mark
/// belongs to no token).
/// </remarks>
public sealed class Tokenizer
{
    private static readonly HashSet<string> LlamaClasses = new(StringComparer.Ordinal)
    {
        "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast",
    };

    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly BpeModel _model;
    private readonly PostProcessor _post;
    private readonly Tokenization.Decoder? _decoder;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly string?[] _idToToken;
    private readonly bool[] _special;
    private readonly bool _cleanup;
    private readonly bool _alwaysTrack;
    private readonly (int Leading, int Trailing)[]? _spaces;

    [ThreadStatic] private static EncodeState? t_state;

    private sealed class EncodeState
    {
        public TokenSink Sink = new();

        /// <summary>After a very long text, lets the buffers go rather than keep them for the thread's lifetime.</summary>
        public void Trim()
        {
            if (Sink.Ids.Length > 1 << 20) Sink = new TokenSink();
        }
        public readonly Scratch Scratch = new();
        public readonly List<AddedSplit> Splits = [];
        public readonly List<AddedSplit> SubSplits = [];
    }

    private Tokenizer(TokenizerParts parts, TokenizerConfig config, string sourceName)
    {
        Config = config;
        _normalizer = parts.Normalizer;
        _preTokenizer = parts.PreTokenizer;
        _model = parts.Model;
        _decoder = parts.Decoder;
        _cleanup = config.CleanUpTokenizationSpaces ?? false;
        _alwaysTrack = parts.NeedsAlignment;

        // Added tokens: tokenizer.json's, then those only tokenizer_config.json lists (with their ids), then special
        // tokens named in the config that exist nowhere (transformers adds them with new ids).
        var added = new List<AddedToken>(parts.AddedTokens);
        var ids = new HashSet<int>(added.Select(a => a.Id));
        var contents = new HashSet<string>(added.Select(a => a.Content), StringComparer.Ordinal);
        foreach (var c in config.AddedTokens)
        {
            if (ids.Contains(c.Id) || contents.Contains(c.Content)) continue;
            added.Add(new AddedToken(c.Id, c.Content, c.Special, c.LStrip, c.RStrip, c.SingleWord, c.Normalized));
            ids.Add(c.Id);
            contents.Add(c.Content);
        }
        int modelSize = _model.Vocab.Count == 0 ? 0 : _model.Vocab.Values.Max() + 1;
        foreach (var name in new[] { config.BosToken, config.EosToken, config.UnkToken, config.PadToken })
        {
            if (name is null || contents.Contains(name) || _model.Vocab.ContainsKey(name)) continue;
            int maxAdded = ids.Count == 0 ? -1 : ids.Max();
            int id = maxAdded >= modelSize ? maxAdded + 1 : modelSize;
            added.Add(new AddedToken(id, name, Special: true, LStrip: false, RStrip: false, SingleWord: false, Normalized: false));
            ids.Add(id);
            contents.Add(name);
        }

        int size = Math.Max(modelSize, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        VocabSize = size;
        _idToToken = new string?[size];
        _special = new bool[size];
        foreach (var (token, id) in _model.Vocab) _idToToken[id] = token;
        var specialContents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in added)
        {
            _idToToken[a.Id] = a.Content;
            _addedByContent[a.Content] = a.Id;
            if (a.Special) specialContents.Add(a.Content);
        }
        for (int id = 0; id < size; id++) _special[id] = _idToToken[id] is { } t && specialContents.Contains(t);

        var raw = added.Where(a => !a.Normalized).ToArray();
        var normalized = added.Where(a => a.Normalized).ToArray();
        _rawMatcher = new AddedTokenMatcher(raw, raw.Select(a => a.Content).ToArray());
        _normalizedMatcher = new AddedTokenMatcher(normalized, normalized.Select(a => _normalizer?.Apply(a.Content) ?? a.Content).ToArray());

        BosTokenId = config.BosToken is null ? null : TokenToId(config.BosToken);
        EosTokenId = config.EosToken is null ? null : TokenToId(config.EosToken);
        PadTokenId = config.PadToken is null ? null : TokenToId(config.PadToken);

        _post = parts.PostProcessor;
        if (config.TokenizerClass is { } cls && LlamaClasses.Contains(cls))
        {
            // transformers' LlamaTokenizerFast.update_post_processor: the template comes from add_bos_token / add_eos_token.
            bool addBos = config.AddBosToken ?? true, addEos = config.AddEosToken ?? false;
            int? bos = addBos ? BosTokenId ?? throw new TokenizerFormatException($"{sourceName}: add_bos_token is true but bos_token is not set or not in the vocabulary") : null;
            int? eos = addEos ? EosTokenId ?? throw new TokenizerFormatException($"{sourceName}: add_eos_token is true but eos_token is not set or not in the vocabulary") : null;
            _post = new PostProcessor(bos is { } b ? [b] : [], eos is { } e ? [e] : [], trimOffsets: false, addPrefixSpace: false);
        }
        if (_post.TrimOffsets && _model.IsByteLevel)
        {
            _spaces = new (int, int)[size];
            for (int id = 0; id < size; id++)
            {
                if (_idToToken[id] is not { } t) continue;
                int lead = 0, trail = 0;
                while (lead < t.Length && (t[lead] == '\u0120' || char.IsWhiteSpace(t[lead]))) lead++;
                while (trail < t.Length && (t[t.Length - 1 - trail] == '\u0120' || char.IsWhiteSpace(t[t.Length - 1 - trail]))) trail++;
                _spaces[id] = (lead, trail);
            }
        }
    }

    /// <summary>Loads tokenizer.json with tokenizer_config.json (and special_tokens_map.json) from a model folder.</summary>
    public static Tokenizer FromDirectory(string directory)
    {
        if (!Directory.Exists(directory)) throw new TokenizerFormatException($"{directory}: no such folder");
        string path = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(path))
        {
            string hint = File.Exists(Path.Combine(directory, "tokenizer.model"))
                ? " (only tokenizer.model is there: SentencePiece/tiktoken model files are not read, tokenizer.json is needed)" : "";
            throw new TokenizerFormatException($"{path}: no such file{hint}");
        }
        var config = TokenizerConfig.FromDirectory(directory);
        return FromJson(File.ReadAllText(path), config, path);
    }

    /// <summary>Builds a tokenizer from tokenizer.json text; <paramref name="sourceName"/> names it in errors.</summary>
    public static Tokenizer FromJson(string tokenizerJson, TokenizerConfig config, string sourceName)
    {
        var parts = TokenizerJson.Read(tokenizerJson, sourceName);
        return new Tokenizer(parts, config, sourceName);
    }

    public TokenizerConfig Config { get; }

    /// <summary>One past the largest token id, added tokens included (transformers' len(tokenizer) for contiguous vocabularies).</summary>
    public int VocabSize { get; }
    public int? BosTokenId { get; }
    public int? EosTokenId { get; }
    public int? PadTokenId { get; }

    /// <summary>Token ids of <paramref name="text"/>, as transformers' tokenizer.encode(text, add_special_tokens=...).</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = t_state ??= new EncodeState();
        var sink = state.Sink;
        Run(text, state, _alwaysTrack);
        int[] pre = addSpecialTokens ? _post.Prefix : [], suf = addSpecialTokens ? _post.Suffix : [];
        var result = new int[pre.Length + sink.Count + suf.Length];
        pre.CopyTo(result, 0);
        sink.Ids.AsSpan(0, sink.Count).CopyTo(result.AsSpan(pre.Length));
        suf.CopyTo(result, pre.Length + sink.Count);
        state.Trim();
        return result;
    }

    /// <summary>
    /// Ids plus each token's [start, end) in UTF-16 indices of <paramref name="text"/> (Hugging Face offset_mapping
    /// semantics: a token covers the input characters it was made from; special tokens added around the text get (0, 0)).
    /// </summary>
    public TokenizedText EncodeWithOffsets(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var state = t_state ??= new EncodeState();
        var sink = state.Sink;
        Run(text, state, track: true);
        if (_post.TrimOffsets && _spaces is not null)
            PostProcessor.TrimSpaces(sink, id => id < _spaces.Length ? _spaces[id] : (0, 0), _post.AddPrefixSpace);
        int[] pre = addSpecialTokens ? _post.Prefix : [], suf = addSpecialTokens ? _post.Suffix : [];
        int n = pre.Length + sink.Count + suf.Length;
        var ids = new int[n];
        var offsets = new (int, int)[n];
        pre.CopyTo(ids, 0);
        for (int i = 0; i < sink.Count; i++)
        {
            ids[pre.Length + i] = sink.Ids[i];
            offsets[pre.Length + i] = (sink.Starts[i], sink.Ends[i]);
        }
        suf.CopyTo(ids, pre.Length + sink.Count);
        state.Trim();
        return new TokenizedText(ids, offsets);
    }

    private void Run(string text, EncodeState state, bool track)
    {
        var sink = state.Sink;
        sink.Reset(track);
        var raw = NormText.Original(text, track);
        var splits = state.Splits;
        splits.Clear();
        _rawMatcher.Split(text, 0, text.Length, splits);
        foreach (var split in splits)
        {
            if (split.TokenIndex >= 0)
            {
                sink.Add(_rawMatcher[split.TokenIndex].Id, split.Start, split.End);
                continue;
            }
            var piece = new Piece(raw, split.Start, split.End);
            if (_normalizer is not null) piece = _normalizer.Apply(piece);
            if (_normalizedMatcher.IsEmpty)
            {
                ModelPiece(piece, state);
                continue;
            }
            var subs = state.SubSplits;
            subs.Clear();
            _normalizedMatcher.Split(piece.Source.Text, piece.Start, piece.End, subs);
            foreach (var sub in subs)
            {
                if (sub.TokenIndex >= 0)
                {
                    var (s, e) = track ? piece.Source.OriginalRange(sub.Start, sub.End) : (0, 0);
                    sink.Add(_normalizedMatcher[sub.TokenIndex].Id, s, e);
                }
                else ModelPiece(new Piece(piece.Source, sub.Start, sub.End), state);
            }
        }
    }

    private void ModelPiece(Piece piece, EncodeState state)
    {
        if (piece.IsEmpty) return;
        if (_preTokenizer is null)
        {
            _model.Tokenize(piece, state.Sink);
            return;
        }
        var input = state.Scratch.PiecesA;
        var output = state.Scratch.PiecesB;
        input.Clear();
        output.Clear();
        input.Add(piece);
        _preTokenizer.Split(input, output, state.Scratch);
        foreach (var p in output) _model.Tokenize(p, state.Sink);
    }

    /// <summary>Text of <paramref name="ids"/> as transformers' tokenizer.decode(ids, skip_special_tokens=...); unknown ids are skipped.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (TokenFor(id, skipSpecialTokens) is { } t) tokens.Add(t);
        }
        string text = _decoder is null ? string.Join(' ', tokens) : string.Concat(_decoder.DecodeChain(tokens));
        return _cleanup ? Cleanup.Apply(text) : text;
    }

    internal string? TokenFor(int id, bool skipSpecialTokens)
    {
        if ((uint)id >= (uint)_idToToken.Length) return null;
        if (skipSpecialTokens && _special[id]) return null;
        return _idToToken[id];
    }

    /// <summary>A decoder fed one id at a time whose pieces add up to <see cref="Decode"/> of all of them.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false)
    {
        StreamStage? stage;
        if (_decoder is null) stage = new JoinStage();
        else
        {
            stage = _decoder.CreateStage(textMode: false, out _);
            if (stage is null) throw new NotSupportedException("this tokenizer's decoder chain cannot be decoded as a stream");
        }
        if (_cleanup) stage = new ChainStage([stage, Cleanup.CreateStage()]);
        return new StreamingDecoder(this, stage, skipSpecialTokens);
    }

    /// <summary>No decoder: tokens joined with single spaces.</summary>
    private sealed class JoinStage : StreamStage
    {
        private bool _first = true;

        public override void Push(string item, Action<string> emit)
        {
            emit(_first ? item : " " + item);
            _first = false;
        }
    }

    /// <summary>Id of a token string (added tokens first, then the model's vocabulary); null when unknown.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out int id)) return id;
        return _model.Vocab.TryGetValue(token, out id) ? id : null;
    }

    /// <summary>The vocabulary string of an id (byte-level tokens in GPT-2's printable form, e.g. "Ġthe"); null when unknown.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>
    /// The raw UTF-8 bytes one token adds to the decoded text when it stands in the middle of it: byte-level tokens
    /// through the reverse GPT-2 byte map, SentencePiece-style ▁ as a space and &lt;0xNN&gt; as that byte, added
    /// non-special tokens as their text; special tokens and unknown ids give none. What depends on position is left
    /// out: the first token's leading space that Metaspace/Strip decoders drop, and clean_up_tokenization_spaces.
    /// A token may hold part of a UTF-8 character.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        if (TokenFor(id, skipSpecialTokens: true) is not { } token) return [];
        if (_decoder is null) return Encoding.UTF8.GetBytes(token);
        bool textMode = false;
        return _decoder.Single(TokenPiece.Of(token), ref textMode).ToBytes();
    }

    /// <summary>True for added tokens marked special (what skip_special_tokens leaves out).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];
}

/// <summary>
/// Decodes ids one at a time. Each <see cref="Append"/> returns the text that became certain with that id: a UTF-8
/// sequence split over several byte tokens is held until it is complete (or the byte run ends), so no piece ever
/// contains half a character. <see cref="Flush"/> returns what is still held at the end. The concatenation of
/// every Append and the final Flush equals <see cref="Tokenizer.Decode"/> of all the ids.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly StreamStage _stage;
    private readonly bool _skipSpecialTokens;
    private readonly StringBuilder _out = new();
    private readonly Action<string> _emit;

    internal StreamingDecoder(Tokenizer tokenizer, StreamStage stage, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _stage = stage;
        _skipSpecialTokens = skipSpecialTokens;
        _emit = s => _out.Append(s);
    }

    /// <summary>Feeds one id; returns the new text (often empty while a character is incomplete).</summary>
    public string Append(int id)
    {
        _out.Clear();
        if (_tokenizer.TokenFor(id, _skipSpecialTokens) is { } token) _stage.Push(token, _emit);
        return _out.ToString();
    }

    /// <summary>Ends the stream: returns whatever was held back (an incomplete character becomes U+FFFD, as in Decode).</summary>
    public string Flush()
    {
        _out.Clear();
        _stage.Flush(_emit);
        return _out.ToString();
    }
}
