using System.Globalization;
using System.Text.RegularExpressions;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// A pre-tokenizer pattern: finds the matches (non-overlapping, left to right, as Oniguruma's find_iter) in a span.
/// The three regexes real byte-level tokenizers use (GPT-2's, Llama-3's, Qwen2's) are hand-written scanners that
/// follow the regex's alternation and backtracking exactly on code points; anything else runs on .NET's Regex over
/// the text with every supplementary code point replaced by a BMP stand-in of the same general category (.NET
/// regexes see UTF-16 units, so \p{L} would not match a surrogate pair).
/// </summary>
internal abstract class SplitPattern
{
    public const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    public const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>True when the matches always cover the whole input back to back (no gaps, no empty matches).</summary>
    public virtual bool Tiles => false;

    /// <summary>Adds every match [start, end) of <paramref name="s"/> to <paramref name="matches"/>.</summary>
    public abstract void FindMatches(ReadOnlySpan<char> s, List<(int Start, int End)> matches);

    public static SplitPattern ForRegex(string pattern) => pattern switch
    {
        Gpt2Regex => new Gpt2Scanner(),
        Llama3Regex => new Llama3Scanner(3),
        Qwen2Regex => new Llama3Scanner(1),
        _ => new DotNetRegexPattern(pattern),
    };

    public static SplitPattern ForString(string literal) => new LiteralPattern(literal);
}

/// <summary>Base of the hand-written scanners: the match starting at i always exists (the last alternatives cover everything).</summary>
internal abstract class TilingScanner : SplitPattern
{
    public override bool Tiles => true;

    /// <summary>End of the match that starts at <paramref name="i"/>.</summary>
    public abstract int MatchEnd(ReadOnlySpan<char> s, int i);

    public override void FindMatches(ReadOnlySpan<char> s, List<(int Start, int End)> matches)
    {
        for (int i = 0; i < s.Length;)
        {
            int end = MatchEnd(s, i);
            matches.Add((i, end));
            i = end;
        }
    }

    /// <summary>Length of an English contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none; ASCII case folding when asked (Oniguruma's (?i:) here).</summary>
    protected static int Contraction(ReadOnlySpan<char> s, int i, bool ignoreCase)
    {
        if (i + 1 >= s.Length) return 0;
        char a = s[i + 1];
        if (ignoreCase) a = (char)(a | 0x20);
        if (a is 's' or 't' or 'm' or 'd') return ignoreCase || s[i + 1] == a ? 2 : 0;
        if (i + 2 >= s.Length) return 0;
        char b = s[i + 2];
        if (ignoreCase)
        {
            if (!char.IsAsciiLetter(s[i + 1]) || !char.IsAsciiLetter(b)) return 0;
            b = (char)(b | 0x20);
        }
        return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
    }

    /// <summary>End of the run of code points of class <paramref name="cls"/> starting at i.</summary>
    protected static int Run(ReadOnlySpan<char> s, int i, byte cls)
    {
        while (i < s.Length)
        {
            // ASCII fast path
            char c = s[i];
            if (c < 0x80)
            {
                if (CharClass.Of(c) != cls) break;
                i++;
                continue;
            }
            if (CharClass.At(s, i, out int w) != cls) break;
            i += w;
        }
        return i;
    }

    /// <summary>End of the whitespace run at i (White_Space code points are all in the BMP).</summary>
    protected static int SpaceRun(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length && CharClass.IsWhiteSpace(s[i])) i++;
        return i;
    }
}

/// <summary>GPT-2's <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.</summary>
internal sealed class Gpt2Scanner : TilingScanner
{
    public override int MatchEnd(ReadOnlySpan<char> s, int i)
    {
        char c = s[i];
        if (c == '\'')
        {
            int k = Contraction(s, i, ignoreCase: false);
            if (k > 0) return i + k;
        }
        if (c == ' ' && i + 1 < s.Length)
        {
            byte next = CharClass.At(s, i + 1, out _);
            if (next != CharClass.Space) return Run(s, i + 1, next);
        }
        byte cls = CharClass.At(s, i, out _);
        if (cls != CharClass.Space) return Run(s, i, cls);
        int end = SpaceRun(s, i);
        if (end == s.Length || end - i == 1) return end;   // \s+(?!\S) at the end, else \s+ for a single space
        return end - 1;                                      // \s+(?!\S): leave the last space to the next word
    }
}

