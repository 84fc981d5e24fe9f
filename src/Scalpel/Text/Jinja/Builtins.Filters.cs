using System.Globalization;
using System.Text;

namespace Scalpel.Text.Jinja;

internal static partial class Builtins
{
    private static void RegisterFilters()
    {
        var f = Filters;
        f["abs"] = (_, v, a) =>
        {
            a.Bind("abs");
            return v switch
            {
                long l => l == long.MinValue ? PyOps.Normalize(System.Numerics.BigInteger.Abs(l)) : (object)Math.Abs(l),
                System.Numerics.BigInteger big => System.Numerics.BigInteger.Abs(big),
                bool b => b ? 1L : 0L,
                double d => Math.Abs(d),
                Undefined u => throw u.Error(),
                _ => throw new JinjaRuntimeException($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
            };
        };
        f["attr"] = (_, v, a) =>
        {
            var s = a.Bind("attr", "name");
            string name = PyOps.Str(s[0] is MissingArg ? throw new JinjaRuntimeException("attr() missing 1 required positional argument: 'name'") : s[0]);
            if (v is Undefined u) throw u.Error();
            var attr = PythonAttribute(v, name);
            return attr is MissingArg ? Undefined.Missing(v, name) : attr;
        };
        f["batch"] = (_, v, a) =>
        {
            var s = a.Bind("batch", "linecount", "fill_with");
            long count = PyOps.AsLong(s[0] is MissingArg ? throw new JinjaRuntimeException("batch() missing 1 required positional argument: 'linecount'") : s[0]);
            var fill = s[1];
            return new PyIterator(Batch(PyOps.Iterate(v), count, fill));
        };
        f["capitalize"] = (_, v, a) => { a.Bind("capitalize"); return PyString.Capitalize(SoftStr(v)); };
        f["center"] = (_, v, a) =>
        {
            var s = a.Bind("center", "width");
            return Center(SoftStr(v), PyOps.AsLong(Arg(s, 0, 80L)), " ");
        };
        f["count"] = f["length"] = (_, v, a) => { a.Bind("length"); return PyOps.Len(v); };
        f["d"] = f["default"] = (_, v, a) =>
        {
            var s = a.Bind("default", "default_value", "boolean");
            var dflt = Arg(s, 0, "");
            bool boolean = PyOps.Truthy(Arg(s, 1, false));
            return v is Undefined || (boolean && !PyOps.Truthy(v)) ? dflt : v;
        };
        f["dictsort"] = (it, v, a) =>
        {
            var s = a.Bind("dictsort", "case_sensitive", "by", "reverse");
            bool caseSensitive = PyOps.Truthy(Arg(s, 0, false));
            string by = PyOps.Str(Arg(s, 1, "key"));
            bool reverse = PyOps.Truthy(Arg(s, 2, false));
            int pos = by switch { "key" => 0, "value" => 1, _ => throw new JinjaRuntimeException("You can only sort by either \"key\" or \"value\"") };
            var items = DictItems(it, v);
            return Sorted(items, item => { var x = ((PyTuple)item!)[pos]; return caseSensitive ? x : IgnoreCase(x); }, reverse);
        };
        f["e"] = f["escape"] = (_, v, a) => { a.Bind("escape"); return Markup.EscapeValue(v); };
        f["forceescape"] = (_, v, a) => { a.Bind("forceescape"); return new Markup(Markup.Escape(PyOps.Str(v))); };
        f["first"] = (_, v, a) =>
        {
            a.Bind("first");
            foreach (var x in PyOps.Iterate(v)) return x;
            return Undefined.WithHint("No first item, sequence was empty.");
        };
        f["last"] = (_, v, a) =>
        {
            a.Bind("last");
            if (v is PyIterator) throw new JinjaRuntimeException("'generator' object is not reversible");
            object? last = MissingArg.Value;
            foreach (var x in PyOps.Iterate(v)) last = x;
            return last is MissingArg ? Undefined.WithHint("No last item, sequence was empty.") : last;
        };
        f["float"] = (_, v, a) =>
        {
            var s = a.Bind("float", "default");
            return ToFloat(v) ?? Arg(s, 0, 0.0);
        };
        f["format"] = (_, v, a) =>
        {
            if (a.Positional.Count > 0 && a.Named.Count > 0) throw new JinjaRuntimeException("can't handle positional and keyword arguments at the same time");
            object? args;
            if (a.Named.Count > 0)
            {
                var d = new PyDict();
                foreach (var (k, x) in a.Named) d.Set(k, x);
                args = d;
            }
            else args = new PyTuple([.. a.Positional]);
            return PyFormat.Printf(SoftStr(v), args);
        };
        f["groupby"] = (it, v, a) =>
        {
            var s = a.Bind("groupby", "attribute", "default", "case_sensitive");
            bool caseSensitive = PyOps.Truthy(Arg(s, 2, false));
            var key = AttrGetter(it, s[0], Arg(s, 1, null), s[1] is not MissingArg, caseSensitive ? null : IgnoreCase);
            var sorted = Sorted(PyOps.Iterate(v), key, false);
            var groups = new List<object?>();
            var keyOnly = AttrGetter(it, s[0], Arg(s, 1, null), s[1] is not MissingArg);
            foreach (var item in sorted)
            {
                var k = key(item);
                if (groups.Count > 0 && PyOps.Equal(key(((List<object?>)((PyTuple)groups[^1]!)[1]!)[0]), k))
                    ((List<object?>)((PyTuple)groups[^1]!)[1]!).Add(item);
                else groups.Add(new PyTuple([caseSensitive ? k : keyOnly(item), new List<object?> { item }], ["grouper", "list"]));
            }
            return groups;
        };
        f["indent"] = (_, v, a) =>
        {
            var s = a.Bind("indent", "width", "first", "blank");
            var width = Arg(s, 0, 4L);
            string indention = width is string ws ? ws : new string(' ', (int)Math.Max(0, PyOps.AsLong(width)));
            bool first = PyOps.Truthy(Arg(s, 1, false)), blank = PyOps.Truthy(Arg(s, 2, false));
            string text = SoftStr(v) + "\n";
            var lines = PyString.SplitLines(text, keepEnds: false);
            string rv;
            if (blank) rv = string.Join("\n" + indention, lines);
            else
            {
                rv = lines[0];
                if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indention + l : l));
            }
            return first ? indention + rv : rv;
        };
        f["int"] = (_, v, a) =>
        {
            var s = a.Bind("int", "default", "base");
            long numberBase = PyOps.AsLong(Arg(s, 1, 10L));
            return ToInt(v, (int)numberBase) ?? Arg(s, 0, 0L);
        };
        f["items"] = (it, v, a) =>
        {
            a.Bind("items");
            if (v is Undefined) return new PyIterator([]);
            if (v is not PyDict d) throw new JinjaRuntimeException("Can only get item pairs from a mapping.");
            return new PyIterator(d.Items.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList());
        };
        f["join"] = (it, v, a) =>
        {
            var s = a.Bind("join", "d", "attribute");
            string sep = SoftStr(Arg(s, 0, ""));
            IEnumerable<object?> items = PyOps.Iterate(v);
            if (Arg(s, 1, null) is { } attribute) items = items.Select(AttrGetter(it, attribute));
            return string.Join(sep, items.Select(SoftStr));
        };
        f["list"] = (_, v, a) => { a.Bind("list"); return PyOps.Iterate(v).ToList(); };
        f["lower"] = (_, v, a) => { a.Bind("lower"); return PyString.Lower(SoftStr(v)); };
        f["upper"] = (_, v, a) => { a.Bind("upper"); return PyString.Upper(SoftStr(v)); };
        f["map"] = (it, v, a) =>
        {
            Func<object?, object?> func;
            if (a.Positional.Count == 0 && a.Named.Exists(kv => kv.Key == "attribute"))
            {
                var attribute = a.Named.First(kv => kv.Key == "attribute").Value;
                int d = a.Named.FindIndex(kv => kv.Key == "default");
                foreach (var (k, _) in a.Named)
                    if (k is not ("attribute" or "default")) throw new JinjaRuntimeException($"Unexpected keyword argument '{k}'");
                func = AttrGetter(it, attribute, d >= 0 ? a.Named[d].Value : null, d >= 0);
            }
            else
            {
                if (a.Positional.Count == 0) throw new JinjaRuntimeException("map requires a filter argument");
                string name = PyOps.Str(a.Positional[0]);
                var filter = GetFilter(name) ?? throw new JinjaRuntimeException($"No filter named '{name}'.");
                var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Named);
                func = x => filter(it, x, rest);
            }
            return new PyIterator(PyOps.Iterate(v).Select(func));
        };
        f["max"] = (it, v, a) => MinMax(it, v, a, "max", 1);
        f["min"] = (it, v, a) => MinMax(it, v, a, "min", -1);
        f["pprint"] = (_, v, a) => { a.Bind("pprint"); return PyOps.Repr(v); };
        f["reject"] = (it, v, a) => Select(it, v, a, attr: false, want: false);
        f["rejectattr"] = (it, v, a) => Select(it, v, a, attr: true, want: false);
        f["select"] = (it, v, a) => Select(it, v, a, attr: false, want: true);
        f["selectattr"] = (it, v, a) => Select(it, v, a, attr: true, want: true);
        f["replace"] = (_, v, a) =>
        {
            var s = a.Bind("replace", "old", "new", "count");
            if (s[0] is MissingArg || s[1] is MissingArg) throw new JinjaRuntimeException("replace() missing required arguments 'old' and 'new'");
            long count = Arg(s, 2, null) is { } c ? PyOps.AsLong(c) : -1;
            return PyString.Replace(SoftStr(v), PyOps.Str(s[0]), PyOps.Str(s[1]), count);
        };
        f["reverse"] = (_, v, a) =>
        {
            a.Bind("reverse");
            if (PyOps.Text(v) is string str) return PyString.Slice(str, null, null, -1L);
            var items = PyOps.Iterate(v).ToList();
            items.Reverse();
            return v is List<object?> or PyTuple or PyRange ? new PyIterator(items, "list_reverseiterator") : items;
        };
        f["round"] = (_, v, a) =>
        {
            var s = a.Bind("round", "precision", "method");
            long precision = PyOps.AsLong(Arg(s, 0, 0L));
            string method = PyOps.Str(Arg(s, 1, "common"));
            if (method is not ("common" or "ceil" or "floor")) throw new JinjaRuntimeException("method must be common, ceil or floor");
            if (v is Undefined u) throw u.Error();
            if (!PyOps.IsNumber(v)) throw new JinjaRuntimeException($"type {PyOps.TypeName(v)} doesn't define __round__ method");
            if (method == "common")
            {
                // Python's round(): ints stay ints, floats are rounded half-even on their exact binary value.
                if (PyOps.IsInt(v)) return PyOps.Normalize(PyFormat.RoundInt(PyOps.AsBig(v), precision));
                return PyFormat.Round(PyOps.AsDouble(v), precision);
            }
            double scale = Math.Pow(10, precision);
            double x = PyOps.AsDouble(v) * scale;
            return (method == "ceil" ? Math.Ceiling(x) : Math.Floor(x)) / scale;
        };
        f["safe"] = (_, v, a) => { a.Bind("safe"); return v as Markup ?? new Markup(PyOps.Str(v)); };
        f["slice"] = (_, v, a) =>
        {
            var s = a.Bind("slice", "slices", "fill_with");
            long slices = PyOps.AsLong(s[0] is MissingArg ? throw new JinjaRuntimeException("slice() missing 1 required positional argument: 'slices'") : s[0]);
            return new PyIterator(SliceFilter(PyOps.Iterate(v).ToList(), slices, s[1]));
        };
        f["sort"] = (it, v, a) =>
        {
            var s = a.Bind("sort", "reverse", "case_sensitive", "attribute");
            bool reverse = PyOps.Truthy(Arg(s, 0, false)), caseSensitive = PyOps.Truthy(Arg(s, 1, false));
            var key = AttrGetter(it, Arg(s, 2, null), post: caseSensitive ? null : IgnoreCase);
            return Sorted(PyOps.Iterate(v), key, reverse);
        };
        f["string"] = (_, v, a) => { a.Bind("string"); return SoftStr(v); };
        f["striptags"] = (_, v, a) =>
        {
            a.Bind("striptags");
            string text = System.Text.RegularExpressions.Regex.Replace(SoftStr(v), @"<!--.*?-->|<[^>]*>", "", System.Text.RegularExpressions.RegexOptions.Singleline);
            text = string.Join(' ', PyString.Split(text, null, -1).Select(x => (string)x!));
            return System.Net.WebUtility.HtmlDecode(text);
        };
        f["sum"] = (it, v, a) =>
        {
            var s = a.Bind("sum", "attribute", "start");
            IEnumerable<object?> items = PyOps.Iterate(v);
            if (Arg(s, 0, null) is { } attribute) items = items.Select(AttrGetter(it, attribute));
            object? total = Arg(s, 1, 0L);
            foreach (var x in items) total = PyOps.Add(total, x);
            return total;
        };
        f["title"] = (_, v, a) =>
        {
            a.Bind("title");
            // jinja2's do_title: split before runs of [-\s({[<] and upper-case the first letter of every piece.
            string text = SoftStr(v);
            var sb = new StringBuilder(text.Length);
            int i = 0;
            while (i < text.Length)
            {
                int start = i;
                bool sep = IsTitleSeparator(text[i]);
                while (i < text.Length && IsTitleSeparator(text[i]) == sep) i++;
                string piece = text[start..i];
                if (sep) sb.Append(piece);
                else
                {
                    int n = char.IsHighSurrogate(piece[0]) && piece.Length > 1 ? 2 : 1;
                    sb.Append(PyString.Upper(piece[..n])).Append(PyString.Lower(piece[n..]));
                }
            }
            return sb.ToString();
        };
        f["tojson"] = (_, v, a) =>
        {
            // transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
            var s = a.Bind("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
            bool ascii = PyOps.Truthy(Arg(s, 0, false));
            var indentArg = Arg(s, 1, null);
            string? indent = indentArg switch
            {
                null => null,
                string str => str,
                long or bool => new string(' ', (int)Math.Max(0, PyOps.AsLong(indentArg))),
                _ => throw new JinjaRuntimeException($"can't multiply sequence by non-int of type '{PyOps.TypeName(indentArg)}'"),
            };
            string itemSep = indent is null ? ", " : ",", keySep = ": ";
            if (Arg(s, 2, null) is { } separators)
            {
                var parts = PyOps.Iterate(separators).ToList();
                if (parts.Count != 2 || parts[0] is not string i0 || parts[1] is not string k0) throw new JinjaRuntimeException("separators must be a pair of strings");
                (itemSep, keySep) = (i0, k0);
            }
            return PyFormat.JsonDumps(v, ascii, indent, itemSep, keySep, PyOps.Truthy(Arg(s, 3, false)));
        };
        f["trim"] = (_, v, a) =>
        {
            var s = a.Bind("trim", "chars");
            return PyString.Strip(SoftStr(v), Arg(s, 0, null));
        };
        f["truncate"] = (_, v, a) =>
        {
            var s = a.Bind("truncate", "length", "killwords", "end", "leeway");
            string text = SoftStr(v);
            long length = PyOps.AsLong(Arg(s, 0, 255L));
            bool killwords = PyOps.Truthy(Arg(s, 1, false));
            string end = PyOps.Str(Arg(s, 2, "..."));
            long leeway = Arg(s, 3, null) is { } lw ? PyOps.AsLong(lw) : 5;
            long endLen = PyString.Length(end);
            if (length < endLen) throw new JinjaRuntimeException($"expected length >= {endLen}, got {length}");
            if (leeway < 0) throw new JinjaRuntimeException($"expected leeway >= 0, got {leeway}");
            if (PyString.Length(text) <= length + leeway) return text;
            string head = PyString.Slice(text, null, length - endLen, null);
            if (killwords) return head + end;
            return (string)PyString.RSplit(head, " ", 1)[0]! + end;
        };
        f["unique"] = (it, v, a) =>
        {
            var s = a.Bind("unique", "case_sensitive", "attribute");
            bool caseSensitive = PyOps.Truthy(Arg(s, 0, false));
            var key = AttrGetter(it, Arg(s, 1, null), post: caseSensitive ? null : IgnoreCase);
            return new PyIterator(Unique(PyOps.Iterate(v), key));
        };
        f["wordcount"] = (_, v, a) =>
        {
            a.Bind("wordcount");
            string text = SoftStr(v);
            long n = 0;
            bool inWord = false;
            for (int i = 0; i < text.Length; i++)
            {
                bool w = IsWordChar(text, i);
                if (w && !inWord) n++;
                inWord = w;
                if (char.IsHighSurrogate(text[i])) i++;
            }
            return n;
        };
    }

    private static bool IsTitleSeparator(char c) => c is '-' or '(' or '{' or '[' or '<' || PyString.IsSpace(c);

    private static IEnumerable<object?> Batch(IEnumerable<object?> items, long count, object? fill)
    {
        var tmp = new List<object?>();
        foreach (var x in items)
        {
            if (tmp.Count == count) { yield return tmp; tmp = []; }
            tmp.Add(x);
        }
        if (tmp.Count > 0)
        {
            if (fill is not (null or MissingArg)) while (tmp.Count < count) tmp.Add(fill);
            yield return tmp;
        }
    }

    private static IEnumerable<object?> SliceFilter(List<object?> seq, long slices, object? fill)
    {
        long length = seq.Count;
        long perSlice = length / slices, withExtra = length % slices;
        long offset = 0;
        for (long i = 0; i < slices; i++)
        {
            long start = offset + i * perSlice;
            if (i < withExtra) offset++;
            long end = offset + (i + 1) * perSlice;
            var tmp = seq.Skip((int)start).Take((int)(end - start)).ToList();
            if (fill is not (null or MissingArg) && i >= withExtra) tmp.Add(fill);
            yield return tmp;
        }
    }

    private static IEnumerable<object?> Unique(IEnumerable<object?> items, Func<object?, object?> key)
    {
        var seen = new List<object?>();
        var hashed = new HashSet<object>(new KeyComparer());
        foreach (var x in items)
        {
            var k = key(x);
            if (k is List<object?> or PyDict) throw new JinjaRuntimeException($"unhashable type: '{PyOps.TypeName(k)}'");
            if (!hashed.Add(k ?? NoneKey)) continue;
            seen.Add(x);
            yield return x;
        }
    }

    private static readonly object NoneKey = new();

    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public new bool Equals(object? x, object? y) => PyOps.Equal(ReferenceEquals(x, NoneKey) ? null : x, ReferenceEquals(y, NoneKey) ? null : y);
        public int GetHashCode(object obj) => PyOps.Hash(ReferenceEquals(obj, NoneKey) ? null : obj);
    }

    private static List<object?> DictItems(Interpreter it, object? v)
    {
        if (v is PyDict d) return d.Items.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList();
        var items = it.GetAttr(v, "items");
        return PyOps.Iterate(it.Invoke(items, CallArgs.None)).ToList();
    }

    private static object? MinMax(Interpreter it, object? v, CallArgs a, string name, int sign)
    {
        var s = a.Bind(name, "case_sensitive", "attribute");
        bool caseSensitive = PyOps.Truthy(Arg(s, 0, false));
        var key = AttrGetter(it, Arg(s, 1, null), post: caseSensitive ? null : IgnoreCase);
        object? best = MissingArg.Value, bestKey = null;
        foreach (var x in PyOps.Iterate(v))
        {
            var k = key(x);
            if (best is MissingArg || (sign > 0 ? PyOps.CompareOp(k, bestKey, ">") : PyOps.CompareOp(k, bestKey, "<"))) { best = x; bestKey = k; }
        }
        return best is MissingArg ? Undefined.WithHint("No aggregated item, sequence was empty.") : best;
    }

    private static PyIterator Select(Interpreter it, object? v, CallArgs a, bool attr, bool want)
    {
        var args = a.Positional;
        int offset = 0;
        Func<object?, object?> transform = x => x;
        if (attr)
        {
            if (args.Count == 0) throw new JinjaRuntimeException("Missing parameter for attribute name");
            transform = AttrGetter(it, args[0]);
            offset = 1;
        }
        Func<object?, bool> predicate;
        if (args.Count > offset)
        {
            string name = PyOps.Str(args[offset]);
            var test = GetTest(name) ?? throw new JinjaRuntimeException($"No test named '{name}'.");
            var rest = new CallArgs(args.Skip(offset + 1).ToList(), a.Named);
            predicate = x => test(it, x, rest);
        }
        else predicate = PyOps.Truthy;
        return new PyIterator(PyOps.Iterate(v).Where(x => predicate(transform(x)) == want));
    }

    private static string Center(string s, long width, string fill)
    {
        long len = PyString.Length(s);
        if (width <= len) return s;
        long marg = width - len;
        long left = marg / 2 + (marg & width & 1);
        return string.Concat(Enumerable.Repeat(fill, (int)left)) + s + string.Concat(Enumerable.Repeat(fill, (int)(marg - left)));
    }

    /// <summary>Python float(x) for the float filter: null when Python raises TypeError/ValueError.</summary>
    private static object? ToFloat(object? v)
    {
        switch (v)
        {
            case Undefined u: throw u.Error();
            case double d: return d;
            case long or bool or System.Numerics.BigInteger: return PyOps.AsDouble(v);
            case string or Markup: return ParsePythonFloat(PyOps.Str(v));
            default: return null;
        }
    }

    private static double? ParsePythonFloat(string s)
    {
        string t = PyString.Strip(s, null).Replace("_", "");
        if (t.Length == 0 || s.Contains("__") || t.StartsWith('_') || t.EndsWith('_')) return null;
        string lower = t.ToLowerInvariant().TrimStart('+', '-');
        bool neg = t.StartsWith('-');
        if (lower is "inf" or "infinity") return neg ? double.NegativeInfinity : double.PositiveInfinity;
        if (lower == "nan") return double.NaN;
        foreach (char c in t) if (!(char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '+' or '-')) return null;
        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;
    }

    /// <summary>The int filter: int(value, base) for strings, int(value) otherwise, then int(float(value)); null → default.</summary>
    private static object? ToInt(object? v, int numberBase)
    {
        switch (v)
        {
            case Undefined u: throw u.Error();
            case long or bool or System.Numerics.BigInteger: return v is bool ? PyOps.AsLong(v) : v;
            case double d:
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new JinjaRuntimeException("cannot convert float NaN or infinity to integer");
                return PyOps.Normalize(new System.Numerics.BigInteger(Math.Truncate(d)));
            case string or Markup:
            {
                string s = PyOps.Str(v);
                string t = PyString.Strip(s, null).Replace("_", "");
                bool neg = t.StartsWith('-');
                string body = t.TrimStart('+', '-');
                if (numberBase == 10 && body.Length > 0 && body.All(char.IsAsciiDigit))
                {
                    var n = System.Numerics.BigInteger.Parse(body, NumberStyles.None, CultureInfo.InvariantCulture);
                    return PyOps.Normalize(neg ? -n : n);
                }
                if (numberBase != 10 && body.Length > 0)
                {
                    string digits = body;
                    if (numberBase == 16 && digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
                    else if (numberBase == 8 && digits.StartsWith("0o", StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
                    else if (numberBase == 2 && digits.StartsWith("0b", StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
                    try { long x = Convert.ToInt64(digits, numberBase); return neg ? -x : x; }
                    catch (Exception e) when (e is FormatException or ArgumentException or OverflowException) { }
                }
                if (ParsePythonFloat(s) is { } f && !double.IsNaN(f) && !double.IsInfinity(f)) return PyOps.Normalize(new System.Numerics.BigInteger(Math.Truncate(f)));
                return null;
            }
            default: return null;
        }
    }
}
