using System.Globalization;
using System.Text;

namespace Scalpel.Text.Jinja;

internal enum TokenType { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, Eof }

internal readonly record struct Token(TokenType Type, string Text, object? Value, int Offset)
{
    public bool IsName(string name) => Type == TokenType.Name && Text == name;
    public bool IsOp(string op) => Type == TokenType.Operator && Text == op;
}

/// <summary>The template text after Jinja2's newline normalisation, with offset → line/column mapping for errors.</summary>
internal sealed class SourceText
{
    private readonly int[] _lineStarts;

    public SourceText(string name, string raw)
    {
        Name = name;
        // Jinja2: every \r\n, \r, \n becomes \n, and one trailing newline is dropped (keep_trailing_newline=False).
        string text = raw.Replace("\r\n", "\n").Replace('\r', '\n');
        if (text.EndsWith('\n')) text = text[..^1];
        Text = text;
        var starts = new List<int> { 0 };
        for (int i = 0; i < text.Length; i++) if (text[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }

    public string Name { get; }
    public string Text { get; }

    public (int Line, int Column) Position(int offset)
    {
        offset = Math.Clamp(offset, 0, Text.Length);
        int i = Array.BinarySearch(_lineStarts, offset);
        if (i < 0) i = ~i - 1;
        return (i + 1, offset - _lineStarts[i] + 1);
    }

    public TemplateException Error(int offset, string reason)
    {
        var (line, column) = Position(offset);
        return new TemplateException(Name, line, column, reason);
    }
}

/// <summary>
/// Jinja2's lexer with the environment transformers uses: default delimiters, trim_blocks (one newline after a
/// block or comment tag is removed), lstrip_blocks (spaces/tabs before a block or comment tag at the start of a
/// line are removed), "-" / "+" whitespace control, comments and raw blocks.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] Operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    private readonly SourceText _source;
    private readonly string _s;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true;

    private Lexer(SourceText source)
    {
        _source = source;
        _s = source.Text;
    }

    public static List<Token> Tokenize(SourceText source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private static bool IsPySpace(char c) => PyString.IsSpace(c);

    private int SkipSpace(int i)
    {
        while (i < _s.Length && IsPySpace(_s[i])) i++;
        return i;
    }

    private void Run()
    {
        int n = _s.Length;
        while (_pos < n)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                _tokens.Add(new Token(TokenType.Data, _s[_pos..], null, _pos));
                break;
            }
            char kind = _s[tag + 1];
            if (kind == '%' && TryRaw(tag)) continue;
            char sign = tag + 2 < n && _s[tag + 2] is '-' or '+' ? _s[tag + 2] : '\0';
            EmitData(_pos, tag, sign, isVariable: kind == '{');
            int after = tag + 2 + (sign != '\0' ? 1 : 0);
            if (kind == '#') { Comment(tag, after); continue; }
            _tokens.Add(new Token(kind == '{' ? TokenType.VariableBegin : TokenType.BlockBegin, _s[tag..after], null, tag));
            _pos = after;
            _lineStarting = false;
            InsideTag(kind == '{');
        }
        _tokens.Add(new Token(TokenType.Eof, "", null, n));
    }

    private int FindTagStart(int from)
    {
        int i = from;
        while (true)
        {
            i = _s.IndexOf('{', i);
            if (i < 0 || i + 1 >= _s.Length) return -1;
            if (_s[i + 1] is '{' or '%' or '#') return i;
            i++;
        }
    }

