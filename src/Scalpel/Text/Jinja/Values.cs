using System.Collections;

namespace Scalpel.Text.Jinja;

// The value model: Python values as Jinja2 sees them.
//   None -> null, bool -> bool, int -> long, float -> double, str -> string, list -> List<object?>,
//   tuple -> PyTuple, dict -> PyDict, plus Undefined, Namespace, PyRange, PyIterator (generators),
//   PyView (dict views), LoopContext and callables (PyCallable).

/// <summary>A runtime error while rendering (Python's TypeError, UndefinedError, ZeroDivisionError...); the
/// interpreter attaches the source offset of the innermost expression or statement that raised it.</summary>
internal sealed class JinjaRuntimeException(string message) : Exception(message)
{
    public int Offset { get; set; } = -1;
}

/// <summary>Jinja2's default Undefined: prints as "", iterates as empty, is false; most other uses raise its message.</summary>
internal sealed class Undefined
{
    private readonly string? _hint;
    private Undefined(string? hint) => _hint = hint;

    public static readonly Undefined Plain = new(null);
    public static Undefined Named(string name) => new($"'{name}' is undefined");
    public static Undefined WithHint(string hint) => new(hint);

    /// <summary>What Jinja2 says when something missing is looked up on <paramref name="owner"/>.</summary>
    public static Undefined Missing(object? owner, object? key) => key is string s
        ? new($"{PyOps.Repr(PyOps.ObjectTypeRepr(owner))} has no attribute {PyOps.Repr(s)}")
        : new($"{PyOps.ObjectTypeRepr(owner)} has no element {PyOps.Repr(key)}");

    public string Message => _hint ?? "value is undefined";
    public JinjaRuntimeException Error() => new(Message);
}

/// <summary>markupsafe.Markup: what |safe and |e return. Prints as its text; "+" and "%" with plain strings escape the
/// plain side (Python's Markup.__add__/__radd__/__mod__), everything else treats it as its text.</summary>
internal sealed class Markup(string value)
{
    public string Value { get; } = value;
    public override string ToString() => Value;

    public static string Escape(string s)
    {
        if (s.IndexOfAny(['&', '<', '>', '"', '\'']) < 0) return s;
        var sb = new System.Text.StringBuilder(s.Length + 16);
        foreach (char c in s)
            sb.Append(c switch { '&' => "&amp;", '<' => "&lt;", '>' => "&gt;", '"' => "&#34;", '\'' => "&#39;", _ => c.ToString() });
        return sb.ToString();
    }

    /// <summary>markupsafe.escape: Markup stays as it is, anything else is str()-ed and escaped.</summary>
    public static Markup EscapeValue(object? v) => v is Markup m ? m : new Markup(Escape(PyOps.Str(v)));
}

/// <summary>A Python tuple (immutable; prints as (a, b) or (a,)).</summary>
internal sealed class PyTuple(object?[] items, string[]? fieldNames = null) : IReadOnlyList<object?>
{
    public static readonly PyTuple Empty = new([]);
    public object?[] Items { get; } = items;
    /// <summary>Attribute names of a named tuple (groupby's (grouper, list)); null for a plain tuple.</summary>
    public string[]? FieldNames { get; } = fieldNames;
    public int Count => Items.Length;
    public object? this[int index] => Items[index];
    public IEnumerator<object?> GetEnumerator() => ((IEnumerable<object?>)Items).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A Python dict: insertion-ordered, keys compared the Python way (1 == 1.0 == True).</summary>
internal sealed class PyDict
{
    private static readonly object NoneKey = new();
    private readonly OrderedDictionary<object, object?> _map = new(KeyComparer.Instance);

    public int Count => _map.Count;

    private static object Wrap(object? key)
    {
        if (key is null) return NoneKey;
        if (key is List<object?> or PyDict or Namespace || key is PyTuple t && t.Items.Any(x => x is List<object?> or PyDict))
            throw new JinjaRuntimeException($"unhashable type: '{PyOps.TypeName(key)}'");
        if (key is Undefined u) throw u.Error();
        return key;
    }

    private static object? Unwrap(object key) => ReferenceEquals(key, NoneKey) ? null : key;

    public bool TryGet(object? key, out object? value)
    {
        if (key is List<object?> or PyDict or Undefined) { value = null; return false; }
        return _map.TryGetValue(Wrap(key), out value);
    }

    public bool ContainsKey(object? key) => TryGet(key, out _);

    public void Set(object? key, object? value)
    {
        var k = Wrap(key);
        // Python keeps the first key object when an equal key is assigned again (d[1.0] = x keeps key 1).
        if (_map.ContainsKey(k)) _map[k] = value; else _map.Add(k, value);
    }

    public bool Remove(object? key, out object? value)
    {
        if (key is List<object?> or PyDict) { value = null; return false; }
        return _map.Remove(Wrap(key), out value);
    }

