using System.Globalization;
using System.Text;

namespace Scalpel.Text.Jinja;

/// <summary>
/// Python str operations on .NET strings. Python indexes strings by code point while .NET uses UTF-16 units, so
/// everything that counts or indexes (len, [i], slicing, find) converts when the text holds surrogate pairs.
/// </summary>
internal static class PyString
{
    public static bool HasSurrogates(string s)
    {
        foreach (char c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    public static long Length(string s)
    {
        if (!HasSurrogates(s)) return s.Length;
        long n = 0;
        for (int i = 0; i < s.Length; i++, n++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        return n;
    }

    /// <summary>The code points of a string, each as a string of one or two UTF-16 units.</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static IEnumerable<object?> Chars(string s)
    {
        foreach (var c in CodePoints(s)) yield return c;
    }

    public static int CodePointAt(string s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];

    /// <summary>Code point index of a UTF-16 index.</summary>
    public static long CodePointIndex(string s, int utf16Index)
    {
        if (utf16Index <= 0 || !HasSurrogates(s)) return utf16Index;
        long n = 0;
        for (int i = 0; i < utf16Index; i++, n++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        return n;
    }

    /// <summary>UTF-16 index of a code point index (clamped to the string).</summary>
    public static int Utf16Index(string s, long codePointIndex)
    {
        if (codePointIndex <= 0) return 0;
        if (!HasSurrogates(s)) return (int)Math.Min(codePointIndex, s.Length);
        int i = 0;
        for (long n = 0; n < codePointIndex && i < s.Length; n++)
            i += char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
        return i;
    }

    /// <summary>Python's str.isspace for one code point.</summary>
    public static bool IsSpace(int cp) => cp is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    public static bool IsSpace(char c) => IsSpace((int)c);

    // ---------------------------------------------------------------- slicing

    /// <summary>Python's slice.indices(n): normalised start, stop, step.</summary>
    public static (long Start, long Stop, long Step) SliceIndices(object? start, object? stop, object? step, long n)
    {
        long st = step is null ? 1 : ToIndex(step);
        if (st == 0) throw new JinjaRuntimeException("slice step cannot be zero");
        long lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
        long Clamp(object? v, long dflt)
        {
            if (v is null) return dflt;
            long x = ToIndex(v);
            if (x < 0) { x += n; if (x < lower) x = lower; }
            else if (x > upper) x = upper;
            return x;
        }
        return (Clamp(start, st < 0 ? upper : lower), Clamp(stop, st < 0 ? lower : upper), st);
    }

    private static long ToIndex(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaRuntimeException("slice indices must be integers or None or have an __index__ method"),
    };

    public static IEnumerable<long> SliceRange(object? start, object? stop, object? step, long n)
    {
        var (a, b, s) = SliceIndices(start, stop, step, n);
        if (s > 0) for (long i = a; i < b; i += s) yield return i;
        else for (long i = a; i > b; i += s) yield return i;
    }

    public static string Slice(string s, object? start, object? stop, object? step)
    {
        if (!HasSurrogates(s))
        {
            if (step is null or 1L)
            {
                var (a, b, _) = SliceIndices(start, stop, 1L, s.Length);
                return b > a ? s.Substring((int)a, (int)(b - a)) : "";
            }
            var sb = new StringBuilder();
            foreach (long i in SliceRange(start, stop, step, s.Length)) sb.Append(s[(int)i]);
            return sb.ToString();
        }
        var cps = CodePoints(s);
        var r = new StringBuilder();
        foreach (long i in SliceRange(start, stop, step, cps.Count)) r.Append(cps[(int)i]);
        return r.ToString();
    }

    // ---------------------------------------------------------------- strip / split

    private static Func<int, bool> StripSet(object? chars)
    {
        if (chars is null or MissingArg) return IsSpace;
        if (chars is not string cs) throw new JinjaRuntimeException($"strip arg must be None or str");
        var set = new HashSet<int>();
        for (int i = 0; i < cs.Length; i++)
        {
            int cp = CodePointAt(cs, i);
            if (cp > 0xFFFF) i++;
            set.Add(cp);
        }
        return set.Contains;
    }

    public static string Strip(string s, object? chars, bool left = true, bool right = true)
    {
        var strip = StripSet(chars);
        int start = 0, end = s.Length;
        if (left)
            while (start < end)
            {
                int cp = CodePointAt(s, start);
                if (!strip(cp)) break;
                start += cp > 0xFFFF ? 2 : 1;
            }
        if (right)
            while (end > start)
            {
                int cp = end >= 2 && char.IsLowSurrogate(s[end - 1]) && char.IsHighSurrogate(s[end - 2]) ? char.ConvertToUtf32(s[end - 2], s[end - 1]) : s[end - 1];
                if (!strip(cp)) break;
                end -= cp > 0xFFFF ? 2 : 1;
            }
        return s.Substring(start, end - start);
    }

    public static List<object?> Split(string s, object? sep, long maxsplit)
    {
        var result = new List<object?>();
        if (sep is null or MissingArg)
        {
            // Runs of whitespace separate; leading/trailing whitespace gives no empty strings.
            int i = 0, n = s.Length;
            while (true)
            {
                while (i < n && IsSpace(s[i])) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && result.Count >= maxsplit)
                {
                    int end = n;
                    while (end > i && IsSpace(s[end - 1])) end--;
                    result.Add(s[i..end]);
                    break;
                }
                int j = i;
                while (j < n && !IsSpace(s[j])) j++;
                result.Add(s[i..j]);
                i = j;
            }
            return result;
        }
        if (sep is not string sp) throw new JinjaRuntimeException($"must be str or None, not {PyOps.TypeName(sep)}");
        if (sp.Length == 0) throw new JinjaRuntimeException("empty separator");
        int pos = 0;
        while (maxsplit < 0 || result.Count < maxsplit)
        {
            int k = s.IndexOf(sp, pos, StringComparison.Ordinal);
            if (k < 0) break;
            result.Add(s[pos..k]);
            pos = k + sp.Length;
        }
        result.Add(s[pos..]);
        return result;
    }

    public static List<object?> RSplit(string s, object? sep, long maxsplit)
    {
        if (maxsplit < 0) return Split(s, sep, -1);
        var result = new List<object?>();
        if (sep is null or MissingArg)
        {
            int end = s.Length;
            while (true)
            {
                while (end > 0 && IsSpace(s[end - 1])) end--;
                if (end <= 0) break;
                if (result.Count >= maxsplit)
                {
                    int start = 0;
                    while (start < end && IsSpace(s[start])) start++;
                    result.Add(s[start..end]);
                    break;
                }
                int j = end;
                while (j > 0 && !IsSpace(s[j - 1])) j--;
                result.Add(s[j..end]);
                end = j;
            }
            result.Reverse();
            return result;
        }
        if (sep is not string sp) throw new JinjaRuntimeException($"must be str or None, not {PyOps.TypeName(sep)}");
        if (sp.Length == 0) throw new JinjaRuntimeException("empty separator");
        int pos = s.Length;
        while (result.Count < maxsplit)
        {
            if (pos - sp.Length < 0) break;
            int k = s.LastIndexOf(sp, pos - 1, pos, StringComparison.Ordinal);
            if (k < 0 || k + sp.Length > pos) break;
            result.Add(s[(k + sp.Length)..pos]);
            pos = k;
        }
        result.Add(s[..pos]);
        result.Reverse();
        return result;
    }

    private static bool IsLineBreak(char c) => c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';

    public static List<string> SplitLines(string s, bool keepEnds)
    {
        var lines = new List<string>();
        int start = 0, i = 0;
        while (i < s.Length)
        {
            if (!IsLineBreak(s[i])) { i++; continue; }
            int eol = i;
            i += s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n' ? 2 : 1;
            lines.Add(keepEnds ? s[start..i] : s[start..eol]);
            start = i;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    // ---------------------------------------------------------------- case

    public static string Upper(string s) => s.Contains('ß') ? s.ToUpperInvariant().Replace("ß", "SS") : s.ToUpperInvariant();
    public static string Lower(string s) => s.ToLowerInvariant();

    private static bool IsCased(int cp)
    {
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;
    }

    private static string MapCodePoint(int cp, bool upper)
    {
        string c = char.ConvertFromUtf32(cp);
        return upper ? Upper(c) : Lower(c);
    }

    /// <summary>Python's str.title(): a cased character after an uncased one is upper-cased, others lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        for (int i = 0; i < s.Length; i++)
        {
            int cp = CodePointAt(s, i);
            if (cp > 0xFFFF) i++;
            if (IsCased(cp))
            {
                sb.Append(MapCodePoint(cp, !previousCased));
                previousCased = true;
            }
            else
            {
                sb.Append(char.ConvertFromUtf32(cp));
                previousCased = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>Python's str.capitalize(): first character upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string s)
    {
        if (s.Length == 0) return s;
        int first = CodePointAt(s, 0);
        int n = first > 0xFFFF ? 2 : 1;
        return MapCodePoint(first, true) + Lower(s[n..]);
    }

    public static string SwapCase(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in CodePoints(s))
        {
            var cat = CharUnicodeInfo.GetUnicodeCategory(c, 0);
            sb.Append(cat == UnicodeCategory.UppercaseLetter ? Lower(c) : cat == UnicodeCategory.LowercaseLetter ? Upper(c) : c);
        }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- search / replace

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count == 0) return s;
        if (old.Length == 0)
        {
            // Python inserts the replacement between code points (and at both ends).
            var cps = CodePoints(s);
            var sb = new StringBuilder();
            long done = 0;
            for (int i = 0; i <= cps.Count; i++)
            {
                if (count < 0 || done < count) { sb.Append(replacement); done++; }
                if (i < cps.Count) sb.Append(cps[i]);
            }
            return sb.ToString();
        }
        if (count < 0) return s.Replace(old, replacement, StringComparison.Ordinal);
        var r = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int k = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (k < 0) break;
            r.Append(s, pos, k - pos).Append(replacement);
            pos = k + old.Length;
        }
        r.Append(s, pos, s.Length - pos);
        return r.ToString();
    }

    public static long Count(string s, string sub)
    {
        if (sub.Length == 0) return Length(s) + 1;
        long n = 0;
        int pos = 0;
        while ((pos = s.IndexOf(sub, pos, StringComparison.Ordinal)) >= 0) { n++; pos += sub.Length; }
        return n;
    }
}
