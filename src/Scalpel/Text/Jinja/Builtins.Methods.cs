using System.Globalization;
using System.Text;

namespace Scalpel.Text.Jinja;

internal delegate object? MethodBody(Interpreter interpreter, object self, CallArgs args);

internal static partial class Builtins
{
    private static readonly Dictionary<string, MethodBody> StrMethods = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, MethodBody> ListMethods = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, MethodBody> DictMethods = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, MethodBody> TupleMethods = new(StringComparer.Ordinal);

    /// <summary>Python str methods Scalpel does not implement: looking them up works, calling them fails clearly.</summary>
    private static readonly HashSet<string> UnsupportedStrMethods = ["encode", "expandtabs", "format_map", "isascii", "isprintable", "maketrans", "translate"];

    /// <summary>getattr(obj, name) for the Python attributes templates use; <see cref="MissingArg.Value"/> when there is none.
    /// Note: transformers renders in Jinja2's ImmutableSandboxedEnvironment, which refuses list.append/extend/pop/insert/
    /// remove/sort/reverse/clear and dict.update/pop/popitem/setdefault/clear (SecurityError). Scalpel allows them, as
    /// llama.cpp's minja does, so templates written for those engines render instead of failing.</summary>
    public static object? PythonAttribute(object? obj, string name)
    {
        EnsureMethods();
        switch (obj)
        {
            case Markup markup:
            {
                // markupsafe: string arguments are escaped, string results are Markup again.
                if (!StrMethods.TryGetValue(name, out var mm)) return MissingArg.Value;
                return new BoundMethod(markup, name, (it, self, a) =>
                {
                    object? Esc(object? x) => x is string or Markup ? Markup.EscapeValue(x).Value : x;
                    var args = new CallArgs(a.Positional.Select(Esc).ToList(), a.Named.Select(kv => new KeyValuePair<string, object?>(kv.Key, Esc(kv.Value))).ToList());
                    if (name == "join" && args.Positional.Count == 1)
                        args = new CallArgs([PyOps.Iterate(a.Positional[0]).Select(x => (object?)Markup.EscapeValue(x).Value).ToList()], []);
                    return WrapMarkup(mm(it, ((Markup)self).Value, args));
                });
            }
            case string s:
                if (StrMethods.TryGetValue(name, out var sm)) return new BoundMethod(s, name, (it, self, a) => sm(it, self, a));
                if (UnsupportedStrMethods.Contains(name)) return new BoundMethod(s, name, (_, _, _) => throw new JinjaRuntimeException($"str.{name}() is not supported by Scalpel"));
                return MissingArg.Value;
            case List<object?> l:
                return ListMethods.TryGetValue(name, out var lm) ? new BoundMethod(l, name, (it, self, a) => lm(it, self, a)) : MissingArg.Value;
            case PyDict d:
                return DictMethods.TryGetValue(name, out var dm) ? new BoundMethod(d, name, (it, self, a) => dm(it, self, a)) : MissingArg.Value;
            case PyTuple t:
                if (t.FieldNames is { } fields && Array.IndexOf(fields, name) is var fi && fi >= 0) return t[fi];
                return TupleMethods.TryGetValue(name, out var tm) ? new BoundMethod(t, name, (it, self, a) => tm(it, self, a)) : MissingArg.Value;
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var v) ? v : MissingArg.Value;
            case LoopContext loop:
                return loop.Attribute(name) is Undefined ? MissingArg.Value : loop.Attribute(name);
            default:
                return MissingArg.Value;
        }
    }

    private static object? WrapMarkup(object? result) => result switch
    {
        string s => new Markup(s),
        List<object?> l => l.Select(WrapMarkup).ToList(),
        PyTuple t => new PyTuple(t.Items.Select(WrapMarkup).ToArray()),
        _ => result,
    };

    private static int _methodsReady;

    private static void EnsureMethods()
    {
        if (Volatile.Read(ref _methodsReady) == 1) return;
        lock (StrMethods)
        {
            if (_methodsReady == 1) return;
            RegisterStrMethods();
            RegisterListMethods();
            RegisterDictMethods();
            Volatile.Write(ref _methodsReady, 1);
        }
    }

    private static string Str(object self) => (string)self;

    private static string ArgStr(object? v, string method)
    {
        if (v is Undefined u) throw u.Error();
        if (v is Markup markup) return markup.Value;
        return v as string ?? throw new JinjaRuntimeException($"{method}() argument must be str, not {PyOps.TypeName(v)}");
    }

    private static long ArgLong(object? v, long dflt) => v switch
    {
        MissingArg or null => dflt,
        long or bool => PyOps.AsLong(v),
        Undefined u => throw u.Error(),
        _ => throw new JinjaRuntimeException($"'{PyOps.TypeName(v)}' object cannot be interpreted as an integer"),
    };

    /// <summary>The [start:end] window of str.find/count/startswith as UTF-16 offsets.</summary>
    private static (int Start, int End) Window(string s, object? start, object? end)
    {
        long n = PyString.Length(s);
        var (a, b, _) = PyString.SliceIndices(start is MissingArg ? null : start, end is MissingArg ? null : end, null, n);
        return (PyString.Utf16Index(s, a), PyString.Utf16Index(s, Math.Max(a, b)));
    }

    private static void RegisterStrMethods()
    {
        var m = StrMethods;
        m["strip"] = (_, s, a) => PyString.Strip(Str(s), a.Bind("strip", "chars")[0] is var c && c is MissingArg ? null : c);
        m["lstrip"] = (_, s, a) => PyString.Strip(Str(s), a.Bind("lstrip", "chars")[0] is var c && c is MissingArg ? null : c, right: false);
        m["rstrip"] = (_, s, a) => PyString.Strip(Str(s), a.Bind("rstrip", "chars")[0] is var c && c is MissingArg ? null : c, left: false);
        m["split"] = (_, s, a) =>
        {
            var x = a.Bind("split", "sep", "maxsplit");
            return PyString.Split(Str(s), x[0] is MissingArg ? null : x[0], ArgLong(x[1], -1));
        };
        m["rsplit"] = (_, s, a) =>
        {
            var x = a.Bind("rsplit", "sep", "maxsplit");
            return PyString.RSplit(Str(s), x[0] is MissingArg ? null : x[0], ArgLong(x[1], -1));
        };
        m["splitlines"] = (_, s, a) =>
        {
            var x = a.Bind("splitlines", "keepends");
            return PyString.SplitLines(Str(s), PyOps.Truthy(x[0] is MissingArg ? false : x[0])).Cast<object?>().ToList();
        };
        MethodBody startsEnds(bool starts) => (_, s, a) =>
        {
            string name = starts ? "startswith" : "endswith";
            var x = a.Bind(name, "prefix", "start", "end");
            string str = Str(s);
            var (lo, hi) = Window(str, x[1], x[2]);
            string window = str[lo..hi];
            IEnumerable<object?> candidates = x[0] is PyTuple t ? t.Items : [x[0]];
            foreach (var c in candidates)
            {
                if (c is not string p) throw new JinjaRuntimeException($"{name} first arg must be str or a tuple of str, not {PyOps.TypeName(c)}");
                if (starts ? window.StartsWith(p, StringComparison.Ordinal) : window.EndsWith(p, StringComparison.Ordinal)) return true;
            }
            return false;
        };
        m["startswith"] = startsEnds(true);
        m["endswith"] = startsEnds(false);
        m["replace"] = (_, s, a) =>
        {
            var x = a.Bind("replace", "old", "new", "count");
            return PyString.Replace(Str(s), ArgStr(x[0], "replace"), ArgStr(x[1], "replace"), ArgLong(x[2], -1));
        };
        m["upper"] = (_, s, a) => { a.Bind("upper"); return PyString.Upper(Str(s)); };
        m["lower"] = (_, s, a) => { a.Bind("lower"); return PyString.Lower(Str(s)); };
        m["casefold"] = (_, s, a) => { a.Bind("casefold"); return PyString.Lower(Str(s)); };
        m["title"] = (_, s, a) => { a.Bind("title"); return PyString.Title(Str(s)); };
        m["capitalize"] = (_, s, a) => { a.Bind("capitalize"); return PyString.Capitalize(Str(s)); };
        m["swapcase"] = (_, s, a) => { a.Bind("swapcase"); return PyString.SwapCase(Str(s)); };
        MethodBody find(bool reverse, bool raise) => (_, s, a) =>
        {
            string name = (reverse ? "r" : "") + (raise ? "index" : "find");
            var x = a.Bind(name, "sub", "start", "end");
            string str = Str(s), sub = ArgStr(x[0], name);
            var (lo, hi) = Window(str, x[1], x[2]);
            int k = reverse
                ? (hi - lo < sub.Length ? -1 : str.LastIndexOf(sub, hi - 1 < 0 ? 0 : hi - 1, hi - lo, StringComparison.Ordinal))
                : str.IndexOf(sub, lo, hi - lo, StringComparison.Ordinal);
            if (reverse && sub.Length == 0) k = hi;
            if (k >= 0 && k + sub.Length > hi) k = -1;
            if (k < 0)
            {
                if (raise) throw new JinjaRuntimeException("substring not found");
                return -1L;
            }
            return PyString.CodePointIndex(str, k);
        };
        m["find"] = find(false, false);
        m["rfind"] = find(true, false);
        m["index"] = find(false, true);
        m["rindex"] = find(true, true);
        m["count"] = (_, s, a) =>
        {
            var x = a.Bind("count", "sub", "start", "end");
            string str = Str(s);
            var (lo, hi) = Window(str, x[1], x[2]);
            return PyString.Count(str[lo..hi], ArgStr(x[0], "count"));
        };
        m["join"] = (_, s, a) =>
        {
            var x = a.Bind("join", "iterable");
            var parts = new List<string>();
            int i = 0;
            foreach (var item in PyOps.Iterate(x[0]))
            {
                if (PyOps.Text(item) is not string p) throw new JinjaRuntimeException($"sequence item {i}: expected str instance, {PyOps.TypeName(item)} found");
                parts.Add(p);
                i++;
            }
            return string.Join(Str(s), parts);
        };
        m["format"] = (it, s, a) => PyFormat.Format(it, Str(s), a);
        m["center"] = (_, s, a) =>
        {
            var x = a.Bind("center", "width", "fillchar");
            return Center(Str(s), ArgLong(x[0], 0), x[1] is MissingArg ? " " : ArgStr(x[1], "center"));
        };
        m["ljust"] = (_, s, a) =>
        {
            var x = a.Bind("ljust", "width", "fillchar");
            string str = Str(s);
            long pad = ArgLong(x[0], 0) - PyString.Length(str);
            return pad > 0 ? str + string.Concat(Enumerable.Repeat(x[1] is MissingArg ? " " : ArgStr(x[1], "ljust"), (int)pad)) : str;
        };
        m["rjust"] = (_, s, a) =>
        {
            var x = a.Bind("rjust", "width", "fillchar");
            string str = Str(s);
            long pad = ArgLong(x[0], 0) - PyString.Length(str);
            return pad > 0 ? string.Concat(Enumerable.Repeat(x[1] is MissingArg ? " " : ArgStr(x[1], "rjust"), (int)pad)) + str : str;
        };
        m["zfill"] = (_, s, a) =>
        {
            var x = a.Bind("zfill", "width");
            string str = Str(s);
            long pad = ArgLong(x[0], 0) - PyString.Length(str);
            if (pad <= 0) return str;
            int sign = str.Length > 0 && str[0] is '+' or '-' ? 1 : 0;
            return str[..sign] + new string('0', (int)pad) + str[sign..];
        };
        MethodBody partition(bool reverse) => (_, s, a) =>
        {
            var x = a.Bind(reverse ? "rpartition" : "partition", "sep");
            string str = Str(s), sep = ArgStr(x[0], "partition");
            if (sep.Length == 0) throw new JinjaRuntimeException("empty separator");
            int k = reverse ? str.LastIndexOf(sep, StringComparison.Ordinal) : str.IndexOf(sep, StringComparison.Ordinal);
            if (k < 0) return reverse ? new PyTuple(["", "", str]) : new PyTuple([str, "", ""]);
            return new PyTuple([str[..k], sep, str[(k + sep.Length)..]]);
        };
        m["partition"] = partition(false);
        m["rpartition"] = partition(true);
        m["removeprefix"] = (_, s, a) =>
        {
            string p = ArgStr(a.Bind("removeprefix", "prefix")[0], "removeprefix");
            return Str(s).StartsWith(p, StringComparison.Ordinal) ? Str(s)[p.Length..] : Str(s);
        };
        m["removesuffix"] = (_, s, a) =>
        {
            string p = ArgStr(a.Bind("removesuffix", "suffix")[0], "removesuffix");
            return p.Length > 0 && Str(s).EndsWith(p, StringComparison.Ordinal) ? Str(s)[..^p.Length] : Str(s);
        };
        MethodBody predicate(string name, Func<string, bool> f) => (_, s, a) => { a.Bind(name); return f(Str(s)); };
        m["isdigit"] = predicate("isdigit", s => s.Length > 0 && PyString.CodePoints(s).All(c => char.IsDigit(c, 0) || CharUnicodeInfo.GetDigitValue(c, 0) >= 0));
        m["isdecimal"] = predicate("isdecimal", s => s.Length > 0 && PyString.CodePoints(s).All(c => CharUnicodeInfo.GetUnicodeCategory(c, 0) == UnicodeCategory.DecimalDigitNumber));
        m["isnumeric"] = predicate("isnumeric", s => s.Length > 0 && PyString.CodePoints(s).All(c => char.IsNumber(c, 0)));
        m["isalpha"] = predicate("isalpha", s => s.Length > 0 && PyString.CodePoints(s).All(c => char.IsLetter(c, 0)));
        m["isalnum"] = predicate("isalnum", s => s.Length > 0 && PyString.CodePoints(s).All(c => char.IsLetterOrDigit(c, 0) || char.IsNumber(c, 0)));
        m["isspace"] = predicate("isspace", s => s.Length > 0 && s.All(PyString.IsSpace));
        m["islower"] = predicate("islower", IsLower);
        m["isupper"] = predicate("isupper", IsUpper);
        m["istitle"] = predicate("istitle", s => s.Length > 0 && PyString.Title(s) == s && s.Any(char.IsLetter));
        m["isidentifier"] = predicate("isidentifier", s => s.Length > 0 && (char.IsLetter(s[0]) || s[0] == '_') && s.All(c => char.IsLetterOrDigit(c) || c == '_'));
    }

    private static List<object?> List(object self) => (List<object?>)self;

    private static void RegisterListMethods()
    {
        var m = ListMethods;
        m["append"] = (_, l, a) => { List(l).Add(a.Bind("append", "object")[0]); return null; };
        m["extend"] = (_, l, a) => { List(l).AddRange(PyOps.Iterate(a.Bind("extend", "iterable")[0]).ToList()); return null; };
        m["insert"] = (_, l, a) =>
        {
            var x = a.Bind("insert", "index", "object");
            var list = List(l);
            long i = ArgLong(x[0], 0);
            if (i < 0) i = Math.Max(0, i + list.Count);
            list.Insert((int)Math.Min(i, list.Count), x[1] is MissingArg ? throw new JinjaRuntimeException("insert expected 2 arguments, got 1") : x[1]);
            return null;
        };
        m["pop"] = (_, l, a) =>
        {
            var list = List(l);
            long i = ArgLong(a.Bind("pop", "index")[0], -1);
            if (list.Count == 0) throw new JinjaRuntimeException("pop from empty list");
            if (i < 0) i += list.Count;
            if (i < 0 || i >= list.Count) throw new JinjaRuntimeException("pop index out of range");
            var v = list[(int)i];
            list.RemoveAt((int)i);
            return v;
        };
        m["remove"] = (_, l, a) =>
        {
            var list = List(l);
            var v = a.Bind("remove", "value")[0];
            int i = list.FindIndex(x => PyOps.Equal(x, v));
            if (i < 0) throw new JinjaRuntimeException("list.remove(x): x not in list");
            list.RemoveAt(i);
            return null;
        };
        m["index"] = (_, l, a) =>
        {
            var v = a.Bind("index", "value")[0];
            int i = List(l).FindIndex(x => PyOps.Equal(x, v));
            return i >= 0 ? (long)i : throw new JinjaRuntimeException($"{PyOps.Repr(v)} is not in list");
        };
        m["count"] = (_, l, a) => { var v = a.Bind("count", "value")[0]; return (long)List(l).Count(x => PyOps.Equal(x, v)); };
        m["copy"] = (_, l, a) => { a.Bind("copy"); return new List<object?>(List(l)); };
        m["reverse"] = (_, l, a) => { a.Bind("reverse"); List(l).Reverse(); return null; };
        m["clear"] = (_, l, a) => { a.Bind("clear"); List(l).Clear(); return null; };
        m["sort"] = (it, l, a) =>
        {
            var x = a.Bind("sort", "key", "reverse");
            if (x[0] is not (MissingArg or null)) throw new JinjaRuntimeException("list.sort(key=...) is not supported");
            var sorted = Sorted(List(l), v => v, PyOps.Truthy(x[1] is MissingArg ? false : x[1]));
            List(l).Clear();
            List(l).AddRange(sorted);
            return null;
        };
        TupleMethods["index"] = (_, t, a) =>
        {
            var v = a.Bind("index", "value")[0];
            int i = Array.FindIndex(((PyTuple)t).Items, x => PyOps.Equal(x, v));
            return i >= 0 ? (long)i : throw new JinjaRuntimeException("tuple.index(x): x not in tuple");
        };
        TupleMethods["count"] = (_, t, a) => { var v = a.Bind("count", "value")[0]; return (long)((PyTuple)t).Items.Count(x => PyOps.Equal(x, v)); };
    }

    private static PyDict Dict(object self) => (PyDict)self;

    private static void RegisterDictMethods()
    {
        var m = DictMethods;
        m["get"] = (_, d, a) =>
        {
            var x = a.Bind("get", "key", "default");
            if (x[0] is MissingArg) throw new JinjaRuntimeException("get expected at least 1 argument, got 0");
            if (x[0] is List<object?> or PyDict) throw new JinjaRuntimeException($"unhashable type: '{PyOps.TypeName(x[0])}'");
            return Dict(d).TryGet(x[0], out var v) ? v : x[1] is MissingArg ? null : x[1];
        };
        m["items"] = (_, d, a) => { a.Bind("items"); return new PyView("dict_items", Dict(d).Items.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList()); };
        m["keys"] = (_, d, a) => { a.Bind("keys"); return new PyView("dict_keys", Dict(d).Keys.ToList()); };
        m["values"] = (_, d, a) => { a.Bind("values"); return new PyView("dict_values", Dict(d).Values.ToList()); };
        m["copy"] = (_, d, a) => { a.Bind("copy"); return Dict(d).Copy(); };
        m["pop"] = (_, d, a) =>
        {
            var x = a.Bind("pop", "key", "default");
            if (Dict(d).Remove(x[0], out var v)) return v;
            return x[1] is MissingArg ? throw new JinjaRuntimeException($"KeyError: {PyOps.Repr(x[0])}") : x[1];
        };
        m["setdefault"] = (_, d, a) =>
        {
            var x = a.Bind("setdefault", "key", "default");
            if (Dict(d).TryGet(x[0], out var v)) return v;
            var dflt = x[1] is MissingArg ? null : x[1];
            Dict(d).Set(x[0], dflt);
            return dflt;
        };
        m["update"] = (_, d, a) =>
        {
            var x = a.Bind("update", "other");
            if (x[0] is PyDict other) foreach (var (k, v) in other.Items) Dict(d).Set(k, v);
            else if (x[0] is not MissingArg)
                foreach (var pair in PyOps.Iterate(x[0]))
                {
                    var kv = PyOps.Iterate(pair).ToList();
                    if (kv.Count != 2) throw new JinjaRuntimeException("dictionary update sequence element has wrong length; 2 is required");
                    Dict(d).Set(kv[0], kv[1]);
                }
            return null;
        };
        m["clear"] = (_, d, a) => { a.Bind("clear"); Dict(d).Clear(); return null; };
    }
}

