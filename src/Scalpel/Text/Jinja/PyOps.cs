using System.Globalization;
using System.Numerics;
using System.Text;

namespace Scalpel.Text.Jinja;

/// <summary>Python semantics of values: truth, str/repr, equality, ordering, arithmetic, iteration, len, in.</summary>
internal static partial class PyOps
{
    // Python ints: long, or BigInteger for values beyond 64 bits (always normalised back to long when they fit).
    public static bool IsInt(object? v) => v is long or bool or BigInteger;
    public static bool IsNumber(object? v) => v is long or bool or double or BigInteger;
    public static long AsLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger => throw new JinjaRuntimeException("Python int too large to convert to C ssize_t"),
        _ => throw new InvalidCastException(),
    };
    public static double AsDouble(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => d,
        BigInteger big => (double)big,
        _ => throw new InvalidCastException(),
    };
    public static BigInteger AsBig(object? v) => v is BigInteger big ? big : AsLong(v);
    public static object Normalize(BigInteger big) => big >= long.MinValue && big <= long.MaxValue ? (long)big : big;

    private static object IntOp(object? a, object? b, Func<long, long, long> small, Func<BigInteger, BigInteger, BigInteger> big)
    {
        if (a is not BigInteger && b is not BigInteger)
        {
            try { return small(AsLong(a), AsLong(b)); }
            catch (OverflowException) { }
        }
        return Normalize(big(AsBig(a), AsBig(b)));
    }

    /// <summary>Markup behaves as its text everywhere but "+" and "%".</summary>
    public static object? Text(object? v) => v is Markup m ? m.Value : v;

    public static bool Truthy(object? v) => v switch
    {
        Markup m => m.Value.Length > 0,
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        BigInteger big => !big.IsZero,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        PyTuple t => t.Count > 0,
        PyDict d => d.Count > 0,
        PyRange r => r.Count > 0,
        PyView v2 => v2.Items.Count > 0,
        _ => true,
    };

    /// <summary>Python's type(x).__name__, for error messages.</summary>
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        Markup => "Markup",
        List<object?> => "list",
        PyTuple => "tuple",
        PyDict => "dict",
        PyRange => "range",
        PyView view => view.Kind,
        PyIterator it => it.TypeName,
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        PyCallable => "builtin_function_or_method",
        _ => v.GetType().Name,
    };

    /// <summary>jinja2.utils.object_type_repr.</summary>
    public static string ObjectTypeRepr(object? v) => v switch
    {
        null => "None",
        Namespace => "jinja2.utils.Namespace object",
        LoopContext => "jinja2.runtime.LoopContext object",
        Macro => "jinja2.runtime.Macro object",
        _ => TypeName(v) + " object",
    };

    // ---------------------------------------------------------------- str / repr

    public static string Str(object? v) => v switch
    {
        string s => s,
        Markup m => m.Value,
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        BigInteger big => big.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v, int depth)
    {
        if (depth > 200) throw new JinjaRuntimeException("maximum recursion depth exceeded while getting the repr of an object");
        Interpreter.EnsureStack();
        switch (v)
        {
            case string s: AppendStringRepr(sb, s); break;
            case Markup m: sb.Append("Markup("); AppendStringRepr(sb, m.Value); sb.Append(')'); break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, list[i], depth + 1); }
                sb.Append(']');
                break;
            case PyTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, t[i], depth + 1); }
                if (t.Count == 1) sb.Append(',');
                sb.Append(')');
                break;
            case PyDict d:
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in d.Items)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, k, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, val, depth + 1);
                }
                sb.Append('}');
                break;
            case PyView view:
                sb.Append(view.Kind).Append("([");
                for (int i = 0; i < view.Items.Count; i++) { if (i > 0) sb.Append(", "); AppendRepr(sb, view.Items[i], depth + 1); }
                sb.Append("])");
                break;
            case PyRange r:
                sb.Append("range(").Append(r.Start).Append(", ").Append(r.Stop);
                if (r.Step != 1) sb.Append(", ").Append(r.Step);
                sb.Append(')');
                break;
            case Undefined: sb.Append("Undefined"); break;
            case Namespace ns:
                sb.Append("<Namespace {");
                bool firstAttr = true;
                foreach (var (k, val) in ns.Attributes)
                {
                    if (!firstAttr) sb.Append(", ");
                    firstAttr = false;
                    AppendStringRepr(sb, k);
                    sb.Append(": ");
                    AppendRepr(sb, val, depth + 1);
                }
                sb.Append("}>");
                break;
            case LoopContext loop: sb.Append("<LoopContext ").Append(loop.Index0 + 1).Append('/').Append(loop.Length).Append('>'); break;
            case Macro m: sb.Append("<Macro '").Append(m.Name).Append("'>"); break;
            case PyCallable c: sb.Append("<built-in function ").Append(c.Name).Append('>'); break;
            case PyIterator it: sb.Append('<').Append(it.TypeName).Append(" object>"); break;
            case null or bool or long or double or BigInteger: sb.Append(Str(v)); break;
            default: sb.Append(v.ToString()); break;
        }
    }

    /// <summary>Python's repr() of a str: single quotes unless the text has ' and no ", escapes for unprintables.</summary>
    public static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = s[i];
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                cp = char.ConvertToUtf32(s[i], s[i + 1]);
                i++;
            }
            if (cp == quote || cp == '\\') sb.Append('\\').Append((char)cp);
            else if (cp == '\t') sb.Append("\\t");
            else if (cp == '\n') sb.Append("\\n");
            else if (cp == '\r') sb.Append("\\r");
            else if (cp < 0x20 || cp == 0x7f) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
            else if (cp < 0x7f) sb.Append((char)cp);
            else if (!IsPrintable(cp))
            {
                if (cp <= 0xff) sb.Append("\\x").Append(cp.ToString("x2", CultureInfo.InvariantCulture));
                else if (cp <= 0xffff) sb.Append("\\u").Append(cp.ToString("x4", CultureInfo.InvariantCulture));
                else sb.Append("\\U").Append(cp.ToString("x8", CultureInfo.InvariantCulture));
            }
            else if (cp > 0xffff) sb.Append(char.ConvertFromUtf32(cp));
            else sb.Append((char)cp);
        }
        sb.Append(quote);
    }

    /// <summary>Python's str.isprintable for one code point: not Cc, Cf, Cs, Co, Cn, Zl, Zp, or Zs other than space.</summary>
    public static bool IsPrintable(int cp)
    {
        if (cp == ' ') return true;
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;
        var cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is not (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);
    }

    /// <summary>Python's repr(float): shortest round-trip digits; exponent form when the exponent is below -4 or above 15.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        var (negative, digits, decpt) = ShortestDigits(d);
        var sb = new StringBuilder();
        if (negative) sb.Append('-');
        if (decpt <= -4 || decpt > 16)
        {
            sb.Append(digits[0]);
            if (digits.Length > 1) sb.Append('.').Append(digits, 1, digits.Length - 1);
            int exp = decpt - 1;
            sb.Append('e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        }
        else if (decpt <= 0)
        {
            sb.Append("0.").Append('0', -decpt).Append(digits);
        }
        else if (decpt >= digits.Length)
        {
            sb.Append(digits).Append('0', decpt - digits.Length).Append(".0");
        }
        else
        {
            sb.Append(digits, 0, decpt).Append('.').Append(digits, decpt, digits.Length - decpt);
        }
        return sb.ToString();
    }

    /// <summary>Shortest round-trip decimal digits of a finite non-zero double: value = 0.DIGITS × 10^decpt.</summary>
    public static (bool Negative, string Digits, int DecimalPoint) ShortestDigits(double d)
    {
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r[0] == '-';
        if (negative) r = r[1..];
        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exp = int.Parse(r.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        int dot = r.IndexOf('.');
        int intLen = dot < 0 ? r.Length : dot;
        string digits = dot < 0 ? r : r.Remove(dot, 1);
        int decpt = intLen + exp;
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..];
        decpt -= lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        return (negative, digits, decpt);
    }

    // ---------------------------------------------------------------- equality, hashing, ordering

    public static bool Equal(object? a, object? b)
    {
        if (ReferenceEquals(a, b)) return true;
        a = Text(a);
        b = Text(b);
        switch (a)
        {
            case null: return b is null;
            case Undefined: return b is Undefined;
            case string sa: return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case long or bool or double or BigInteger:
                if (!IsNumber(b)) return false;
                if (a is double || b is double)
                {
                    if (a is double da && IsInt(b)) return !double.IsInfinity(da) && da == Math.Floor(da) && new BigInteger(da) == AsBig(b);
                    if (b is double db && IsInt(a)) return !double.IsInfinity(db) && db == Math.Floor(db) && new BigInteger(db) == AsBig(a);
                    return AsDouble(a) == AsDouble(b);
                }
                return AsBig(a) == AsBig(b);
            case List<object?> la:
                if (b is not List<object?> lb || la.Count != lb.Count) return false;
                for (int i = 0; i < la.Count; i++) if (!Equal(la[i], lb[i])) return false;
                return true;
            case PyTuple ta:
                if (b is not PyTuple tb || ta.Count != tb.Count) return false;
                for (int i = 0; i < ta.Count; i++) if (!Equal(ta[i], tb[i])) return false;
                return true;
            case PyDict da2:
                if (b is not PyDict db2 || da2.Count != db2.Count) return false;
                foreach (var (k, v) in da2.Items)
                    if (!db2.TryGet(k, out var w) || !Equal(v, w)) return false;
                return true;
            case PyRange ra:
                return b is PyRange rb && ra.Enumerate().SequenceEqual(rb.Enumerate(), EqualityComparer.Instance);
            default:
                return Equals(a, b);
        }
    }

    private sealed class EqualityComparer : IEqualityComparer<object?>
    {
        public static readonly EqualityComparer Instance = new();
        public new bool Equals(object? x, object? y) => Equal(x, y);
        public int GetHashCode(object? obj) => Hash(obj);
    }

    public static int Hash(object? v) => v switch
    {
        null => 0,
        Markup m => string.GetHashCode(m.Value, StringComparison.Ordinal),
        string s => string.GetHashCode(s, StringComparison.Ordinal),
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        BigInteger big => big.GetHashCode(),
        double d => d == Math.Floor(d) && Math.Abs(d) < 9.2e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
        PyTuple t => t.Items.Aggregate(17, (h, x) => h * 31 + Hash(x)),
        _ => v.GetHashCode(),
    };

    /// <summary>Python ordering (&lt;, &lt;=, &gt;, &gt;=): numbers, strings (by code point), lists/tuples lexicographically.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        a = Text(a);
        b = Text(b);
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        if (IsNumber(a) && IsNumber(b))
        {
            if (IsInt(a) && IsInt(b)) return AsBig(a).CompareTo(AsBig(b));
            double x = AsDouble(a), y = AsDouble(b);
            if (double.IsNaN(x) || double.IsNaN(y)) return int.MinValue;   // every comparison with NaN is false
            return x.CompareTo(y);
        }
        if (a is string sa && b is string sb) return CompareCodePoints(sa, sb);
        if (a is List<object?> la && b is List<object?> lb) return CompareSequences(la, lb, op);
        if (a is PyTuple ta && b is PyTuple tb) return CompareSequences(ta, tb, op);
        throw new JinjaRuntimeException($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static int CompareSequences(IReadOnlyList<object?> a, IReadOnlyList<object?> b, string op)
    {
        int n = Math.Min(a.Count, b.Count);
        for (int i = 0; i < n; i++)
            if (!Equal(a[i], b[i])) return Compare(a[i], b[i], op);
        return a.Count.CompareTo(b.Count);
    }

    public static bool CompareOp(object? a, object? b, string op)
    {
        int c = Compare(a, b, op);
        if (c == int.MinValue) return false;
        return op switch { "<" => c < 0, "<=" => c <= 0, ">" => c > 0, ">=" => c >= 0, _ => throw new ArgumentException(op) };
    }

    /// <summary>Orders strings by Unicode code point (UTF-16 order differs for supplementary characters).</summary>
    public static int CompareCodePoints(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            char x = a[i], y = b[i];
            if (x == y) continue;
            bool sx = char.IsSurrogate(x), sy = char.IsSurrogate(y);
            if (sx != sy && (x >= 0xE000 || y >= 0xE000)) return sx ? 1 : -1;
            return x < y ? -1 : 1;
        }
        return a.Length.CompareTo(b.Length);
    }

    // ---------------------------------------------------------------- iteration, len, in

    public static IEnumerable<object?> Iterate(object? v) => v switch
    {
        Markup m => PyString.Chars(m.Value),
        List<object?> l => l.ToArray(),          // a snapshot: appending while iterating does not extend the loop
        PyTuple t => t.Items,
        string s => PyString.Chars(s),
        PyDict d => d.Keys.ToList(),
        PyRange r => r.Enumerate(),
        PyView view => view.Items,
        PyIterator it => it.Consume(),
        Undefined => [],
        Namespace => throw new JinjaRuntimeException("'Namespace' object is not iterable"),
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    public static bool IsIterable(object? v) =>
        v is List<object?> or PyTuple or string or Markup or PyDict or PyRange or PyView or PyIterator or Undefined;

    public static long Len(object? v) => v switch
    {
        string s => PyString.Length(s),
        Markup m => PyString.Length(m.Value),
        List<object?> l => l.Count,
        PyTuple t => t.Count,
        PyDict d => d.Count,
        PyRange r => r.Count,
        PyView view => view.Items.Count,
        Undefined => 0,
        Namespace ns => throw new JinjaRuntimeException("object of type 'Namespace' has no len()"),
        _ => throw new JinjaRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    public static bool Contains(object? container, object? item)
    {
        container = Text(container);
        item = Text(item);
        switch (container)
        {
            case string s:
                if (item is Undefined u) throw u.Error();
                if (item is not string sub) throw new JinjaRuntimeException($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return s.Contains(sub, StringComparison.Ordinal);
            case PyDict d:
                if (item is List<object?> or PyDict) throw new JinjaRuntimeException($"unhashable type: '{TypeName(item)}'");
                return d.ContainsKey(item);
            case Undefined: return false;
            case List<object?> or PyTuple or PyRange or PyView or PyIterator:
                foreach (var x in Iterate(container)) if (Equal(x, item)) return true;
                return false;
            default:
                throw new JinjaRuntimeException($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    // ---------------------------------------------------------------- arithmetic

    private static void RejectUndefined(object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
    }

    private static JinjaRuntimeException Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

    public static object? Add(object? a, object? b)
    {
        RejectUndefined(a, b);
        // markupsafe: Markup + str escapes the str (and str + Markup, through Markup.__radd__).
        if (a is Markup ma && b is string or Markup) return new Markup(ma.Value + Markup.EscapeValue(b).Value);
        if (b is Markup mb && a is string) return new Markup(Markup.Escape((string)a) + mb.Value);
        if (IsInt(a) && IsInt(b)) return IntOp(a, b, (x, y) => checked(x + y), BigInteger.Add);
        if (IsNumber(a) && IsNumber(b)) return AsDouble(a) + AsDouble(b);
        if (a is string sa)
            return b is string sb ? sa + sb : throw new JinjaRuntimeException($"can only concatenate str (not \"{TypeName(b)}\") to str");
        if (a is List<object?> la)
        {
            if (b is not List<object?> lb) throw new JinjaRuntimeException($"can only concatenate list (not \"{TypeName(b)}\") to list");
            var r = new List<object?>(la.Count + lb.Count);
            r.AddRange(la);
            r.AddRange(lb);
            return r;
        }
        if (a is PyTuple ta)
        {
            if (b is not PyTuple tb) throw new JinjaRuntimeException($"can only concatenate tuple (not \"{TypeName(b)}\") to tuple");
            return new PyTuple([.. ta.Items, .. tb.Items]);
        }
        throw Unsupported("+", a, b);
    }

    public static object? Sub(object? a, object? b)
    {
        RejectUndefined(a, b);
        if (IsInt(a) && IsInt(b)) return IntOp(a, b, (x, y) => checked(x - y), BigInteger.Subtract);
        if (IsNumber(a) && IsNumber(b)) return AsDouble(a) - AsDouble(b);
        throw Unsupported("-", a, b);
    }

    public static object? Mul(object? a, object? b)
    {
        RejectUndefined(a, b);
        if (a is Markup ma && IsInt(b)) return new Markup(Repeat(ma.Value, AsLong(b)));
        if (IsInt(a) && IsInt(b)) return IntOp(a, b, (x, y) => checked(x * y), BigInteger.Multiply);
        if (IsNumber(a) && IsNumber(b)) return AsDouble(a) * AsDouble(b);
        if (a is string s && IsInt(b)) return Repeat(s, AsLong(b));
        if (b is string s2 && IsInt(a)) return Repeat(s2, AsLong(a));
        if (a is List<object?> l && IsInt(b)) return RepeatList(l, AsLong(b));
        if (b is List<object?> l2 && IsInt(a)) return RepeatList(l2, AsLong(a));
        throw Unsupported("*", a, b);
    }

    private static string Repeat(string s, long n)
    {
        if (n <= 0 || s.Length == 0) return "";
        if (n * s.Length > 100_000_000) throw new JinjaRuntimeException("repeated string is too long");
        return new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();
    }

    private static List<object?> RepeatList(List<object?> l, long n)
    {
        var r = new List<object?>();
        if (n * l.Count > 10_000_000) throw new JinjaRuntimeException("repeated list is too long");
        for (long i = 0; i < n; i++) r.AddRange(l);
        return r;
    }

    private static object? EscapeArg(object? x) => x is string or Markup ? Markup.EscapeValue(x) : x is null or bool or long or double or BigInteger ? x : Markup.EscapeValue(x);

    private static PyDict EscapeDict(PyDict d)
    {
        var r = new PyDict();
        foreach (var (k, v) in d.Items) r.Set(k, EscapeArg(v));
        return r;
    }

    public static object? Div(object? a, object? b)
    {
        RejectUndefined(a, b);
        if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("/", a, b);
        double y = AsDouble(b);
        if (y == 0) throw new JinjaRuntimeException(IsInt(a) && IsInt(b) ? "division by zero" : "float division by zero");
        return AsDouble(a) / y;
    }

    public static object? FloorDiv(object? a, object? b)
    {
        RejectUndefined(a, b);
        if (IsInt(a) && IsInt(b))
        {
            var x = AsBig(a);
            var y = AsBig(b);
            if (y.IsZero) throw new JinjaRuntimeException("integer division or modulo by zero");
            var q = BigInteger.DivRem(x, y, out var r);
            if (!r.IsZero && (r.Sign < 0) != (y.Sign < 0)) q -= 1;
            return Normalize(q);
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double y = AsDouble(b);
            if (y == 0) throw new JinjaRuntimeException("float floor division by zero");
            return Math.Floor(AsDouble(a) / y);
        }
        throw Unsupported("//", a, b);
    }

    public static object? Mod(object? a, object? b)
    {
        if (a is string fmt) return PyFormat.Printf(fmt, b);
        if (a is Markup markup)
        {
            // Markup.__mod__ escapes the arguments.
            object? escaped = b switch
            {
                PyTuple t => new PyTuple(t.Items.Select(x => (object?)EscapeArg(x)).ToArray()),
                PyDict d => EscapeDict(d),
                _ => EscapeArg(b),
            };
            return new Markup(PyFormat.Printf(markup.Value, escaped));
        }
        RejectUndefined(a, b);
        if (IsInt(a) && IsInt(b))
        {
            var x = AsBig(a);
            var y = AsBig(b);
            if (y.IsZero) throw new JinjaRuntimeException("integer division or modulo by zero");
            var r = BigInteger.Remainder(x, y);
            if (!r.IsZero && (r.Sign < 0) != (y.Sign < 0)) r += y;
            return Normalize(r);
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double x = AsDouble(a), y = AsDouble(b);
            if (y == 0) throw new JinjaRuntimeException("float modulo");
            double r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return r;
        }
        throw Unsupported("%", a, b);
    }

    public static object? Pow(object? a, object? b)
    {
        RejectUndefined(a, b);
        if (IsInt(a) && IsInt(b))
        {
            var x = AsBig(a);
            var y = AsBig(b);
            if (y.Sign < 0)
            {
                if (x.IsZero) throw new JinjaRuntimeException("0.0 cannot be raised to a negative power");
                return Math.Pow((double)x, (double)y);
            }
            if (y > 100_000 && BigInteger.Abs(x) > 1) throw new JinjaRuntimeException("integer power too large");
            return Normalize(BigInteger.Pow(x, (int)y));
        }
        if (IsNumber(a) && IsNumber(b))
        {
            double x = AsDouble(a), y = AsDouble(b);
            if (x == 0 && y < 0) throw new JinjaRuntimeException("0.0 cannot be raised to a negative power");
            return Math.Pow(x, y);
        }
        throw Unsupported("** or pow()", a, b);
    }

    public static object? Negate(object? a) => a switch
    {
        Undefined u => throw u.Error(),
        long l => l == long.MinValue ? (object)(-(BigInteger)l) : -l,
        BigInteger big => Normalize(-big),
        bool b => b ? -1L : 0L,
        double d => -d,
        _ => throw new JinjaRuntimeException($"bad operand type for unary -: '{TypeName(a)}'"),
    };

    public static object? Plus(object? a) => a switch
    {
        Undefined u => throw u.Error(),
        long l => (object)l,
        BigInteger big => big,
        bool b => b ? 1L : 0L,
        double d => d,
        _ => throw new JinjaRuntimeException($"bad operand type for unary +: '{TypeName(a)}'"),
    };
}
