using System.Text;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// A tokenizer.json decoder, as Hugging Face's decode_chain: token strings in, strings out (joined at the end).
/// Each decoder also builds a streaming stage that gives the same text when fed one token at a time.
/// </summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    /// <summary>
    /// The streaming form. <paramref name="textMode"/>: the input is no longer separate tokens but chunks of one
    /// string (after Fuse or ByteLevel). Null when this decoder cannot stream in that position.
    /// </summary>
    public abstract StreamStage? CreateStage(bool textMode, out bool textModeAfter);

    /// <summary>
    /// What this step makes of one token standing in the middle of a text (see <see cref="TokenPiece"/>): the per-token
    /// work without what depends on position (Metaspace dropping the first token's ▁, Strip trimming the start of the
    /// fused text). <paramref name="textMode"/> as in <see cref="CreateStage"/>.
    /// </summary>
    public virtual TokenPiece Single(TokenPiece piece, ref bool textMode) => piece;
}

/// <summary>One token on its way through the decoder chain: still text, or already raw bytes (after ByteLevel or ByteFallback).</summary>
internal readonly record struct TokenPiece(string? Text, byte[]? Bytes)
{
    public static TokenPiece Of(string text) => new(text, null);

    public byte[] ToBytes() => Bytes ?? Encoding.UTF8.GetBytes(Text ?? "");

    /// <summary>A text step on a piece: applied to text, skipped on bytes (no real chain puts a text step after a byte step).</summary>
    public TokenPiece MapText(Func<string, string> map) => Text is null ? this : Of(map(Text));
}

/// <summary>One step of a streaming decode: receives strings, emits strings; Flush emits what it held back.</summary>
internal abstract class StreamStage
{
    public abstract void Push(string item, Action<string> emit);
    public virtual void Flush(Action<string> emit) { }
}

internal sealed class SequenceDecoder(Decoder[] steps) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var step in steps) tokens = step.DecodeChain(tokens);
        return tokens;
    }

    public override StreamStage? CreateStage(bool textMode, out bool textModeAfter)
    {
        var stages = new List<StreamStage>();
        foreach (var step in steps)
        {
            var stage = step.CreateStage(textMode, out textMode);
            if (stage is null) { textModeAfter = textMode; return null; }
            stages.Add(stage);
        }
        textModeAfter = textMode;
        return new ChainStage(stages);
    }

    public override TokenPiece Single(TokenPiece piece, ref bool textMode)
    {
        foreach (var step in steps) piece = step.Single(piece, ref textMode);
        return piece;
    }
}

internal sealed class ChainStage(List<StreamStage> stages) : StreamStage
{
    public override void Push(string item, Action<string> emit) => Run(0, item, emit);

    private void Run(int k, string item, Action<string> emit)
    {
        if (k == stages.Count) { emit(item); return; }
        stages[k].Push(item, s => Run(k + 1, s, emit));
    }

    public override void Flush(Action<string> emit)
    {
        for (int k = 0; k < stages.Count; k++)
        {
            int next = k + 1;
            stages[k].Flush(s => Run(next, s, emit));
        }
    }
}

/// <summary>ByteLevel: every token's characters back to bytes (a token with characters outside the map gives its own UTF-8), one lossy UTF-8 string.</summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public static byte[] TokenBytes(string token)
    {
        var map = BpeModel.CharToByte;
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!map.TryGetValue(token[i], out bytes[i])) return Encoding.UTF8.GetBytes(token);
        }
        return bytes;
    }

    public override TokenPiece Single(TokenPiece piece, ref bool textMode)
    {
        textMode = true;
        return piece.Text is null ? piece : new TokenPiece(null, TokenBytes(piece.Text));
    }

    public override List<string> DecodeChain(List<string> tokens)
    {
        var all = new List<byte>();
        foreach (var t in tokens) all.AddRange(TokenBytes(t));
        return [Encoding.UTF8.GetString(all.ToArray())];
    }

    public override StreamStage CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = true;
        return new Stage();
    }

    private sealed class Stage : StreamStage
    {
        private readonly System.Text.Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();

        public override void Push(string item, Action<string> emit)
        {
            byte[] bytes = TokenBytes(item);
            var chars = new char[_utf8.GetCharCount(bytes, 0, bytes.Length, flush: false) + 2];
            int n = _utf8.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
            if (n > 0) emit(new string(chars, 0, n));
        }

        public override void Flush(Action<string> emit)
        {
            var chars = new char[8];
            int n = _utf8.GetChars([], 0, 0, chars, 0, flush: true);
            if (n > 0) emit(new string(chars, 0, n));
        }
    }
}

