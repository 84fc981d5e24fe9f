using System.Text;

namespace Scalpel.Text.Jinja;

/// <summary>A variable scope. Jinja2 gives for-loop iterations, macros, {% set %} blocks, {% with %}, filter and call
/// blocks their own scope; if-blocks write to the enclosing one. Lookups fall back to the enclosing scopes.</summary>
internal sealed class Scope(Scope? parent)
{
    private Dictionary<string, object?>? _vars;
    public Scope? Parent { get; } = parent;

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._vars is not null && s._vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => (_vars ??= new Dictionary<string, object?>(StringComparer.Ordinal))[name] = value;
}

/// <summary>Jinja2's loop variable.</summary>
internal sealed class LoopContext(List<object?> items, int depth0, Interpreter interpreter, ForStmt? recursiveLoop, Scope outer) : PyCallable
{
    private object? _lastChanged = MissingArg.Value;
    public int Index0 { get; set; }
    public int Length => items.Count;
    public override string Name => "loop";

    public object? Attribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(Length - Index0),
        "revindex0" => (long)(Length - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        "depth0" => (long)depth0,
        "depth" => (long)depth0 + 1,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
        "nextitem" => Index0 < Length - 1 ? items[Index0 + 1] : Undefined.WithHint("there is no next item"),
        "cycle" => new BuiltinFunction("cycle", (_, args) =>
        {
            if (args.Positional.Count == 0) throw new JinjaRuntimeException("no items for cycling given");
            return args.Positional[Index0 % args.Positional.Count];
        }),
        "changed" => new BuiltinFunction("changed", (_, args) =>
        {
            var value = args.Positional.Count == 1 ? args.Positional[0] : new PyTuple([.. args.Positional]);
            if (_lastChanged is not MissingArg && PyOps.Equal(_lastChanged, value)) return false;
            _lastChanged = value;
            return true;
        }),
        _ => Undefined.Missing(this, name),
    };

    /// <summary>loop(children) inside a "recursive" for loop renders the loop body for the children.</summary>
    public override object? Call(Interpreter it, CallArgs args)
    {
        if (recursiveLoop is null) throw new JinjaRuntimeException("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
        if (args.Positional.Count != 1 || args.Named.Count != 0) throw new JinjaRuntimeException("loop() takes exactly one argument");
        return interpreter.CaptureLoop(recursiveLoop, args.Positional[0], outer, depth0 + 1);
    }
}

/// <summary>A {% macro %}: called with positional and keyword arguments, renders its body and returns the text.</summary>
internal sealed class Macro(MacroStmt node, Scope closure) : PyCallable
{
    public MacroStmt Node { get; } = node;
    public Scope Closure { get; } = closure;
    public override string Name => Node.Name;
    public override object? Call(Interpreter interpreter, CallArgs args) => interpreter.CallMacro(this, args);
}

/// <summary>Walks the syntax tree and writes the output. One instance renders one template once.</summary>
internal sealed class Interpreter
{
    private const int MaxCallDepth = 200;

    private readonly SourceText _source;
    private readonly Scope _globals;
    private readonly StringBuilder _root = new();
    private StringBuilder _out;
    private int _callDepth;

    public Interpreter(SourceText source, Scope globals, Func<DateTime> now)
    {
        _source = source;
        _globals = globals;
        _out = _root;
        Now = now;
    }

    public Func<DateTime> Now { get; }
    public List<(int Start, int End)> GenerationSpans { get; } = [];

    public string Run(List<Stmt> body)
    {
        try
        {
            Exec(body, new Scope(_globals));
        }
        catch (JinjaRuntimeException e)
        {
            throw _source.Error(e.Offset < 0 ? 0 : e.Offset, e.Message);
        }
        catch (TemplateRaise e)
        {
            throw _source.Error(e.Offset < 0 ? 0 : e.Offset, e.Message);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or InvalidCastException or ArgumentException)
        {
            throw _source.Error(0, $"internal error while rendering ({e.GetType().Name}: {e.Message}); please report this template");
        }
        return _root.ToString();
    }

    // ---------------------------------------------------------------- statements

    private enum Flow { Normal, Break, Continue }