    /// <summary>Jinja2's OptionalLStrip: "-" strips all whitespace before the tag; lstrip_blocks strips spaces/tabs
    /// between the start of the line and a block/comment tag unless the tag says "+".</summary>
    private void EmitData(int start, int end, char sign, bool isVariable)
    {
        string text = _s[start..end];
        if (sign == '-')
        {
            int k = text.Length;
            while (k > 0 && IsPySpace(text[k - 1])) k--;
            text = text[..k];
        }
        else if (sign != '+' && !isVariable)
        {
            int lineStart = text.LastIndexOf('\n') + 1;
            if (lineStart > 0 || _lineStarting)
            {
                bool onlyBlanks = true;
                for (int i = lineStart; i < text.Length; i++) if (text[i] is not (' ' or '\t')) { onlyBlanks = false; break; }
                if (onlyBlanks) text = text[..lineStart];
            }
        }
        if (text.Length > 0) _tokens.Add(new Token(TokenType.Data, text, null, start));
    }

    private void Comment(int tag, int contentStart)
    {
        int close = _s.IndexOf("#}", contentStart, StringComparison.Ordinal);
        if (close < 0) throw _source.Error(tag, "Missing end of comment tag");
        char sign = close - 1 >= contentStart && _s[close - 1] is '-' or '+' ? _s[close - 1] : '\0';
        int end = close + 2;
        if (sign == '-') end = SkipSpace(end);
        else if (sign != '+' && end < _s.Length && _s[end] == '\n') end++;
        _lineStarting = end > 0 && _s[end - 1] == '\n';
        _pos = end;
    }

    /// <summary>{% raw %}...{% endraw %}: the body is data, not parsed.</summary>
    private bool TryRaw(int tag)
    {
        int i = tag + 2;
        char sign = i < _s.Length && _s[i] is '-' or '+' ? _s[i] : '\0';
        if (sign != '\0') i++;
        i = SkipSpace(i);
        if (string.CompareOrdinal(_s, i, "raw", 0, 3) != 0) return false;
        i = SkipSpace(i + 3);
        int bodyStart;
        if (string.CompareOrdinal(_s, i, "-%}", 0, 3) == 0) bodyStart = SkipSpace(i + 3);
        else if (string.CompareOrdinal(_s, i, "%}", 0, 2) == 0) bodyStart = i + 2;
        else return false;
        EmitData(_pos, tag, sign, isVariable: false);
        _lineStarting = bodyStart > 0 && _s[bodyStart - 1] == '\n';
        // Find {%(-|+)? \s* endraw \s* (+%} | -%}\s* | %}\n?)
        int search = bodyStart;
        while (true)
        {
            int open = _s.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw _source.Error(tag, "Missing end of raw directive");
            int j = open + 2;
            char endSign = j < _s.Length && _s[j] is '-' or '+' ? _s[j] : '\0';
            if (endSign != '\0') j++;
            j = SkipSpace(j);
            if (string.CompareOrdinal(_s, j, "endraw", 0, 6) != 0) { search = open + 2; continue; }
            j = SkipSpace(j + 6);
            int end;
            if (string.CompareOrdinal(_s, j, "+%}", 0, 3) == 0) end = j + 3;
            else if (string.CompareOrdinal(_s, j, "-%}", 0, 3) == 0) end = SkipSpace(j + 3);
            else if (string.CompareOrdinal(_s, j, "%}", 0, 2) == 0) { end = j + 2; if (end < _s.Length && _s[end] == '\n') end++; }
            else { search = open + 2; continue; }
            EmitData(bodyStart, open, endSign, isVariable: false);
            _lineStarting = end > 0 && _s[end - 1] == '\n';
            _pos = end;
            return true;
        }
    }