/// <summary>Replace: every occurrence of a literal (or regex) in each token.</summary>
internal sealed class ReplaceDecoder(SplitPattern pattern, string? literal, string content) : Decoder
{
    public string Replace(string s)
    {
        if (literal is not null) return literal.Length == 0 ? s : s.Replace(literal, content, StringComparison.Ordinal);
        var matches = new List<(int Start, int End)>();
        pattern.FindMatches(s, matches);
        if (matches.Count == 0) return s;
        var sb = new StringBuilder(s.Length);
        int last = 0;
        foreach (var (a, b) in matches)
        {
            sb.Append(s, last, a - last).Append(content);
            last = b;
        }
        return sb.Append(s, last, s.Length - last).ToString();
    }

    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(Replace).ToList();

    public override TokenPiece Single(TokenPiece piece, ref bool textMode) => piece.MapText(Replace);

    public override StreamStage? CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = textMode;
        if (!textMode) return new MapStage(Replace);
        return literal is null ? null : new LiteralReplaceStage(literal, content);
    }
}

/// <summary>A per-item function.</summary>
internal sealed class MapStage(Func<string, string> map) : StreamStage
{
    public override void Push(string item, Action<string> emit) => emit(map(item));
}

/// <summary>
/// Replacing a literal in a stream of chunks exactly as one replace over their concatenation: complete matches are
/// replaced, a tail that could start a match is held until the next chunk (or Flush).
/// </summary>
internal sealed class LiteralReplaceStage(string pattern, string replacement) : StreamStage
{
    private string _pending = "";

    public override void Push(string item, Action<string> emit)
    {
        string s = _pending + item;
        var sb = new StringBuilder(s.Length);
        int i = 0;
        if (pattern.Length > 0)
        {
            while (true)
            {
                int k = s.IndexOf(pattern, i, StringComparison.Ordinal);
                if (k < 0) break;
                sb.Append(s, i, k - i).Append(replacement);
                i = k + pattern.Length;
            }
        }
        int hold = 0;
        for (int h = Math.Min(pattern.Length - 1, s.Length - i); h > 0; h--)
        {
            if (string.CompareOrdinal(s, s.Length - h, pattern, 0, h) == 0) { hold = h; break; }
        }
        sb.Append(s, i, s.Length - i - hold);
        _pending = s[(s.Length - hold)..];
        if (sb.Length > 0) emit(sb.ToString());
    }

    public override void Flush(Action<string> emit)
    {
        if (_pending.Length > 0) emit(_pending);
        _pending = "";
    }
}

/// <summary>ByteFallback: runs of &lt;0xNN&gt; tokens become their UTF-8 text, or one U+FFFD per byte when the run is not valid UTF-8.</summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static bool TryByte(string token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>') return false;
        // Rust's u8::from_str_radix: an optional '+' then hex digits
        var digits = token.AsSpan(3, 2);
        if (digits[0] == '+') digits = digits[1..];
        return byte.TryParse(digits, System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }

    public static string BytesToText(List<byte> bytes)
    {
        try { return Strict.GetString(bytes.ToArray()); }
        catch (DecoderFallbackException) { return new string('\uFFFD', bytes.Count); }
    }

    public override TokenPiece Single(TokenPiece piece, ref bool textMode) =>
        !textMode && piece.Text is { } t && TryByte(t, out byte b) ? new TokenPiece(null, [b]) : piece;

    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var t in tokens)
        {
            if (TryByte(t, out byte b)) { run.Add(b); continue; }
            if (run.Count > 0) { result.Add(BytesToText(run)); run.Clear(); }
            result.Add(t);
        }
        if (run.Count > 0) result.Add(BytesToText(run));
        return result;
    }

    public override StreamStage? CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = textMode;
        return textMode ? null : new Stage();
    }

    private sealed class Stage : StreamStage
    {
        private readonly List<byte> _run = [];

        public override void Push(string item, Action<string> emit)
        {
            if (TryByte(item, out byte b)) { _run.Add(b); return; }
            Flush(emit);
            emit(item);
        }

        public override void Flush(Action<string> emit)
        {
            if (_run.Count == 0) return;
            emit(BytesToText(_run));
            _run.Clear();
        }
    }
}