/// <summary>C strftime as Python's datetime.strftime formats (glibc directives).</summary>
internal static class Strftime
{
    private static readonly string[] Days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] Months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length) { sb.Append(c); continue; }
            char d = format[++i];
            bool noPad = false;
            if (d == '-' && i + 1 < format.Length) { noPad = true; d = format[++i]; }
            string Two(int v) => noPad ? v.ToString(CultureInfo.InvariantCulture) : v.ToString("00", CultureInfo.InvariantCulture);
            int hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
            sb.Append(d switch
            {
                'a' => Days[(int)t.DayOfWeek][..3],
                'A' => Days[(int)t.DayOfWeek],
                'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'd' => Two(t.Day),
                'e' => t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'b' or 'h' => Months[t.Month - 1][..3],
                'B' => Months[t.Month - 1],
                'm' => Two(t.Month),
                'y' => Two(t.Year % 100),
                'Y' => t.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Two(t.Hour),
                'I' => Two(hour12),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'M' => Two(t.Minute),
                'S' => Two(t.Second),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'j' => noPad ? t.DayOfYear.ToString(CultureInfo.InvariantCulture) : t.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'z' => t.Kind == DateTimeKind.Utc ? "+0000" : "",
                'Z' => t.Kind == DateTimeKind.Utc ? "UTC" : "",
                'c' => $"{Days[(int)t.DayOfWeek][..3]} {Months[t.Month - 1][..3]} {t.Day,2} {t:HH:mm:ss} {t.Year}",
                'x' => t.ToString("MM/dd/yy", CultureInfo.InvariantCulture),
                'X' => t.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'D' => t.ToString("MM/dd/yy", CultureInfo.InvariantCulture),
                'F' => t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'T' => t.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'R' => t.ToString("HH:mm", CultureInfo.InvariantCulture),
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + d,
            });
        }
        return sb.ToString();
    }
}