    private void InsideTag(bool variable)
    {
        var braces = new Stack<(char Open, int Offset)>();
        int n = _s.Length;
        while (true)
        {
            if (_pos >= n) return;   // the parser reports the unexpected end of template
            if (braces.Count == 0)
            {
                int start = _pos;
                int end = -1;
                if (variable)
                {
                    if (string.CompareOrdinal(_s, _pos, "-}}", 0, 3) == 0) end = SkipSpace(_pos + 3);
                    else if (string.CompareOrdinal(_s, _pos, "}}", 0, 2) == 0) end = _pos + 2;
                }
                else
                {
                    if (string.CompareOrdinal(_s, _pos, "+%}", 0, 3) == 0) end = _pos + 3;
                    else if (string.CompareOrdinal(_s, _pos, "-%}", 0, 3) == 0) end = SkipSpace(_pos + 3);
                    else if (string.CompareOrdinal(_s, _pos, "%}", 0, 2) == 0) { end = _pos + 2; if (end < n && _s[end] == '\n') end++; }
                }
                if (end >= 0)
                {
                    _tokens.Add(new Token(variable ? TokenType.VariableEnd : TokenType.BlockEnd, _s[start..end], null, start));
                    _lineStarting = _s[end - 1] == '\n';
                    _pos = end;
                    return;
                }
            }
            char c = _s[_pos];
            if (IsPySpace(c)) { _pos++; continue; }
            if (char.IsAsciiDigit(c) && TryNumber()) continue;
            if (c == '_' || char.IsLetter(c) || char.IsSurrogate(c))
            {
                int start = _pos;
                while (_pos < n && (_s[_pos] == '_' || char.IsLetterOrDigit(_s[_pos]) || char.IsSurrogate(_s[_pos])
                                    || CharUnicodeInfo.GetUnicodeCategory(_s[_pos]) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation))
                    _pos++;
                _tokens.Add(new Token(TokenType.Name, _s[start.._pos], null, start));
                continue;
            }
            if (c is '\'' or '"') { String(c); continue; }
            string? op = null;
            foreach (var o in Operators)
                if (string.CompareOrdinal(_s, _pos, o, 0, o.Length) == 0) { op = o; break; }
            if (op is null) throw _source.Error(_pos, $"unexpected char {PyOps.Repr(c.ToString())} at {_pos}");
            if (op is "(" or "[" or "{") braces.Push((op[0], _pos));
            else if (op is ")" or "]" or "}")
            {
                if (braces.Count == 0) throw _source.Error(_pos, $"unexpected '{op}'");
                var (open, _) = braces.Pop();
                char expected = open == '(' ? ')' : open == '[' ? ']' : '}';
                if (op[0] != expected) throw _source.Error(_pos, $"unexpected '{op}', expected '{expected}'");
            }
            _tokens.Add(new Token(TokenType.Operator, op, null, _pos));
            _pos += op.Length;
        }
    }

    private int Digits(int i, Func<char, bool> isDigit)
    {
        // (\d+_)*\d+ : digit groups joined by single underscores
        if (i >= _s.Length || !isDigit(_s[i])) return -1;
        while (true)
        {
            while (i < _s.Length && isDigit(_s[i])) i++;
            if (i + 1 < _s.Length && _s[i] == '_' && isDigit(_s[i + 1])) { i++; continue; }
            return i;
        }
    }

