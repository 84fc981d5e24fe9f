using System.Globalization;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// The character classes the pre-tokenizer regexes use, by code point (Oniguruma, which Hugging Face's tokenizers
/// runs, matches on code points, not UTF-16 units): \p{L}, \p{N}, and \s = the Unicode White_Space property.
/// </summary>
internal static class CharClass
{
    public const byte Other = 0, Letter = 1, Number = 2, Space = 3;

    private static readonly byte[] Bmp = BuildBmp();

    private static byte[] BuildBmp()
    {
        var table = new byte[0x10000];
        for (int c = 0; c < 0x10000; c++) table[c] = Classify(c);
        return table;
    }

    private static byte Classify(int cp)
    {
        if (IsWhiteSpace(cp)) return Space;
        if (cp >= 0xD800 && cp <= 0xDFFF) return Other;
        return CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
            _ => Other,
        };
    }

    /// <summary>Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s test).</summary>
    public static bool IsWhiteSpace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    public static byte Of(int cp) => cp < 0x10000 ? Bmp[cp] : Classify(cp);

    /// <summary>Class of the code point at <paramref name="i"/> and its width in UTF-16 units (a lone surrogate is one Other unit).</summary>
    public static byte At(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return Classify(char.ConvertToUtf32(c, s[i + 1]));
        }
        width = 1;
        return Bmp[c];
    }

    /// <summary>Regex \w as Hugging Face's added-token single_word check uses it (alphanumeric, marks, connector punctuation, joiners).</summary>
    public static bool IsWordChar(int cp)
    {
        if (cp < 0x80) return cp is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_';
        if (cp is 0x200C or 0x200D) return true;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        return CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }

    /// <summary>Code point ending at (just before) index <paramref name="end"/>.</summary>
    public static int CodePointBefore(ReadOnlySpan<char> s, int end, out int width)
    {
        char c = s[end - 1];
        if (char.IsLowSurrogate(c) && end >= 2 && char.IsHighSurrogate(s[end - 2]))
        {
            width = 2;
            return char.ConvertToUtf32(s[end - 2], c);
        }
        width = 1;
        return c;
    }

    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int width)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        width = 1;
        return c;
    }
}