    public void Clear() => _map.Clear();

    public IEnumerable<object?> Keys { get { foreach (var k in _map.Keys) yield return Unwrap(k); } }
    public IEnumerable<object?> Values => _map.Values;
    public IEnumerable<KeyValuePair<object?, object?>> Items
    {
        get { foreach (var (k, v) in _map) yield return new KeyValuePair<object?, object?>(Unwrap(k), v); }
    }

    public PyDict Copy()
    {
        var d = new PyDict();
        foreach (var (k, v) in _map) d._map.Add(k, v);
        return d;
    }

    private sealed class KeyComparer : IEqualityComparer<object>
    {
        public static readonly KeyComparer Instance = new();
        public new bool Equals(object? x, object? y) => PyOps.Equal(Unwrap(x!), Unwrap(y!));
        public int GetHashCode(object obj) => PyOps.Hash(Unwrap(obj));
    }
}

/// <summary>Jinja2's namespace(): attributes that <c>{% set ns.x = ... %}</c> may assign from any scope.</summary>
internal sealed class Namespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Python's range object.</summary>
internal sealed class PyRange(long start, long stop, long step)
{
    public long Start { get; } = start;
    public long Stop { get; } = stop;
    public long Step { get; } = step;

    public long Count => Step > 0
        ? (Stop > Start ? (Stop - Start + Step - 1) / Step : 0)
        : (Start > Stop ? (Start - Stop - Step - 1) / -Step : 0);

    public long this[long i] => Start + i * Step;

    public IEnumerable<object?> Enumerate()
    {
        long n = Count;
        for (long i = 0; i < n; i++) yield return Start + i * Step;
    }
}

/// <summary>A one-shot iterator (a Python generator, e.g. what map/select/selectattr return): iterating consumes it.</summary>
internal sealed class PyIterator(IEnumerable<object?> source, string typeName = "generator")
{
    private IEnumerator<object?>? _enumerator = source.GetEnumerator();
    public string TypeName { get; } = typeName;

    public IEnumerable<object?> Consume()
    {
        var e = _enumerator;
        if (e is null) yield break;
        while (e.MoveNext()) yield return e.Current;
        _enumerator = null;
    }
}

/// <summary>dict.items() / keys() / values(): iterable, sized, prints like Python (dict_items([...])).</summary>
internal sealed class PyView(string kind, List<object?> items)
{
    public string Kind { get; } = kind;
    public List<object?> Items { get; } = items;
}

/// <summary>Marker for "argument not given" in builtin signatures.</summary>
internal sealed class MissingArg
{
    public static readonly MissingArg Value = new();
    private MissingArg() { }
}

/// <summary>Arguments of one call: positional then keyword, as the template wrote them.</summary>
internal sealed class CallArgs(List<object?> positional, List<KeyValuePair<string, object?>> named)
{
    public static CallArgs None => new([], []);
    public List<object?> Positional { get; } = positional;
    public List<KeyValuePair<string, object?>> Named { get; } = named;

    /// <summary>Binds to a Python signature: slot i is the argument for names[i] or <see cref="MissingArg.Value"/>.</summary>
    public object?[] Bind(string function, params string[] names)
    {
        if (Positional.Count > names.Length)
            throw new JinjaRuntimeException($"{function}() takes at most {names.Length} argument{(names.Length == 1 ? "" : "s")} ({Positional.Count} given)");
        var slots = new object?[names.Length];
        for (int i = 0; i < names.Length; i++) slots[i] = i < Positional.Count ? Positional[i] : MissingArg.Value;
        foreach (var (name, value) in Named)
        {
            int i = Array.IndexOf(names, name);
            if (i < 0) throw new JinjaRuntimeException($"{function}() got an unexpected keyword argument '{name}'");
            if (i < Positional.Count) throw new JinjaRuntimeException($"{function}() got multiple values for argument '{name}'");
            slots[i] = value;
        }
        return slots;
    }
}

/// <summary>Anything a template can call: macros, builtin functions, bound methods, loop(), loop.cycle.</summary>
internal abstract class PyCallable
{
    public abstract string Name { get; }
    public abstract object? Call(Interpreter interpreter, CallArgs args);
}

internal sealed class BuiltinFunction(string name, Func<Interpreter, CallArgs, object?> body) : PyCallable
{
    public override string Name => name;
    public override object? Call(Interpreter interpreter, CallArgs args) => body(interpreter, args);
}

/// <summary>A method looked up on a value (e.g. <c>message.content.strip</c>), called later.</summary>
internal sealed class BoundMethod(object self, string name, Func<Interpreter, object, CallArgs, object?> body) : PyCallable
{
    public object Self { get; } = self;
    public override string Name => name;
    public override object? Call(Interpreter interpreter, CallArgs args) => body(interpreter, Self, args);
}