    private Flow Exec(List<Stmt> body, Scope scope)
    {
        foreach (var s in body)
        {
            var flow = Exec(s, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt s, Scope scope)
    {
        try
        {
            EnsureStack();
            switch (s)
            {
                case TextStmt t:
                    _out.Append(t.Text);
                    return Flow.Normal;
                case PrintStmt p:
                    _out.Append(PyOps.Str(Eval(p.Expr, scope)));
                    return Flow.Normal;
                case IfStmt i:
                    foreach (var (test, body) in i.Branches)
                        if (PyOps.Truthy(Eval(test, scope))) return Exec(body, scope);
                    return i.Else is null ? Flow.Normal : Exec(i.Else, scope);
                case ForStmt f:
                    RenderLoop(f, Eval(f.Iter, scope), scope, 0);
                    return Flow.Normal;
                case SetStmt st:
                    Assign(st.Target, Eval(st.Value, scope), scope);
                    return Flow.Normal;
                case SetBlockStmt sb:
                {
                    object? value = Capture(sb.Body, new Scope(scope));
                    if (sb.Filter is not null) value = ApplyFilterChain(sb.Filter, value, scope);
                    Assign(sb.Target, value, scope);
                    return Flow.Normal;
                }
                case MacroStmt m:
                    scope.Set(m.Name, new Macro(m, scope));
                    return Flow.Normal;
                case CallBlockStmt c:
                {
                    var callee = Eval(c.Call.Callee, scope);
                    var args = EvalArgs(c.Call.Args, scope);
                    args.Named.Add(new KeyValuePair<string, object?>("caller", new Macro(c.Caller, scope)));
                    _out.Append(PyOps.Str(Invoke(callee, args)));
                    return Flow.Normal;
                }
                case FilterBlockStmt fb:
                    _out.Append(PyOps.Str(ApplyFilterChain(fb.Filter, Capture(fb.Body, new Scope(scope)), scope)));
                    return Flow.Normal;
                case WithStmt w:
                {
                    var inner = new Scope(scope);
                    foreach (var (target, value) in w.Assignments) Assign(target, Eval(value, scope), inner);
                    return Exec(w.Body, inner);
                }
                case BreakStmt:
                    return Flow.Break;
                case ContinueStmt:
                    return Flow.Continue;
                case GenerationStmt g:
                {
                    string rv = Capture(g.Body, new Scope(scope));
                    // transformers' AssistantTracker: start = length of the output already produced at top level.
                    int start = _root.Length;
                    GenerationSpans.Add((start, start + rv.Length));
                    _out.Append(rv);
                    return Flow.Normal;
                }
                default:
                    throw new JinjaRuntimeException($"unsupported statement {s.GetType().Name}");
            }
        }
        catch (JinjaRuntimeException e) when (e.Offset < 0)
        {
            e.Offset = s.Offset;
            throw;
        }
        catch (Exception ex) when (ex is InvalidCastException or ArgumentException or OverflowException or FormatException or IndexOutOfRangeException or KeyNotFoundException)
        {
            throw new JinjaRuntimeException($"{ex.GetType().Name}: {ex.Message}") { Offset = s.Offset };
        }
    }

    private string Capture(List<Stmt> body, Scope scope)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            Exec(body, scope);
            return _out.ToString();
        }
        finally { _out = saved; }
    }

    public string CaptureLoop(ForStmt f, object? iterable, Scope outer, int depth)
    {
        var saved = _out;
        _out = new StringBuilder();
        try
        {
            RenderLoop(f, iterable, outer, depth);
            return _out.ToString();
        }
        finally { _out = saved; }
    }

    private void RenderLoop(ForStmt f, object? iterable, Scope scope, int depth)
    {
        List<object?> items;
        if (f.Filter is null) items = PyOps.Iterate(iterable).ToList();
        else
        {
            items = [];
            foreach (var item in PyOps.Iterate(iterable))
            {
                var test = new Scope(scope);
                Assign(f.Target, item, test);
                if (PyOps.Truthy(Eval(f.Filter, test))) items.Add(item);
            }
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) Exec(f.Else, new Scope(scope));
            return;
        }
        var loop = new LoopContext(items, depth, this, f.Recursive ? f : null, scope);
        for (int i = 0; i < items.Count; i++)
        {
            var iteration = new Scope(scope);
            Assign(f.Target, items[i], iteration);
            loop.Index0 = i;
            iteration.Set("loop", loop);
            if (Exec(f.Body, iteration) == Flow.Break) break;
        }
    }

