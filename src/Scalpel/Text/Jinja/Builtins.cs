using System.Globalization;
using System.Text;

namespace Scalpel.Text.Jinja;

internal delegate object? FilterFunction(Interpreter interpreter, object? value, CallArgs args);
internal delegate bool TestFunction(Interpreter interpreter, object? value, CallArgs args);

/// <summary>Jinja2's builtin filters, tests and globals as transformers configures them (tojson replaced by
/// json.dumps with ensure_ascii=False; raise_exception and strftime_now added), and the Python methods of
/// str, list and dict that templates call.</summary>
internal static partial class Builtins
{
    private static readonly Dictionary<string, FilterFunction> Filters = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, TestFunction> Tests = new(StringComparer.Ordinal);

    /// <summary>Jinja2 filters Scalpel does not implement: they parse (as in Jinja2) but fail when used.</summary>
    private static readonly HashSet<string> UnsupportedFilters = ["filesizeformat", "random", "urlencode", "urlize", "wordwrap", "xmlattr"];

    public static bool HasFilter(string name) => Filters.ContainsKey(name) || UnsupportedFilters.Contains(name);
    public static bool HasTest(string name) => Tests.ContainsKey(name);

    public static FilterFunction? GetFilter(string name)
    {
        if (Filters.TryGetValue(name, out var f)) return f;
        if (UnsupportedFilters.Contains(name)) return (_, _, _) => throw new JinjaRuntimeException($"the '{name}' filter is not supported by Scalpel");
        return null;
    }

    public static TestFunction? GetTest(string name) => Tests.TryGetValue(name, out var t) ? t : null;

    static Builtins()
    {
        RegisterFilters();
        RegisterTests();
    }

    // ---------------------------------------------------------------- globals

    /// <summary>The globals every render sees (the context's variables shadow them).</summary>
    public static Scope Globals(IEnumerable<KeyValuePair<string, object?>> context)
    {
        var g = new Scope(null);
        g.Set("range", new BuiltinFunction("range", (_, a) => Range(a)));
        g.Set("dict", new BuiltinFunction("dict", (_, a) => MakeDict(a)));
        g.Set("namespace", new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            foreach (var (k, v) in MakeDict(a).Items) ns.Attributes[(string)k!] = v;
            return ns;
        }));
        g.Set("joiner", new BuiltinFunction("joiner", (_, a) =>
        {
            var slots = a.Bind("joiner", "sep");
            string sep = slots[0] is MissingArg ? ", " : PyOps.Str(slots[0]);
            bool used = false;
            return new BuiltinFunction("joiner", (_, _) => { if (!used) { used = true; return ""; } return sep; });
        }));
        g.Set("raise_exception", new BuiltinFunction("raise_exception", (_, a) =>
        {
            var slots = a.Bind("raise_exception", "message");
            throw new TemplateRaise(slots[0] is MissingArg ? "" : PyOps.Str(slots[0]));
        }));
        g.Set("strftime_now", new BuiltinFunction("strftime_now", (it, a) =>
        {
            var slots = a.Bind("strftime_now", "format");
            if (slots[0] is not string format) throw new JinjaRuntimeException("strftime() argument 1 must be str");
            return Strftime.Format(it.Now(), format);
        }));
        var scope = new Scope(g);
        foreach (var (k, v) in context) scope.Set(k, v);
        return scope;
    }

    private static PyRange Range(CallArgs a)
    {
        if (a.Named.Count > 0) throw new JinjaRuntimeException("range() takes no keyword arguments");
        var p = a.Positional;
        foreach (var x in p)
        {
            if (x is Undefined u) throw u.Error();
            if (!PyOps.IsInt(x)) throw new JinjaRuntimeException($"'{PyOps.TypeName(x)}' object cannot be interpreted as an integer");
        }
        var r = p.Count switch
        {
            1 => new PyRange(0, PyOps.AsLong(p[0]), 1),
            2 => new PyRange(PyOps.AsLong(p[0]), PyOps.AsLong(p[1]), 1),
            3 when PyOps.AsLong(p[2]) == 0 => throw new JinjaRuntimeException("range() arg 3 must not be zero"),
            3 => new PyRange(PyOps.AsLong(p[0]), PyOps.AsLong(p[1]), PyOps.AsLong(p[2])),
            0 => throw new JinjaRuntimeException("range expected at least 1 argument, got 0"),
            _ => throw new JinjaRuntimeException($"range expected at most 3 arguments, got {p.Count}"),
        };
        // jinja2.sandbox.safe_range
        if (r.Count > 100_000) throw new JinjaRuntimeException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        return r;
    }

    private static PyDict MakeDict(CallArgs a)
    {
        var d = new PyDict();
        if (a.Positional.Count > 1) throw new JinjaRuntimeException($"dict expected at most 1 argument, got {a.Positional.Count}");
        if (a.Positional.Count == 1)
        {
            if (a.Positional[0] is PyDict src) foreach (var (k, v) in src.Items) d.Set(k, v);
            else
                foreach (var pair in PyOps.Iterate(a.Positional[0]))
                {
                    var kv = PyOps.Iterate(pair).ToList();
                    if (kv.Count != 2) throw new JinjaRuntimeException("dictionary update sequence element has wrong length; 2 is required");
                    d.Set(kv[0], kv[1]);
                }
        }
        foreach (var (k, v) in a.Named) d.Set(k, v);
        return d;
    }

    // ---------------------------------------------------------------- helpers shared by filters

    private static object? Arg(object?[] slots, int i, object? dflt) => slots[i] is MissingArg ? dflt : slots[i];

    /// <summary>jinja2.filters.ignore_case: lower-cases strings for case-insensitive comparisons.</summary>
    private static object? IgnoreCase(object? v) => v is string s ? s.ToLowerInvariant() : v;

    /// <summary>jinja2.filters.make_attrgetter: "a.b.0" looked up item-first, part by part.</summary>
    private static Func<object?, object?> AttrGetter(Interpreter it, object? attribute, object? dflt = null, bool hasDefault = false, Func<object?, object?>? post = null)
    {
        var parts = attribute switch
        {
            string s => s.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? (object?)long.Parse(p, CultureInfo.InvariantCulture) : p).ToArray(),
            null => [],
            _ => [attribute],
        };
        return item =>
        {
            foreach (var part in parts)
            {
                item = it.GetItem(item, part);
                if (hasDefault && item is Undefined) item = dflt;
            }
            return post is null ? item : post(item);
        };
    }

    private static List<object?> Sorted(IEnumerable<object?> items, Func<object?, object?> key, bool reverse)
    {
        var list = items.Select(x => (Key: key(x), Item: x)).ToList();
        // Python's sort is stable; reverse=True keeps equal elements in their original order.
        var indexed = list.Select((x, i) => (x.Key, x.Item, Index: i)).ToList();
        indexed.Sort((a, b) =>
        {
            int c = PyOps.Equal(a.Key, b.Key) ? 0 : PyOps.CompareOp(a.Key, b.Key, "<") ? -1 : 1;
            if (reverse) c = -c;
            return c != 0 ? c : a.Index.CompareTo(b.Index);
        });
        return indexed.Select(x => x.Item).ToList();
    }

    private static string SoftStr(object? v) => PyOps.Str(v);

    private static bool IsWordChar(string text, int i) =>
        char.IsLetterOrDigit(text, i) || text[i] == '_' || CharUnicodeInfo.GetUnicodeCategory(text, i) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation;
}
