using System.Globalization;
using System.Text;

namespace Scalpel.Evaluation.Metrics;

/// <summary>Text normalisations shared by the matching metrics, each matching a published reference implementation.</summary>
public static class TextNormalization
{
    /// <summary>
    /// SQuAD's <c>normalize_answer</c> (the official SQuAD v1.1 evaluation script, Rajpurkar et al. 2016), in its
    /// order: lower-case; delete ASCII punctuation (Python's <c>string.punctuation</c>); replace the whole words
    /// "a", "an" and "the" (<c>\b(a|an|the)\b</c>) with a space; collapse whitespace runs to one space and trim.
    /// Word characters are Python's <c>\w</c> (letters, numbers and '_'); whitespace is Python's <c>str.split()</c>.
    /// Lower-casing is .NET's invariant simple case mapping (Python's differs only for a final capital sigma and a few
    /// characters whose lower case is longer).
    /// </summary>
    public static string Squad(string text)
    {
        string lower = text.ToLowerInvariant();
        var noPunct = new StringBuilder(lower.Length);
        foreach (char c in lower)
            if (!IsAsciiPunctuation(c)) noPunct.Append(c);

        // Whole-word article removal, then whitespace collapsing, in one pass over words and non-word runs.
        string s = noPunct.ToString();
        var noArticles = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            if (IsPythonWordChar(s, i))
            {
                while (i < s.Length && IsPythonWordChar(s, i)) i += RuneLength(s, i);
                var word = s.AsSpan(start, i - start);
                if (word is "a" or "an" or "the") noArticles.Append(' ');
                else noArticles.Append(word);
            }
            else
            {
                i += RuneLength(s, i);
                noArticles.Append(s, start, i - start);
            }
        }
        return CollapseWhitespace(noArticles.ToString());
    }

    /// <summary>
    /// A class label or a prediction of one, for matching: lower-case, whitespace runs collapsed, and ASCII punctuation
    /// and whitespace trimmed from both ends, so "(A)", "**Positive**." and " not  sure" are "a", "positive" and
    /// "not sure". Unlike <see cref="Squad"/> it keeps articles (a multiple-choice label "A" stays "a") and inner
    /// punctuation ("non-toxic").
    /// </summary>
    public static string Label(string text)
    {
        string collapsed = CollapseWhitespace(text.ToLowerInvariant());
        int start = 0, end = collapsed.Length;
        while (start < end && (IsAsciiPunctuation(collapsed[start]) || collapsed[start] == ' ')) start++;
        while (end > start && (IsAsciiPunctuation(collapsed[end - 1]) || collapsed[end - 1] == ' ')) end--;
        return collapsed[start..end];
    }

    /// <summary>Python's <c>' '.join(text.split())</c>.</summary>
    public static string CollapseWhitespace(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool pendingSpace = false;
        foreach (char c in text)
        {
            if (IsPythonSpace(c)) { pendingSpace = sb.Length > 0; continue; }
            if (pendingSpace) { sb.Append(' '); pendingSpace = false; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit: .NET's whitespace plus the separators U+001C..U+001F.</summary>
    public static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    /// <summary><c>!"#$%&amp;'()*+,-./:;&lt;=&gt;?@[\]^_`{|}~</c></summary>
    public static bool IsAsciiPunctuation(char c) =>
        c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~';

    /// <summary>Python's regex <c>\w</c> for str patterns: <c>isalnum()</c> (letters and numbers) or '_'.</summary>
    private static bool IsPythonWordChar(string s, int i)
    {
        if (Rune.DecodeFromUtf16(s.AsSpan(i), out Rune rune, out _) != System.Buffers.OperationStatus.Done) return false;
        if (rune.Value == '_') return true;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => true,
            _ => false,
        };
    }

    private static int RuneLength(string s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
}
