using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Text.Jinja;

/// <summary>Python's printf-style <c>%</c>, str.format, json.dumps (transformers' tojson) and JSON input conversion.</summary>
internal static class PyFormat
{
    // ---------------------------------------------------------------- exact decimal formatting of doubles

    /// <summary>round-half-even(|d| × 10^scale) computed exactly from the binary value.</summary>
    private static BigInteger RoundScaled(double d, int scale)
    {
        long bits = BitConverter.DoubleToInt64Bits(Math.Abs(d));
        int exponent = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0) exponent = 1; else mantissa |= 1L << 52;
        int e = exponent - 1075;   // |d| = mantissa × 2^e
        BigInteger num = mantissa, den = BigInteger.One;
        if (scale >= 0) num *= BigInteger.Pow(10, scale); else den *= BigInteger.Pow(10, -scale);
        if (e >= 0) num <<= e; else den <<= -e;
        var q = BigInteger.DivRem(num, den, out var r);
        var twice = r * 2;
        if (twice > den || (twice == den && !q.IsEven)) q += 1;
        return q;
    }

    /// <summary>Python's round(x, ndigits) for a float: the exact binary value rounded half-even at that decimal digit.</summary>
    public static double Round(double d, long ndigits)
    {
        if (double.IsNaN(d) || double.IsInfinity(d) || d == 0 || ndigits > 330) return d;
        if (ndigits < -330) return double.IsNegative(d) ? -0.0 : 0.0;
        var q = RoundScaled(d, (int)ndigits);
        double r = double.Parse($"{q.ToString(CultureInfo.InvariantCulture)}e{-ndigits}", NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsNegative(d) ? -r : r;
    }

    /// <summary>Python's round(i, ndigits) for an int with ndigits &lt; 0: half-even at that digit.</summary>
    public static BigInteger RoundInt(BigInteger i, long ndigits)
    {
        if (ndigits >= 0) return i;
        var unit = BigInteger.Pow(10, (int)Math.Min(-ndigits, 400));
        var q = BigInteger.DivRem(BigInteger.Abs(i), unit, out var r);
        var twice = r * 2;
        if (twice > unit || (twice == unit && !q.IsEven)) q += 1;
        return i.Sign < 0 ? -q * unit : q * unit;
    }

    /// <summary>Python's '%.{precision}f'.</summary>
    public static string Fixed(double d, int precision)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string digits = RoundScaled(d, precision).ToString(CultureInfo.InvariantCulture).PadLeft(precision + 1, '0');
        string body = precision == 0 ? digits : digits[..^precision] + "." + digits[^precision..];
        return (double.IsNegative(d) ? "-" : "") + body;
    }

    /// <summary>Python's '%.{precision}e' split into mantissa digits and decimal exponent.</summary>
    private static (string Digits, int Exponent) Scientific(double d, int precision)
    {
        if (d == 0) return (new string('0', precision + 1), 0);
        int k = (int)Math.Floor(Math.Log10(Math.Abs(d)));
        for (int attempt = 0; attempt < 4; attempt++)
        {
            string digits = RoundScaled(d, precision - k).ToString(CultureInfo.InvariantCulture);
            if (digits.Length == precision + 2) { k++; continue; }
            if (digits.Length <= precision) { k--; continue; }
            return (digits, k);
        }
        string final = RoundScaled(d, precision - k).ToString(CultureInfo.InvariantCulture);
        return (final[..(precision + 1)], k);
    }

    public static string Exponent(double d, int precision, bool upper, bool alternate = false)
    {
        if (double.IsNaN(d)) return upper ? "NAN" : "nan";
        if (double.IsInfinity(d)) return (d > 0 ? "" : "-") + (upper ? "INF" : "inf");
        var (digits, exp) = Scientific(d, precision);
        var sb = new StringBuilder();
        if (double.IsNegative(d)) sb.Append('-');
        sb.Append(digits[0]);
        if (precision > 0 || alternate) sb.Append('.');
        sb.Append(digits, 1, digits.Length - 1);
        sb.Append(upper ? 'E' : 'e').Append(exp < 0 ? '-' : '+').Append(Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    public static string General(double d, int precision, bool upper, bool alternate = false)
    {
        if (double.IsNaN(d)) return upper ? "NAN" : "nan";
        if (double.IsInfinity(d)) return (d > 0 ? "" : "-") + (upper ? "INF" : "inf");
        if (precision == 0) precision = 1;
        if (d == 0) return (double.IsNegative(d) ? "-" : "") + (alternate ? "0." + new string('0', precision - 1) : "0");
        var (_, exp) = Scientific(d, precision - 1);
        string s;
        if (exp >= -4 && exp < precision)
        {
            s = Fixed(d, precision - 1 - exp);
            if (!alternate && s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        }
        else
        {
            s = Exponent(d, precision - 1, upper, alternate);
            if (!alternate)
            {
                int e = s.IndexOfAny(['e', 'E']);
                string mant = s[..e];
                if (mant.Contains('.')) mant = mant.TrimEnd('0').TrimEnd('.');
                s = mant + s[e..];
            }
        }
        return s;
    }

    // ---------------------------------------------------------------- printf: "%s" % x

    public static string Printf(string format, object? args)
    {
        object?[] values = args is PyTuple t ? t.Items : [args];
        var mapping = args as PyDict;
        int next = 0;
        bool usedMapping = false;
        var sb = new StringBuilder();
        int i = 0;
        object? NextValue()
        {
            if (next >= values.Length) throw new JinjaRuntimeException("not enough arguments for format string");
            return values[next++];
        }
        while (i < format.Length)
        {
            char c = format[i];
            if (c != '%') { sb.Append(c); i++; continue; }
            i++;
            if (i >= format.Length) throw new JinjaRuntimeException("incomplete format");
            object? value = MissingArg.Value;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0) throw new JinjaRuntimeException("incomplete format key");
                if (mapping is null) throw new JinjaRuntimeException("format requires a mapping");
                string key = format[(i + 1)..close];
                if (!mapping.TryGet(key, out value)) throw new JinjaRuntimeException($"KeyError: {PyOps.Repr(key)}");
                usedMapping = true;
                i = close + 1;
            }
            string flags = "";
            while (i < format.Length && "-+ #0".Contains(format[i])) flags += format[i++];
            int width = -1, precision = -1;
            if (i < format.Length && format[i] == '*') { width = (int)PyOps.AsLong(NextValue()); i++; }
            else { int w0 = i; while (i < format.Length && char.IsAsciiDigit(format[i])) i++; if (i > w0) width = int.Parse(format[w0..i], CultureInfo.InvariantCulture); }
            if (i < format.Length && format[i] == '.')
            {
                i++;
                if (i < format.Length && format[i] == '*') { precision = (int)PyOps.AsLong(NextValue()); i++; }
                else { int p0 = i; while (i < format.Length && char.IsAsciiDigit(format[i])) i++; precision = i > p0 ? int.Parse(format[p0..i], CultureInfo.InvariantCulture) : 0; }
            }
            while (i < format.Length && format[i] is 'h' or 'l' or 'L') i++;
            if (i >= format.Length) throw new JinjaRuntimeException("incomplete format");
            char type = format[i++];
            if (type == '%') { sb.Append('%'); continue; }
            if (value is MissingArg) value = NextValue();
            string body;
            bool numeric = false;
            switch (type)
            {
                case 's': body = PyOps.Str(value); if (precision >= 0) body = PyString.Slice(body, null, (long)precision, null); break;
                case 'r': case 'a': body = PyOps.Repr(value); if (precision >= 0) body = PyString.Slice(body, null, (long)precision, null); break;
                case 'd': case 'i': case 'u':
                    numeric = true;
                    body = value switch
                    {
                        long or bool or BigInteger => PyOps.AsBig(value).ToString(CultureInfo.InvariantCulture),
                        double dv => new BigInteger(Math.Truncate(dv)).ToString(CultureInfo.InvariantCulture),
                        _ => throw new JinjaRuntimeException($"%{type} format: a real number is required, not {PyOps.TypeName(value)}"),
                    };
                    break;
                case 'x': case 'X': case 'o':
                    numeric = true;
                    if (!PyOps.IsInt(value)) throw new JinjaRuntimeException($"%{type} format: an integer is required, not {PyOps.TypeName(value)}");
                    long lv = PyOps.AsLong(value);
                    string mag = type == 'o' ? Convert.ToString(Math.Abs(lv), 8) : Math.Abs(lv).ToString(type == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                    if (flags.Contains('#')) mag = (type == 'o' ? "0o" : type == 'x' ? "0x" : "0X") + mag;
                    body = (lv < 0 ? "-" : "") + mag;
                    break;
                case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
                    numeric = true;
                    if (!PyOps.IsNumber(value)) throw new JinjaRuntimeException($"must be real number, not {PyOps.TypeName(value)}");
                    double dbl = PyOps.AsDouble(value);
                    int p = precision < 0 ? 6 : precision;
                    body = type switch
                    {
                        'f' or 'F' => Fixed(dbl, p),
                        'e' or 'E' => Exponent(dbl, p, type == 'E', flags.Contains('#')),
                        _ => General(dbl, p, type == 'G', flags.Contains('#')),
                    };
                    if (type == 'F') body = body.ToUpperInvariant();
                    break;
                case 'c':
                    body = value switch
                    {
                        long or bool => char.ConvertFromUtf32((int)PyOps.AsLong(value)),
                        string s when PyString.Length(s) == 1 => s,
                        _ => throw new JinjaRuntimeException("%c requires int or char"),
                    };
                    break;
                default:
                    throw new JinjaRuntimeException($"unsupported format character '{type}' (0x{(int)type:x}) at index {i - 1}");
            }
            if (numeric && !body.StartsWith('-'))
            {
                if (flags.Contains('+')) body = "+" + body;
                else if (flags.Contains(' ')) body = " " + body;
            }
            long len = PyString.Length(body);
            if (width > len)
            {
                int pad = (int)(width - len);
                if (flags.Contains('-')) body += new string(' ', pad);
                else if (numeric && flags.Contains('0'))
                {
                    int signLen = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
                    if (body.Length > signLen + 1 && body[signLen] == '0' && body[signLen + 1] is 'x' or 'X' or 'o') signLen += 2;
                    body = body[..signLen] + new string('0', pad) + body[signLen..];
                }
                else body = new string(' ', pad) + body;
            }
            sb.Append(body);
        }
        if (!usedMapping && args is not PyDict && next < values.Length)
            throw new JinjaRuntimeException("not all arguments converted during string formatting");
        return sb.ToString();
    }

    // ---------------------------------------------------------------- str.format

    public static string Format(Interpreter interpreter, string format, CallArgs args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        int i = 0;
        while (i < format.Length)
        {
            char c = format[i];
            if (c == '}')
            {
                if (i + 1 < format.Length && format[i + 1] == '}') { sb.Append('}'); i += 2; continue; }
                throw new JinjaRuntimeException("Single '}' encountered in format string");
            }
            if (c != '{') { sb.Append(c); i++; continue; }
            if (i + 1 < format.Length && format[i + 1] == '{') { sb.Append('{'); i += 2; continue; }
            int close = format.IndexOf('}', i);
            if (close < 0) throw new JinjaRuntimeException("expected '}' before end of string");
            string field = format[(i + 1)..close];
            i = close + 1;
            string spec = "";
            char conversion = '\0';
            int colon = field.IndexOf(':');
            if (colon >= 0) { spec = field[(colon + 1)..]; field = field[..colon]; }
            int bang = field.IndexOf('!');
            if (bang >= 0) { conversion = bang + 1 < field.Length ? field[bang + 1] : '\0'; field = field[..bang]; }
            int end = field.IndexOfAny(['.', '[']);
            string head = end < 0 ? field : field[..end];
            object? value;
            if (head.Length == 0) value = Positional(args, auto++);
            else if (head.All(char.IsAsciiDigit)) value = Positional(args, int.Parse(head, CultureInfo.InvariantCulture));
            else
            {
                int k = args.Named.FindIndex(kv => kv.Key == head);
                if (k < 0) throw new JinjaRuntimeException($"KeyError: {PyOps.Repr(head)}");
                value = args.Named[k].Value;
            }
            string rest = end < 0 ? "" : field[end..];
            while (rest.Length > 0)
            {
                if (rest[0] == '.')
                {
                    int n = rest.IndexOfAny(['.', '['], 1);
                    string attr = n < 0 ? rest[1..] : rest[1..n];
                    value = interpreter.GetAttr(value, attr);
                    rest = n < 0 ? "" : rest[n..];
                }
                else
                {
                    int n = rest.IndexOf(']');
                    if (n < 0) throw new JinjaRuntimeException("Missing ']' in format string");
                    string key = rest[1..n];
                    value = interpreter.GetItem(value, key.Length > 0 && key.All(char.IsAsciiDigit) ? long.Parse(key, CultureInfo.InvariantCulture) : key);
                    rest = rest[(n + 1)..];
                }
            }
            if (value is Undefined u) throw u.Error();
            if (conversion is 'r' or 'a') value = PyOps.Repr(value);
            else if (conversion == 's') value = PyOps.Str(value);
            sb.Append(FormatValue(value, spec));
        }
        return sb.ToString();
    }

    private static object? Positional(CallArgs args, int index) =>
        index < args.Positional.Count ? args.Positional[index] : throw new JinjaRuntimeException($"Replacement index {index} out of range for positional args tuple");

    /// <summary>Python's format(value, spec) for str, int, float (the format mini-language).</summary>
    public static string FormatValue(object? value, string spec)
    {
        if (spec.Length == 0) return PyOps.Str(value);
        int i = 0;
        char fill = ' ', align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=') { fill = spec[0]; align = spec[1]; i = 2; }
        else if (spec[0] is '<' or '>' or '^' or '=') { align = spec[0]; i = 1; }
        char sign = '-';
        if (i < spec.Length && spec[i] is '+' or '-' or ' ') sign = spec[i++];
        bool alternate = false;
        if (i < spec.Length && spec[i] == '#') { alternate = true; i++; }
        if (i < spec.Length && spec[i] == '0') { if (align == '\0') { fill = '0'; align = '='; } i++; }
        int width = 0;
        int w0 = i;
        while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
        if (i > w0) width = int.Parse(spec[w0..i], CultureInfo.InvariantCulture);
        char grouping = '\0';
        if (i < spec.Length && spec[i] is ',' or '_') grouping = spec[i++];
        int precision = -1;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            int p0 = i;
            while (i < spec.Length && char.IsAsciiDigit(spec[i])) i++;
            precision = int.Parse(spec[p0..i], CultureInfo.InvariantCulture);
        }
        char type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length) throw new JinjaRuntimeException("Invalid format specifier");

        string body;
        bool numeric = PyOps.IsNumber(value);
        if (value is string s)
        {
            if (type is not ('\0' or 's')) throw new JinjaRuntimeException($"Unknown format code '{type}' for object of type 'str'");
            body = precision >= 0 ? PyString.Slice(s, null, (long)precision, null) : s;
            if (align == '\0') align = '<';
        }
        else if (numeric && (type is 'e' or 'E' or 'f' or 'F' or 'g' or 'G' or '%' || value is double))
        {
            double d = PyOps.AsDouble(value);
            int p = precision < 0 ? 6 : precision;
            body = type switch
            {
                'f' or 'F' => Fixed(Math.Abs(d), p),
                'e' or 'E' => Exponent(Math.Abs(d), p, type == 'E', alternate),
                'g' or 'G' => General(Math.Abs(d), p, type == 'G', alternate),
                '%' => Fixed(Math.Abs(d) * 100, p) + "%",
                _ => precision < 0 ? PyOps.FloatRepr(Math.Abs(d)) : General(Math.Abs(d), p, false),
            };
            if (grouping != '\0') body = Group(body, grouping);
            body = SignPrefix(double.IsNegative(d), sign) + body;
            if (align == '\0') align = '>';
        }
        else if (numeric)
        {
            long l = PyOps.AsLong(value);
            string mag = type switch
            {
                'x' => Math.Abs(l).ToString("x", CultureInfo.InvariantCulture),
                'X' => Math.Abs(l).ToString("X", CultureInfo.InvariantCulture),
                'o' => Convert.ToString(Math.Abs(l), 8),
                'b' => Convert.ToString(Math.Abs(l), 2),
                'c' => char.ConvertFromUtf32((int)l),
                '\0' or 'd' or 'n' => Math.Abs(l).ToString(CultureInfo.InvariantCulture),
                _ => throw new JinjaRuntimeException($"Unknown format code '{type}' for object of type 'int'"),
            };
            if (alternate && type is 'x' or 'X' or 'o' or 'b') mag = "0" + type + mag;
            if (grouping != '\0') mag = Group(mag, grouping);
            body = SignPrefix(l < 0, sign) + mag;
            if (align == '\0') align = '>';
        }
        else
        {
            throw new JinjaRuntimeException($"unsupported format string passed to {PyOps.TypeName(value)}.__format__");
        }
        long len = PyString.Length(body);
        if (width <= len) return body;
        int pad = (int)(width - len);
        return align switch
        {
            '<' => body + new string(fill, pad),
            '^' => new string(fill, pad / 2) + body + new string(fill, pad - pad / 2),
            '=' when body.Length > 0 && body[0] is '-' or '+' or ' ' => body[0] + new string(fill, pad) + body[1..],
            _ => new string(fill, pad) + body,
        };
    }

    private static string SignPrefix(bool negative, char sign) => negative ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";

    private static string Group(string digits, char sep)
    {
        int dot = digits.IndexOfAny(['.', 'e', 'E', '%']);
        string intPart = dot < 0 ? digits : digits[..dot], rest = dot < 0 ? "" : digits[dot..];
        var sb = new StringBuilder();
        for (int i = 0; i < intPart.Length; i++)
        {
            if (i > 0 && (intPart.Length - i) % 3 == 0) sb.Append(sep);
            sb.Append(intPart[i]);
        }
        return sb + rest;
    }

    // ---------------------------------------------------------------- json.dumps (transformers' tojson)

    public static string JsonDumps(object? value, bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        var sb = new StringBuilder();
        WriteJson(sb, value, ensureAscii, indent, itemSeparator, keySeparator, sortKeys, 0);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, bool ascii, string? indent, string itemSep, string keySep, bool sortKeys, int level)
    {
        if (level > 500) throw new JinjaRuntimeException("Circular reference detected");
        Interpreter.EnsureStack();
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case BigInteger big: sb.Append(big.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(JsonFloat(d)); break;
            case string s: WriteJsonString(sb, s, ascii); break;
            case Markup m: WriteJsonString(sb, m.Value, ascii); break;
            case List<object?> or PyTuple:
            {
                var items = (IReadOnlyList<object?>)v;
                if (items.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                string? newline = indent is null ? null : "\n" + string.Concat(Enumerable.Repeat(indent, level + 1));
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(itemSep);
                    if (newline is not null) sb.Append(newline);
                    WriteJson(sb, items[i], ascii, indent, itemSep, keySep, sortKeys, level + 1);
                }
                if (indent is not null) sb.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, level)));
                sb.Append(']');
                break;
            }
            case PyDict dict:
            {
                if (dict.Count == 0) { sb.Append("{}"); break; }
                IEnumerable<KeyValuePair<object?, object?>> entries = dict.Items;
                if (sortKeys)
                {
                    var list = entries.ToList();
                    list.Sort((a, b) => PyOps.Compare(a.Key, b.Key, "<"));
                    entries = list;
                }
                sb.Append('{');
                string? newline = indent is null ? null : "\n" + string.Concat(Enumerable.Repeat(indent, level + 1));
                bool first = true;
                foreach (var (k, val) in entries)
                {
                    string key = k switch
                    {
                        string ks => ks,
                        bool kb => kb ? "true" : "false",
                        long kl => kl.ToString(CultureInfo.InvariantCulture),
                        BigInteger kb => kb.ToString(CultureInfo.InvariantCulture),
                        double kd => JsonFloat(kd),
                        null => "null",
                        _ => throw new JinjaRuntimeException($"keys must be str, int, float, bool or None, not {PyOps.TypeName(k)}"),
                    };
                    if (!first) sb.Append(itemSep);
                    first = false;
                    if (newline is not null) sb.Append(newline);
                    WriteJsonString(sb, key, ascii);
                    sb.Append(keySep);
                    WriteJson(sb, val, ascii, indent, itemSep, keySep, sortKeys, level + 1);
                }
                if (indent is not null) sb.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, level)));
                sb.Append('}');
                break;
            }
            default:
                throw new JinjaRuntimeException($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static string JsonFloat(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyOps.FloatRepr(d);

    public static void WriteJsonString(StringBuilder sb, string s, bool ascii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c >= 0x7f)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    // ---------------------------------------------------------------- JSON input

    /// <summary>A JSON value as Python's json.loads gives it: integers without '.'/exponent are int, others float.</summary>
    public static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonObject o:
            {
                var d = new PyDict();
                foreach (var (k, v) in o) d.Set(k, FromJson(v));
                return d;
            }
            case JsonArray a:
            {
                var l = new List<object?>(a.Count);
                foreach (var v in a) l.Add(FromJson(v));
                return l;
            }
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: return v.GetValue<string>();
                    case JsonValueKind.True: return true;
                    case JsonValueKind.False: return false;
                    case JsonValueKind.Null: return null;
                    case JsonValueKind.Number:
                    {
                        string raw = v.ToJsonString();
                        if (raw.IndexOfAny(['.', 'e', 'E']) < 0)
                        {
                            if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                            return BigInteger.Parse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                        }
                        return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
                    }
                    default: throw new JinjaRuntimeException($"unsupported JSON value {v.ToJsonString()}");
                }
            default: throw new JinjaRuntimeException("unsupported JSON node");
        }
    }
}