    private bool TryNumber()
    {
        int start = _pos;
        // Float: (?<!\.)(\d+_)*\d+ ((\.(\d+_)*\d+)? e[+-]?(\d+_)*\d+ | \.(\d+_)*\d+)
        if (start == 0 || _s[start - 1] != '.')
        {
            int i = Digits(start, char.IsAsciiDigit);
            int frac = -1;
            if (i < _s.Length && _s[i] == '.') frac = Digits(i + 1, char.IsAsciiDigit);
            int mantissaEnd = frac >= 0 ? frac : i;
            int exp = -1;
            if (mantissaEnd < _s.Length && _s[mantissaEnd] is 'e' or 'E')
            {
                int k = mantissaEnd + 1;
                if (k < _s.Length && _s[k] is '+' or '-') k++;
                exp = Digits(k, char.IsAsciiDigit);
            }
            int end = exp >= 0 ? exp : frac;
            if (end >= 0)
            {
                string text = _s[start..end];
                double value = double.Parse(text.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture);
                _tokens.Add(new Token(TokenType.Float, text, value, start));
                _pos = end;
                return true;
            }
        }
        // Integer: 0b.., 0o.., 0x.., [1-9](_?\d)*, 0(_?0)*
        if (_s[start] == '0' && start + 2 <= _s.Length && start + 1 < _s.Length && _s[start + 1] is 'b' or 'B' or 'o' or 'O' or 'x' or 'X')
        {
            char p = char.ToLowerInvariant(_s[start + 1]);
            Func<char, bool> isDigit = p == 'b' ? (ch => ch is '0' or '1') : p == 'o' ? (ch => ch is >= '0' and <= '7') : char.IsAsciiHexDigit;
            int i = start + 2, last = -1;
            while (true)
            {
                int k = i;
                if (k < _s.Length && _s[k] == '_') k++;
                if (k < _s.Length && isDigit(_s[k])) { i = k + 1; last = i; } else break;
            }
            if (last > 0)
            {
                string text = _s[start..last];
                string digits = text[2..].Replace("_", "");
                long value = Convert.ToInt64(digits, p == 'b' ? 2 : p == 'o' ? 8 : 16);
                _tokens.Add(new Token(TokenType.Integer, text, value, start));
                _pos = last;
                return true;
            }
        }
        {
            int i = start + 1;
            Func<char, bool> isDigit = _s[start] == '0' ? (ch => ch == '0') : char.IsAsciiDigit;
            while (true)
            {
                int k = i;
                if (k < _s.Length && _s[k] == '_') k++;
                if (k < _s.Length && isDigit(_s[k])) i = k + 1; else break;
            }
            string text = _s[start..i];
            string digits = text.Replace("_", "");
            object value = long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long small)
                ? small
                : PyOps.Normalize(System.Numerics.BigInteger.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture));
            _tokens.Add(new Token(TokenType.Integer, text, value, start));
            _pos = i;
            return true;
        }
    }

    private void String(char quote)
    {
        int start = _pos;
        int i = _pos + 1;
        while (i < _s.Length && _s[i] != quote)
        {
            if (_s[i] == '\\') i++;
            i++;
        }
        if (i >= _s.Length) throw _source.Error(start, $"unexpected char {PyOps.Repr(quote.ToString())} at {start}");
        string body = _s[(start + 1)..i];
        _tokens.Add(new Token(TokenType.String, _s[start..(i + 1)], Unescape(body, start), start));
        _pos = i + 1;
    }

    /// <summary>Python's "unicode-escape" decoding, as Jinja2 applies it to string literals.</summary>
    private string Unescape(string body, int offset)
    {
        if (!body.Contains('\\')) return body;
        var sb = new StringBuilder(body.Length);
        for (int i = 0; i < body.Length; i++)
        {
            char c = body[i];
            if (c != '\\' || i + 1 >= body.Length) { sb.Append(c); continue; }
            char e = body[++i];
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                {
                    int value = 0, k = 0;
                    while (k < 3 && i < body.Length && body[i] is >= '0' and <= '7') { value = value * 8 + (body[i] - '0'); i++; k++; }
                    i--;
                    sb.Append(char.ConvertFromUtf32(value));
                    break;
                }
                case 'x' or 'u' or 'U':
                {
                    int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    string hex = body.Substring(i + 1, Math.Min(len, body.Length - i - 1));
                    if (hex.Length != len || !hex.All(char.IsAsciiHexDigit)) throw _source.Error(offset, $"(unicode error) truncated \\{e} escape");
                    int cp = int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (cp > 0x10FFFF) throw _source.Error(offset, "(unicode error) illegal Unicode character");
                    sb.Append(cp is >= 0xD800 and <= 0xDFFF ? ((char)cp).ToString() : char.ConvertFromUtf32(cp));
                    i += len;
                    break;
                }
                case 'N': throw _source.Error(offset, "\\N{...} escapes in string literals are not supported");
                default: sb.Append('\\').Append(e); break;
            }
        }
        return sb.ToString();
    }
}