/// <summary>
/// Llama-3's <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>,
/// and Qwen2's, which is the same with <c>\p{N}</c> (one digit at a time).
/// </summary>
internal sealed class Llama3Scanner(int maxDigits) : TilingScanner
{
    public override int MatchEnd(ReadOnlySpan<char> s, int i)
    {
        char c = s[i];
        if (c == '\'')
        {
            int k = Contraction(s, i, ignoreCase: true);
            if (k > 0) return i + k;
        }
        byte cls = CharClass.At(s, i, out int w);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == CharClass.Letter) return Run(s, i + w, CharClass.Letter);
        if (cls != CharClass.Number && c != '\r' && c != '\n' && i + w < s.Length && CharClass.At(s, i + w, out _) == CharClass.Letter)
            return Run(s, i + w, CharClass.Letter);
        // \p{N}{1,3}
        if (cls == CharClass.Number)
        {
            int j = i + w;
            for (int count = 1; count < maxDigits && j < s.Length; count++)
            {
                if (CharClass.At(s, j, out int w2) != CharClass.Number) break;
                j += w2;
            }
            return j;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        int other = -1;
        if (cls == CharClass.Other) other = i;
        else if (c == ' ' && i + 1 < s.Length && CharClass.At(s, i + 1, out _) == CharClass.Other) other = i + 1;
        if (other >= 0)
        {
            int j = Run(s, other, CharClass.Other);
            while (j < s.Length && s[j] is '\r' or '\n') j++;
            return j;
        }
        // c is white space from here on.
        int end = SpaceRun(s, i);
        // \s*[\r\n]+ : up to and including the last line break of the run
        for (int k = end - 1; k >= i; k--)
            if (s[k] is '\r' or '\n') return k + 1;
        // \s+(?!\S) then \s+
        if (end == s.Length || end - i == 1) return end;
        return end - 1;
    }
}

/// <summary>Every occurrence of a literal string (Hugging Face's <c>{"String": ...}</c> pattern).</summary>
internal sealed class LiteralPattern(string literal) : SplitPattern
{
    public override void FindMatches(ReadOnlySpan<char> s, List<(int Start, int End)> matches)
    {
        if (literal.Length == 0) return;
        int i = 0;
        while (i <= s.Length - literal.Length)
        {
            int k = s[i..].IndexOf(literal, StringComparison.Ordinal);
            if (k < 0) break;
            matches.Add((i + k, i + k + literal.Length));
            i += k + literal.Length;
        }
    }
}

/// <summary>Any other regex, on .NET's engine with supplementary code points mapped to BMP stand-ins of the same category.</summary>
internal sealed class DotNetRegexPattern : SplitPattern
{
    private readonly Regex _regex;

    public DotNetRegexPattern(string pattern)
    {
        _regex = new Regex(pattern, RegexOptions.CultureInvariant);
    }

    public override void FindMatches(ReadOnlySpan<char> s, List<(int Start, int End)> matches)
    {
        int firstSurrogate = s.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (firstSurrogate < 0)
        {
            foreach (var m in _regex.EnumerateMatches(s)) matches.Add((m.Index, m.Index + m.Length));
            return;
        }
        // Map each code point to one unit; map[j] = original index of unit j (map[len] = s.Length).
        var mapped = new char[s.Length];
        var map = new int[s.Length + 1];
        int n = 0;
        for (int i = 0; i < s.Length;)
        {
            int cp = CharClass.CodePointAt(s, i, out int w);
            mapped[n] = cp < 0x10000 ? (char)cp : StandIn(cp);
            map[n++] = i;
            i += w;
        }
        map[n] = s.Length;
        foreach (var m in _regex.EnumerateMatches(mapped.AsSpan(0, n))) matches.Add((map[m.Index], map[m.Index + m.Length]));
    }

    /// <summary>A BMP code point with the same general category as <paramref name="cp"/>.</summary>
    private static char StandIn(int cp) => CharUnicodeInfo.GetUnicodeCategory(cp) switch
    {
        UnicodeCategory.UppercaseLetter => '\uA74A',
        UnicodeCategory.LowercaseLetter => '\uA74B',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\uA7F9',
        UnicodeCategory.OtherLetter => '\uA000',
        UnicodeCategory.NonSpacingMark => '\u1DC0',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\uA620',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u2474',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u2039',
        UnicodeCategory.FinalQuotePunctuation => '\u203A',
        UnicodeCategory.OtherPunctuation => '\u203D',
        UnicodeCategory.MathSymbol => '\u2295',
        UnicodeCategory.CurrencySymbol => '\u20AA',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.OtherSymbol => '\u2318',
        UnicodeCategory.Format => '\u2060',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\uFFFF',
    };
}