    private void Assign(Expr target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameExpr n:
                scope.Set(n.Name, value);
                break;
            case TupleExpr t:
            {
                var items = PyOps.Iterate(value).ToList();
                if (items.Count < t.Items.Count) throw new JinjaRuntimeException($"not enough values to unpack (expected {t.Items.Count}, got {items.Count})");
                if (items.Count > t.Items.Count) throw new JinjaRuntimeException($"too many values to unpack (expected {t.Items.Count})");
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
            }
            case NamespaceRefExpr r:
                if (!scope.TryGet(r.Name, out var ns)) ns = Undefined.Named(r.Name);
                if (ns is not Namespace n2) throw new JinjaRuntimeException("cannot assign attribute on non-namespace object");
                n2.Attributes[r.Attribute] = value;
                break;
            default:
                throw new JinjaRuntimeException("can't assign to this expression");
        }
    }

    public object? CallMacro(Macro macro, CallArgs args)
    {
        var m = macro.Node;
        if (++_callDepth > MaxCallDepth) throw new JinjaRuntimeException("maximum recursion depth exceeded");
        try
        {
            var scope = new Scope(macro.Closure);
            var named = new List<KeyValuePair<string, object?>>(args.Named);
            if (args.Positional.Count > m.Parameters.Count && !m.UsesVarargs)
                throw new JinjaRuntimeException($"macro '{m.Name}' takes not more than {m.Parameters.Count} argument(s)");
            for (int i = 0; i < m.Parameters.Count; i++)
            {
                string name = m.Parameters[i];
                int k = named.FindIndex(kv => kv.Key == name);
                object? value;
                if (i < args.Positional.Count)
                {
                    if (k >= 0) throw new JinjaRuntimeException($"macro '{m.Name}' got multiple values for argument '{name}'");
                    value = args.Positional[i];
                }
                else if (k >= 0) { value = named[k].Value; named.RemoveAt(k); }
                else if (m.Defaults[i] is { } dflt) value = Eval(dflt, scope);
                else value = Undefined.WithHint($"parameter '{name}' was not provided");
                scope.Set(name, value);
            }
            int c = named.FindIndex(kv => kv.Key == "caller");
            if (c >= 0 && m.UsesCaller) { scope.Set("caller", named[c].Value); named.RemoveAt(c); }
            else if (m.UsesCaller) scope.Set("caller", Undefined.WithHint("No caller defined"));
            if (m.UsesKwargs)
            {
                var kwargs = new PyDict();
                foreach (var (key, value) in named) kwargs.Set(key, value);
                scope.Set("kwargs", kwargs);
            }
            else if (named.Count > 0) throw new JinjaRuntimeException($"macro '{m.Name}' takes no keyword argument '{named[0].Key}'");
            if (m.UsesVarargs)
                scope.Set("varargs", new PyTuple(args.Positional.Count > m.Parameters.Count ? [.. args.Positional.Skip(m.Parameters.Count)] : []));
            return Capture(m.Body, scope);
        }
        finally { _callDepth--; }
    }

    // ---------------------------------------------------------------- expressions

    public object? Eval(Expr e, Scope scope)
    {
        try
        {
            EnsureStack();
            switch (e)
            {
                case ConstExpr c: return c.Value;
                case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : Undefined.Named(n.Name);
                case ListExpr l:
                {
                    var list = new List<object?>(l.Items.Count);
                    foreach (var x in l.Items) list.Add(Eval(x, scope));
                    return list;
                }
                case TupleExpr t:
                {
                    var items = new object?[t.Items.Count];
                    for (int i = 0; i < items.Length; i++) items[i] = Eval(t.Items[i], scope);
                    return new PyTuple(items);
                }
                case DictExpr d:
                {
                    var dict = new PyDict();
                    foreach (var (k, val) in d.Items) dict.Set(Eval(k, scope), Eval(val, scope));
                    return dict;
                }
                case GetAttrExpr g: return GetAttr(Eval(g.Object, scope), g.Name);
                case GetItemExpr g:
                {
                    var obj = Eval(g.Object, scope);
                    if (g.Key is SliceExpr sl)
                        return Slice(obj, sl.Start is null ? null : Eval(sl.Start, scope), sl.Stop is null ? null : Eval(sl.Stop, scope), sl.Step is null ? null : Eval(sl.Step, scope));
                    return GetItem(obj, Eval(g.Key, scope));
                }
                case CallExpr c:
                {
                    var callee = Eval(c.Callee, scope);
                    return Invoke(callee, EvalArgs(c.Args, scope));
                }
                case FilterExpr f: return ApplyFilterChain(f, null, scope);
                case TestExpr t:
                {
                    var value = Eval(t.Operand, scope);
                    var test = Builtins.GetTest(t.Name) ?? throw new JinjaRuntimeException($"No test named '{t.Name}' found.");
                    return test(this, value, EvalArgs(t.Args, scope));
                }
                case UnaryExpr u:
                {
                    var value = Eval(u.Operand, scope);
                    return u.Op switch { "not" => !PyOps.Truthy(value), "-" => PyOps.Negate(value), _ => PyOps.Plus(value) };
                }
                case BinaryExpr b:
                {
                    var left = Eval(b.Left, scope);
                    switch (b.Op)
                    {
                        case "and": return PyOps.Truthy(left) ? Eval(b.Right, scope) : left;
                        case "or": return PyOps.Truthy(left) ? left : Eval(b.Right, scope);
                    }
                    var right = Eval(b.Right, scope);
                    return b.Op switch
                    {
                        "+" => PyOps.Add(left, right),
                        "-" => PyOps.Sub(left, right),
                        "*" => PyOps.Mul(left, right),
                        "/" => PyOps.Div(left, right),
                        "//" => PyOps.FloorDiv(left, right),
                        "%" => PyOps.Mod(left, right),
                        "**" => PyOps.Pow(left, right),
                        _ => throw new JinjaRuntimeException($"unknown operator {b.Op}"),
                    };
                }
                case CompareExpr c:
                {
                    var left = Eval(c.First, scope);
                    foreach (var (op, operand) in c.Rest)
                    {
                        var right = Eval(operand, scope);
                        bool ok = op switch
                        {
                            "==" => PyOps.Equal(left, right),
                            "!=" => !PyOps.Equal(left, right),
                            "in" => PyOps.Contains(right, left),
                            "notin" => !PyOps.Contains(right, left),
                            _ => PyOps.CompareOp(left, right, op),
                        };
                        if (!ok) return false;
                        left = right;
                    }
                    return true;
                }
                case ConcatExpr c:
                {
                    var sb = new StringBuilder();
                    foreach (var p in c.Parts) sb.Append(PyOps.Str(Eval(p, scope)));
                    return sb.ToString();
                }
                case CondExpr c:
                    if (PyOps.Truthy(Eval(c.Test, scope))) return Eval(c.Then, scope);
                    if (c.Else is not null) return Eval(c.Else, scope);
                    var (line, col) = _source.Position(c.Offset);
                    return Undefined.WithHint($"the inline if-expression on line {line} (column {col}) evaluated to false and no else section was defined.");
                default:
                    throw new JinjaRuntimeException($"unsupported expression {e.GetType().Name}");
            }
        }
        catch (JinjaRuntimeException ex) when (ex.Offset < 0)
        {
            ex.Offset = e.Offset;
            throw;
        }
        catch (TemplateRaise ex) when (ex.Offset < 0)
        {
            ex.Offset = e.Offset;
            throw;
        }
        catch (Exception ex) when (ex is InvalidCastException or ArgumentException or OverflowException or FormatException or IndexOutOfRangeException or KeyNotFoundException)
        {
            // A value of a type a builtin did not expect: report it like Python's TypeError, at this expression.
            throw new JinjaRuntimeException($"{ex.GetType().Name}: {ex.Message}") { Offset = e.Offset };
        }
    }

    /// <summary>Deep recursion (a macro calling itself without end, huge nesting) is a template error, never a stack overflow.</summary>
    internal static void EnsureStack()
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new JinjaRuntimeException("maximum recursion depth exceeded");
    }

    private object? ApplyFilterChain(FilterExpr f, object? body, Scope scope)
    {
        object? value = f.Operand switch
        {
            null => body,
            FilterExpr inner when inner.Operand is null => ApplyFilterChain(inner, body, scope),
            _ => Eval(f.Operand, scope),
        };
        var filter = Builtins.GetFilter(f.Name) ?? throw new JinjaRuntimeException($"No filter named '{f.Name}' found.");
        try
        {
            return filter(this, value, EvalArgs(f.Args, scope));
        }
        catch (JinjaRuntimeException ex) when (ex.Offset < 0)
        {
            ex.Offset = f.Offset;
            throw;
        }
    }

    private CallArgs EvalArgs(Arguments a, Scope scope)
    {
        var positional = new List<object?>(a.Positional.Count);
        foreach (var x in a.Positional) positional.Add(Eval(x, scope));
        if (a.DynArgs is not null) positional.AddRange(PyOps.Iterate(Eval(a.DynArgs, scope)));
        var named = new List<KeyValuePair<string, object?>>(a.Named.Count);
        foreach (var (name, x) in a.Named) named.Add(new KeyValuePair<string, object?>(name, Eval(x, scope)));
        if (a.DynKwargs is not null)
        {
            if (Eval(a.DynKwargs, scope) is not PyDict d) throw new JinjaRuntimeException("argument after ** must be a mapping");
            foreach (var (k, v) in d.Items)
                named.Add(new KeyValuePair<string, object?>(k as string ?? throw new JinjaRuntimeException("keywords must be strings"), v));
        }
        return new CallArgs(positional, named);
    }

    public object? Invoke(object? callee, CallArgs args) => callee switch
    {
        PyCallable c => c.Call(this, args),
        Undefined u => throw u.Error(),
        _ => throw new JinjaRuntimeException($"'{PyOps.TypeName(callee)}' object is not callable"),
    };

    // ---------------------------------------------------------------- attribute and item access (jinja2.sandbox semantics)

    /// <summary>obj.name: a Python attribute (methods of str/list/dict, namespace attributes, loop attributes) first,
    /// then obj["name"]; Undefined when neither exists; an error when obj itself is undefined.</summary>
    public object? GetAttr(object? obj, string name)
    {
        if (obj is Undefined u) throw u.Error();
        var attr = Builtins.PythonAttribute(obj, name);
        if (attr is not MissingArg) return attr;
        var item = ItemOnly(obj, name);
        return item is MissingArg ? Undefined.Missing(obj, name) : item;
    }

    /// <summary>obj[key]: the item first, then (for string keys) the attribute.</summary>
    public object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Error();
        var item = ItemOnly(obj, key);
        if (item is not MissingArg) return item;
        if (key is string name)
        {
            var attr = Builtins.PythonAttribute(obj, name);
            if (attr is not MissingArg) return attr;
        }
        return Undefined.Missing(obj, key);
    }

    private static object? ItemOnly(object? obj, object? key)
    {
        if (obj is Markup markup) return ItemOnly(markup.Value, key) is string item ? new Markup(item) : MissingArg.Value;
        key = PyOps.Text(key);
        switch (obj)
        {
            case PyDict d:
                return d.TryGet(key, out var v) ? v : MissingArg.Value;
            case List<object?> l when PyOps.IsInt(key):
            {
                long i = PyOps.AsLong(key);
                if (i < 0) i += l.Count;
                return i >= 0 && i < l.Count ? l[(int)i] : MissingArg.Value;
            }
            case PyTuple t when PyOps.IsInt(key):
            {
                long i = PyOps.AsLong(key);
                if (i < 0) i += t.Count;
                return i >= 0 && i < t.Count ? t[(int)i] : MissingArg.Value;
            }
            case string s when PyOps.IsInt(key):
            {
                long i = PyOps.AsLong(key);
                long n = PyString.Length(s);
                if (i < 0) i += n;
                if (i < 0 || i >= n) return MissingArg.Value;
                int at = PyString.Utf16Index(s, i);
                return char.IsHighSurrogate(s[at]) && at + 1 < s.Length && char.IsLowSurrogate(s[at + 1]) ? s.Substring(at, 2) : s[at].ToString();
            }
            case PyRange r when PyOps.IsInt(key):
            {
                long i = PyOps.AsLong(key);
                if (i < 0) i += r.Count;
                return i >= 0 && i < r.Count ? r[i] : MissingArg.Value;
            }
            default:
                return MissingArg.Value;
        }
    }

    public static object? Slice(object? obj, object? start, object? stop, object? step)
    {
        foreach (var x in new[] { start, stop, step })
            if (x is not (null or long or bool)) return Undefined.Missing(obj, "slice");
        switch (PyOps.Text(obj))
        {
            case Undefined u: throw u.Error();
            case string s: return obj is Markup ? new Markup(PyString.Slice(s, start, stop, step)) : PyString.Slice(s, start, stop, step);
            case List<object?> l:
            {
                var r = new List<object?>();
                foreach (long i in PyString.SliceRange(start, stop, step, l.Count)) r.Add(l[(int)i]);
                return r;
            }
            case PyTuple t:
            {
                var r = new List<object?>();
                foreach (long i in PyString.SliceRange(start, stop, step, t.Count)) r.Add(t[(int)i]);
                return new PyTuple([.. r]);
            }
            case PyRange range:
            {
                var r = new List<object?>();
                foreach (long i in PyString.SliceRange(start, stop, step, range.Count)) r.Add(range[i]);
                return r;
            }
            default:
                return Undefined.Missing(obj, "slice");
        }
    }
}

/// <summary>raise_exception(msg) from the template: the message is reported as the template wrote it.</summary>
internal sealed class TemplateRaise(string message) : Exception(message)
{
    public int Offset { get; set; } = -1;
}