/// <summary>Fuse: all tokens into one string.</summary>
internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];

    public override TokenPiece Single(TokenPiece piece, ref bool textMode)
    {
        textMode = true;
        return piece;
    }

    public override StreamStage CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = true;
        return new MapStage(s => s);
    }
}

/// <summary>Strip: up to <c>start</c> leading and <c>stop</c> trailing occurrences of a character, per token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public string Strip(string token)
    {
        int startCut = 0;
        for (int i = 0; i < start && i < token.Length; i++)
        {
            if (token[i] == content) startCut = i + 1; else break;
        }
        int stopCut = token.Length;
        for (int i = 0; i < stop && i < token.Length; i++)
        {
            int index = token.Length - i - 1;
            if (token[index] == content) stopCut = index; else break;
        }
        return stopCut <= startCut ? "" : token[startCut..stopCut];
    }

    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(Strip).ToList();

    /// <summary>Per token it strips; after Fuse it trims only the start and end of the whole text, which a middle token is not.</summary>
    public override TokenPiece Single(TokenPiece piece, ref bool textMode) => textMode ? piece : piece.MapText(Strip);

    public override StreamStage CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = textMode;
        return textMode ? new TextStage(content, start, stop) : new MapStage(Strip);
    }

    /// <summary>Strip over the concatenation of all chunks: leading characters as they come, trailing ones held back.</summary>
    private sealed class TextStage(char content, int start, int stop) : StreamStage
    {
        private int _leadingLeft = start;
        private bool _started;
        private int _held;   // trailing content characters held back (at most stop)

        public override void Push(string item, Action<string> emit)
        {
            int from = 0;
            if (!_started)
            {
                while (from < item.Length && _leadingLeft > 0 && item[from] == content)
                {
                    from++;
                    _leadingLeft--;
                }
                if (from < item.Length) _started = true;
                if (!_started) return;
            }
            if (from >= item.Length) return;
            // trailing run of content characters in this item
            int trail = 0;
            while (trail < item.Length - from && item[item.Length - 1 - trail] == content) trail++;
            if (trail == item.Length - from)
            {
                // the whole item is content characters: they extend the held run
                int total = _held + trail;
                int keep = Math.Min(total, stop);
                if (total > keep) emit(new string(content, total - keep));
                _held = keep;
                return;
            }
            var sb = new StringBuilder();
            sb.Append(content, _held);
            int newHeld = Math.Min(trail, stop);
            sb.Append(item, from, item.Length - from - newHeld);
            _held = newHeld;
            emit(sb.ToString());
        }

        public override void Flush(Action<string> emit) => _held = 0;
    }
}

/// <summary>Metaspace: ▁ back to spaces; in the first token (unless the prepend scheme is "never") ▁ is dropped.</summary>
internal sealed class MetaspaceDecoder(char replacement, bool dropFirst) : Decoder
{
    public string Token(string token, int index)
    {
        if (index == 0 && dropFirst) return token.Replace(replacement.ToString(), "", StringComparison.Ordinal);
        return token.Replace(replacement, ' ');
    }

    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(Token).ToList();

    public override TokenPiece Single(TokenPiece piece, ref bool textMode) => piece.MapText(t => t.Replace(replacement, ' '));

    public override StreamStage? CreateStage(bool textMode, out bool textModeAfter)
    {
        textModeAfter = textMode;
        return textMode ? null : new Stage(this);
    }

    private sealed class Stage(MetaspaceDecoder decoder) : StreamStage
    {
        private int _index;
        public override void Push(string item, Action<string> emit) => emit(decoder.Token(item, _index++));
    }
}

/// <summary>transformers' clean_up_tokenization: spaces before punctuation and English contractions removed.</summary>
internal static class Cleanup
{
    public static readonly (string From, string To)[] Rules =
    [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ];

    public static string Apply(string text)
    {
        foreach (var (from, to) in Rules) text = text.Replace(from, to, StringComparison.Ordinal);
        return text;
    }

    public static StreamStage CreateStage() => new ChainStage(Rules.Select(r => (StreamStage)new LiteralReplaceStage(r.From, r.To)).ToList());
}
