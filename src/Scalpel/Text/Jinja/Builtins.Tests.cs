namespace Scalpel.Text.Jinja;

internal static partial class Builtins
{
    private static void RegisterTests()
    {
        var t = Tests;
        TestFunction NoArgs(string name, Func<object?, bool> f) => (_, v, a) => { a.Bind(name); return f(v); };
        TestFunction OneArg(string name, Func<object?, object?, bool> f) => (_, v, a) =>
        {
            var s = a.Bind(name, "other");
            if (s[0] is MissingArg) throw new JinjaRuntimeException($"{name}() missing 1 required positional argument");
            return f(v, s[0]);
        };

        t["boolean"] = NoArgs("boolean", v => v is bool);
        t["callable"] = NoArgs("callable", v => v is PyCallable);
        t["defined"] = NoArgs("defined", v => v is not Undefined);
        t["undefined"] = NoArgs("undefined", v => v is Undefined);
        t["divisibleby"] = OneArg("divisibleby", (v, n) => PyOps.Equal(PyOps.Mod(v, n), 0L));
        t["eq"] = t["equalto"] = t["=="] = OneArg("eq", PyOps.Equal);
        t["ne"] = t["!="] = OneArg("ne", (a, b) => !PyOps.Equal(a, b));
        t["lt"] = t["lessthan"] = t["<"] = OneArg("lt", (a, b) => PyOps.CompareOp(a, b, "<"));
        t["le"] = t["<="] = OneArg("le", (a, b) => PyOps.CompareOp(a, b, "<="));
        t["gt"] = t["greaterthan"] = t[">"] = OneArg("gt", (a, b) => PyOps.CompareOp(a, b, ">"));
        t["ge"] = t[">="] = OneArg("ge", (a, b) => PyOps.CompareOp(a, b, ">="));
        t["escaped"] = NoArgs("escaped", v => v is Markup);
        t["even"] = NoArgs("even", v => PyOps.Equal(PyOps.Mod(v, 2L), 0L));
        t["odd"] = NoArgs("odd", v => PyOps.Equal(PyOps.Mod(v, 2L), 1L));
        t["false"] = NoArgs("false", v => v is false);
        t["true"] = NoArgs("true", v => v is true);
        t["filter"] = NoArgs("filter", v => PyOps.Text(v) is string s && HasFilter(s));
        t["test"] = NoArgs("test", v => PyOps.Text(v) is string s && HasTest(s));
        t["float"] = NoArgs("float", v => v is double);
        t["in"] = OneArg("in", (v, seq) => PyOps.Contains(seq, v));
        t["integer"] = NoArgs("integer", v => v is long or System.Numerics.BigInteger);
        t["iterable"] = NoArgs("iterable", PyOps.IsIterable);
        t["lower"] = NoArgs("lower", v => IsLower(PyOps.Str(v)));
        t["upper"] = NoArgs("upper", v => IsUpper(PyOps.Str(v)));
        t["mapping"] = NoArgs("mapping", v => v is PyDict);
        t["none"] = NoArgs("none", v => v is null);
        t["number"] = NoArgs("number", PyOps.IsNumber);
        t["sameas"] = OneArg("sameas", (a, b) => a switch
        {
            null => b is null,
            bool x => b is bool y && x == y,
            long x => b is long y && x == y && x is >= -5 and <= 256,   // CPython's small-int cache
            string x => b is string y && x.Length <= 1 && x == y,
            _ => ReferenceEquals(a, b),
        });
        // jinja2.tests.test_sequence: len() and __getitem__ both exist (Undefined has both).
        t["sequence"] = NoArgs("sequence", v => v is string or Markup or List<object?> or PyTuple or PyDict or PyRange or Undefined);
        t["string"] = NoArgs("string", v => v is string or Markup);
    }

    private static bool IsLower(string s)
    {
        bool cased = false;
        foreach (var c in PyString.CodePoints(s))
        {
            if (char.IsUpper(c, 0)) return false;
            if (char.IsLower(c, 0)) cased = true;
        }
        return cased;
    }

    private static bool IsUpper(string s)
    {
        bool cased = false;
        foreach (var c in PyString.CodePoints(s))
        {
            if (char.IsLower(c, 0)) return false;
            if (char.IsUpper(c, 0)) cased = true;
        }
        return cased;
    }
}
