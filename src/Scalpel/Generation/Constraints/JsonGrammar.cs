using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Generation.Constraints;

/// <summary>
/// Writes JSON schemas as byte automata (<see cref="Nfa"/> fragments). The output is compact JSON with at most one
/// space before the value (SentencePiece models like to start with "▁{"), after ':' and after ',', and no other
/// whitespace, so no path can spin on whitespace. Numbers are bounded in length (up to 16 integer digits, 16 fraction
/// digits, 2 exponent digits, so every number is a finite double) for the same reason; strings are not bounded.
/// </summary>
/// <remarks>
/// Supported: <c>type</c> (a name or a list of names) object / array / string / number / integer / boolean / null;
/// <c>properties</c>, <c>required</c>; <c>items</c>, <c>minItems</c>, <c>maxItems</c>; <c>enum</c>, <c>const</c>
/// (any JSON values); <c>anyOf</c>; the boolean schema <c>true</c> and <c>{}</c> (any value). Annotations are ignored
/// (title, description, default, examples, $schema, $id, $comment, $defs, definitions, deprecated, readOnly,
/// writeOnly), as are <c>additionalProperties</c> and <c>uniqueItems: false</c>. Any other keyword is refused with a
/// <see cref="NotSupportedException"/> naming it and where it is, so nothing that cannot be guaranteed is silently dropped.
/// <list type="bullet">
/// <item>An object with <c>properties</c> gets exactly those properties, in the schema's order, required ones always,
/// optional ones possibly left out: additionalProperties is taken as false whatever the schema says (extra properties are
/// never produced, which is valid either way).</item>
/// <item>An object without <c>properties</c>, an array without <c>items</c> and a schema without a type are free-form
/// JSON, nested at most <c>freeFormDepth</c> containers deep (a regular grammar cannot count deeper nesting; each
/// level doubles the automaton). Free-form objects may repeat a key.</item>
/// <item><c>enum</c> and <c>const</c> values are written in one spelling: compact, strings with the minimal escapes.
/// With a <c>type</c> beside them, only the values of that type are kept.</item>
/// <item>Strings are any valid UTF-8 with JSON escapes; \u escapes of surrogates must come as a valid pair.</item>
/// </list>
/// </remarks>
internal sealed class JsonGrammar
{
    private static readonly HashSet<string> Annotations = new(StringComparer.Ordinal)
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "$defs", "definitions",
        "deprecated", "readOnly", "writeOnly", "additionalProperties",
    };

    private static readonly HashSet<string> Structural = new(StringComparer.Ordinal)
    {
        "type", "enum", "const", "anyOf", "properties", "required", "items", "minItems", "maxItems", "uniqueItems",
    };

    private static readonly string[] TypeNames = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private readonly Nfa _nfa;
    private readonly int _freeFormDepth;

    private JsonGrammar(Nfa nfa, int freeFormDepth)
    {
        _nfa = nfa;
        _freeFormDepth = freeFormDepth;
    }

    /// <summary>The automaton of values valid under <paramref name="schema"/>.</summary>
    public static ByteDfa Compile(JsonNode? schema, int freeFormDepth, int maxStates)
    {
        var nfa = new Nfa(maxStates);
        var g = new JsonGrammar(nfa, freeFormDepth);
        var f = nfa.Sequence(g.Space(), g.Schema(schema, "#"));
        return ByteDfa.Build(nfa, f.Start, f.End);
    }

    /// <summary>The automaton of any JSON object (OpenAI's json_object mode).</summary>
    public static ByteDfa CompileAnyObject(int freeFormDepth, int maxStates)
    {
        var nfa = new Nfa(maxStates);
        var g = new JsonGrammar(nfa, freeFormDepth);
        var f = nfa.Sequence(g.Space(), g.FreeObject(0));
        return ByteDfa.Build(nfa, f.Start, f.End);
    }

    private Fragment Schema(JsonNode? schema, string path)
    {
        if (schema is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            if (v.GetValueKind() == JsonValueKind.True) return FreeValue(0);
            throw new NotSupportedException($"JSON schema at {path} is false: no value is valid there");
        }
        if (schema is not JsonObject obj) throw new ArgumentException($"JSON schema at {path} must be an object or a boolean");

        foreach (var (key, value) in obj)
        {
            if (Annotations.Contains(key) || Structural.Contains(key)) continue;
            throw new NotSupportedException($"JSON schema keyword '{key}' at {path} is not supported by constrained decoding");
        }
        if (obj["uniqueItems"] is { } unique && !(unique is JsonValue uv && uv.GetValueKind() == JsonValueKind.False))
            throw new NotSupportedException($"JSON schema keyword 'uniqueItems' at {path} is not supported by constrained decoding (only false)");

        if (obj["anyOf"] is { } anyOf)
        {
            foreach (var key in obj.Select(p => p.Key))
            {
                if (Structural.Contains(key) && key is not ("anyOf" or "uniqueItems"))
                    throw new NotSupportedException($"JSON schema keyword 'anyOf' together with '{key}' at {path} is not supported by constrained decoding");
            }
            if (anyOf is not JsonArray options || options.Count == 0) throw new ArgumentException($"JSON schema 'anyOf' at {path} must be a non-empty array");
            return _nfa.Choice(options.Select((o, i) => Schema(o, $"{path}/anyOf/{i}")).ToList());
        }

        var types = Types(obj, path);
        if (obj.ContainsKey("enum") || obj.ContainsKey("const")) return Values(obj, types, path);

        if (types is null)
        {
            // No type: properties/required describe an object, items/minItems/maxItems an array; otherwise anything.
            if (obj.ContainsKey("properties") || obj.ContainsKey("required")) types = ["object"];
            else if (obj.ContainsKey("items") || obj.ContainsKey("minItems") || obj.ContainsKey("maxItems")) types = ["array"];
            else return FreeValue(0);
        }
        return _nfa.Choice(types.Select(t => t switch
        {
            "object" => Object(obj, path),
            "array" => Array(obj, path),
            "string" => String(),
            "number" => Number(integer: false),
            "integer" => Number(integer: true),
            "boolean" => _nfa.Choice([_nfa.Literal("true"), _nfa.Literal("false")]),
            _ => _nfa.Literal("null"),
        }).ToList());
    }

    private static List<string>? Types(JsonObject obj, string path)
    {
        if (obj["type"] is not { } type) return null;
        var names = type switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
            JsonArray a when a.Count > 0 && a.All(t => t is JsonValue tv && tv.GetValueKind() == JsonValueKind.String) =>
                a.Select(t => t!.GetValue<string>()).Distinct().ToList(),
            _ => throw new ArgumentException($"JSON schema 'type' at {path} must be a type name or a non-empty list of them"),
        };
        foreach (var n in names)
        {
            if (!TypeNames.Contains(n)) throw new ArgumentException($"JSON schema 'type' at {path}: unknown type '{n}'");
        }
        return names;
    }

    /// <summary>enum / const: each value in its one spelling, those not of <paramref name="types"/> left out.</summary>
    private Fragment Values(JsonObject obj, List<string>? types, string path)
    {
        foreach (var key in obj.Select(p => p.Key))
        {
            if (Structural.Contains(key) && key is not ("type" or "enum" or "const" or "uniqueItems"))
                throw new NotSupportedException($"JSON schema keyword 'enum'/'const' together with '{key}' at {path} is not supported by constrained decoding");
        }
        if (obj.ContainsKey("enum") && obj.ContainsKey("const"))
            throw new NotSupportedException($"JSON schema keywords 'enum' and 'const' together at {path} are not supported by constrained decoding");
        List<JsonNode?> values = obj.ContainsKey("const")
            ? [obj["const"]]
            : obj["enum"] is JsonArray e ? e.ToList() : throw new ArgumentException($"JSON schema 'enum' at {path} must be an array");
        var spellings = values.Where(v => types is null || types.Any(t => OfType(v, t)))
            .Select(v => Encoding.UTF8.GetBytes(Canonical(v))).DistinctBy(Convert.ToHexString).ToList();
        if (spellings.Count == 0) throw new ArgumentException($"JSON schema at {path}: no enum/const value matches the type");
        return _nfa.Choice(spellings.Select(s => _nfa.Literal(s)).ToList());
    }

    private static bool OfType(JsonNode? v, string type)
    {
        var kind = v?.GetValueKind() ?? JsonValueKind.Null;
        return type switch
        {
            "object" => kind == JsonValueKind.Object,
            "array" => kind == JsonValueKind.Array,
            "string" => kind == JsonValueKind.String,
            "number" => kind == JsonValueKind.Number,
            "integer" => kind == JsonValueKind.Number && double.TryParse(v!.ToJsonString(), System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out double d) && Math.Floor(d) == d && !double.IsInfinity(d),
            "boolean" => kind is JsonValueKind.True or JsonValueKind.False,
            _ => kind == JsonValueKind.Null,
        };
    }

    /// <summary>Compact JSON; strings with only the escapes JSON requires (", \ and control characters).</summary>
    internal static string Canonical(JsonNode? v)
    {
        var sb = new StringBuilder();
        Write(v, sb);
        return sb.ToString();

        static void Write(JsonNode? v, StringBuilder sb)
        {
            switch (v)
            {
                case null: sb.Append("null"); break;
                case JsonObject o:
                    sb.Append('{');
                    bool first = true;
                    foreach (var (k, item) in o)
                    {
                        if (!first) sb.Append(',');
                        first = false;
                        Quote(k, sb);
                        sb.Append(':');
                        Write(item, sb);
                    }
                    sb.Append('}');
                    break;
                case JsonArray a:
                    sb.Append('[');
                    for (int i = 0; i < a.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        Write(a[i], sb);
                    }
                    sb.Append(']');
                    break;
                default:
                    if (v.GetValueKind() == JsonValueKind.String) Quote(v.GetValue<string>(), sb);
                    else sb.Append(v.ToJsonString());
                    break;
            }
        }
    }

    internal static void Quote(string s, StringBuilder sb)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) ? i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]) : char.IsLowSurrogate(s[i]))
                throw new ArgumentException($"string \"{s}\" in the JSON schema holds a lone surrogate");
            if (char.IsHighSurrogate(s[i])) i++;
        }
        // Minimal escapes, as JSON serialisers write them: the one spelling the grammar accepts for this value.
        Text.Jinja.PyFormat.WriteJsonString(sb, s, ascii: false);
    }

    private static byte[] QuotedKey(string name)
    {
        var sb = new StringBuilder();
        Quote(name, sb);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>Nothing or one space (before the value, after ':' and ',').</summary>
    private Fragment Space() => _nfa.Optional(_nfa.Literal(" "));

    /// <summary>An object with the schema's properties in order (required always, optional ones maybe), or free-form without properties.</summary>
    private Fragment Object(JsonObject obj, string path)
    {
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (obj["required"] is { } req)
        {
            if (req is not JsonArray ra || ra.Any(r => r is not JsonValue rv || rv.GetValueKind() != JsonValueKind.String))
                throw new ArgumentException($"JSON schema 'required' at {path} must be an array of strings");
            foreach (var r in ra) required.Add(r!.GetValue<string>());
        }
        if (obj["properties"] is not { } propsNode)
        {
            if (required.Count > 0)
                throw new NotSupportedException($"JSON schema 'required' without 'properties' at {path} is not supported by constrained decoding");
            return FreeObject(0);
        }
        if (propsNode is not JsonObject props) throw new ArgumentException($"JSON schema 'properties' at {path} must be an object");
        foreach (var r in required)
        {
            if (!props.ContainsKey(r))
                throw new NotSupportedException($"JSON schema at {path}: required property '{r}' is not in 'properties' (not supported by constrained decoding)");
        }

        // none[i] / some[i]: before property i with no member written yet / with at least one written.
        var names = props.Select(p => p.Key).ToList();
        int n = names.Count;
        var none = new int[n + 1];
        var some = new int[n + 1];
        for (int i = 0; i <= n; i++)
        {
            none[i] = _nfa.NewState();
            some[i] = _nfa.NewState();
        }
        var open = _nfa.Literal("{");
        _nfa.Empty(open.End, none[0]);
        for (int i = 0; i < n; i++)
        {
            string name = names[i];
            if (!required.Contains(name))
            {
                _nfa.Empty(none[i], none[i + 1]);
                _nfa.Empty(some[i], some[i + 1]);
            }
            byte[] key = QuotedKey(name);
            var firstKey = _nfa.Literal(key);
            var laterKey = _nfa.Sequence(_nfa.Literal(","), Space(), _nfa.Literal(key));
            var colon = _nfa.Sequence(_nfa.Literal(":"), Space());
            var value = Schema(props[name], $"{path}/properties/{name}");
            _nfa.Empty(none[i], firstKey.Start);
            _nfa.Empty(some[i], laterKey.Start);
            _nfa.Empty(firstKey.End, colon.Start);
            _nfa.Empty(laterKey.End, colon.Start);
            _nfa.Empty(colon.End, value.Start);
            _nfa.Empty(value.End, some[i + 1]);
        }
        var close = _nfa.Literal("}");
        _nfa.Empty(none[n], close.Start);
        _nfa.Empty(some[n], close.Start);
        return new Fragment(open.Start, close.End);
    }

    private Fragment Array(JsonObject obj, string path)
    {
        int min = Count(obj, "minItems", path) ?? 0;
        int? max = Count(obj, "maxItems", path);
        if (max < min) throw new ArgumentException($"JSON schema at {path}: maxItems {max} is less than minItems {min}");
        var items = obj["items"];
        if (items is JsonArray) throw new NotSupportedException($"JSON schema 'items' as an array (tuple) at {path} is not supported by constrained decoding");
        Fragment Item() => items is null ? FreeValue(0) : Schema(items, path + "/items");
        return Elements(Item, min, max);
    }

    /// <summary>'[' items separated by ',' and maybe a space ']', with min..max items (max null: no bound).</summary>
    private Fragment Elements(Func<Fragment> item, int min, int? max)
    {
        var open = _nfa.Literal("[");
        var close = _nfa.Literal("]");
        if (min == 0) _nfa.Empty(open.End, close.Start);
        if (max == 0) return new Fragment(open.Start, close.End);
        int copies = max ?? Math.Max(min, 1);
        int at = open.End;
        Fragment last = default;
        for (int j = 1; j <= copies; j++)
        {
            var f = item();
            if (j == 1) _nfa.Empty(at, f.Start);
            else
            {
                var comma = _nfa.Sequence(_nfa.Literal(","), Space());
                _nfa.Empty(at, comma.Start);
                _nfa.Empty(comma.End, f.Start);
            }
            if (j >= min) _nfa.Empty(f.End, close.Start);
            at = f.End;
            last = f;
        }
        if (max is null)
        {
            var comma = _nfa.Sequence(_nfa.Literal(","), Space());
            _nfa.Empty(last.End, comma.Start);
            _nfa.Empty(comma.End, last.Start);
        }
        return new Fragment(open.Start, close.End);
    }

    private static int? Count(JsonObject obj, string key, string path)
    {
        if (obj[key] is not { } v) return null;
        if (v is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number && jv.TryGetValue(out int n) && n >= 0) return n;
        if (v is JsonValue dv && dv.GetValueKind() == JsonValueKind.Number && dv.TryGetValue(out double d) && d >= 0 && d == Math.Floor(d) && d <= int.MaxValue) return (int)d;
        throw new ArgumentException($"JSON schema '{key}' at {path} must be a non-negative integer");
    }

    // ---- free-form JSON ----

    /// <summary>Any JSON value; containers only while fewer than freeFormDepth enclose it.</summary>
    private Fragment FreeValue(int depth)
    {
        var options = new List<Fragment>
        {
            String(), Number(integer: false), _nfa.Literal("true"), _nfa.Literal("false"), _nfa.Literal("null"),
        };
        if (depth < _freeFormDepth)
        {
            options.Add(FreeObject(depth));
            options.Add(Elements(() => FreeValue(depth + 1), 0, null));
        }
        return _nfa.Choice(options);
    }

    /// <summary>Any JSON object (members "key": value, separated by ',' and maybe a space).</summary>
    private Fragment FreeObject(int depth)
    {
        var open = _nfa.Literal("{");
        var close = _nfa.Literal("}");
        var member = _nfa.Sequence(String(), _nfa.Literal(":"), Space(), FreeValue(depth + 1));
        var comma = _nfa.Sequence(_nfa.Literal(","), Space());
        _nfa.Empty(open.End, close.Start);
        _nfa.Empty(open.End, member.Start);
        _nfa.Empty(member.End, close.Start);
        _nfa.Empty(member.End, comma.Start);
        _nfa.Empty(comma.End, member.Start);
        return new Fragment(open.Start, close.End);
    }

    // ---- scalars ----

    private const int MaxIntegerDigits = 16, MaxFractionDigits = 16, MaxExponentDigits = 2;

    /// <summary>-?(0|[1-9][0-9]{0,15}), then for numbers (\.[0-9]{1,16})?([eE][+-]?[0-9]{1,2})?.</summary>
    private Fragment Number(bool integer)
    {
        var digit = ((byte)'0', (byte)'9');
        var sign = _nfa.Optional(_nfa.Literal("-"));
        var whole = _nfa.Choice([
            _nfa.Literal("0"),
            _nfa.Sequence(_nfa.Bytes(((byte)'1', (byte)'9')), _nfa.Repeat(() => _nfa.Bytes(digit), 0, MaxIntegerDigits - 1)),
        ]);
        if (integer) return _nfa.Sequence(sign, whole);
        var fraction = _nfa.Optional(_nfa.Sequence(_nfa.Literal("."), _nfa.Repeat(() => _nfa.Bytes(digit), 1, MaxFractionDigits)));
        var exponent = _nfa.Optional(_nfa.Sequence(
            _nfa.Bytes(((byte)'e', (byte)'e'), ((byte)'E', (byte)'E')),
            _nfa.Optional(_nfa.Bytes(((byte)'+', (byte)'+'), ((byte)'-', (byte)'-'))),
            _nfa.Repeat(() => _nfa.Bytes(digit), 1, MaxExponentDigits)));
        return _nfa.Sequence(sign, whole, fraction, exponent);
    }

    /// <summary>A JSON string: valid UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF), no raw control characters, JSON escapes.</summary>
    private Fragment String()
    {
        var n = _nfa;
        int open = n.NewState(), body = n.NewState(), end = n.NewState();
        n.Edge(open, '"', body);
        n.Edge(body, '"', end);
        n.Edge(body, 0x20, 0x21, body);
        n.Edge(body, 0x23, 0x5B, body);
        n.Edge(body, 0x5D, 0x7F, body);

        // UTF-8: states waiting for 1, 2 or 3 continuation bytes, and the four lead bytes with a narrower second byte.
        int need1 = n.NewState(), need2 = n.NewState(), need3 = n.NewState();
        n.Edge(need1, 0x80, 0xBF, body);
        n.Edge(need2, 0x80, 0xBF, need1);
        n.Edge(need3, 0x80, 0xBF, need2);
        n.Edge(body, 0xC2, 0xDF, need1);
        int e0 = n.NewState(), ed = n.NewState(), f0 = n.NewState(), f4 = n.NewState();
        n.Edge(body, 0xE0, 0xE0, e0);
        n.Edge(e0, 0xA0, 0xBF, need1);
        n.Edge(body, 0xE1, 0xEC, need2);
        n.Edge(body, 0xED, 0xED, ed);
        n.Edge(ed, 0x80, 0x9F, need1);
        n.Edge(body, 0xEE, 0xEF, need2);
        n.Edge(body, 0xF0, 0xF0, f0);
        n.Edge(f0, 0x90, 0xBF, need2);
        n.Edge(body, 0xF1, 0xF3, need3);
        n.Edge(body, 0xF4, 0xF4, f4);
        n.Edge(f4, 0x80, 0x8F, need2);

        // Escapes: \" \\ \/ \b \f \n \r \t, and \uXXXX where a high surrogate must be followed by \u and a low one.
        int esc = n.NewState();
        n.Edge(body, '\\', esc);
        foreach (char c in "\"\\/bfnrt") n.Edge(esc, c, body);
        int u = n.NewState(), hex3 = n.NewState(), hex2 = n.NewState(), hex1 = n.NewState();
        n.Edge(esc, 'u', u);
        void Hex(int from, int to, string digits)
        {
            foreach (char c in digits) n.Edge(from, c, to);
        }
        Hex(u, hex3, "0123456789ABCEFabcef");   // not D: no surrogate
        Hex(hex3, hex2, "0123456789ABCDEFabcdef");
        Hex(hex2, hex1, "0123456789ABCDEFabcdef");
        Hex(hex1, body, "0123456789ABCDEFabcdef");
        int d = n.NewState();
        Hex(u, d, "Dd");
        Hex(d, hex2, "01234567");                 // D000-D7FF
        int high2 = n.NewState(), high1 = n.NewState(), high0 = n.NewState(), slash = n.NewState(), lowU = n.NewState(), lowD = n.NewState();
        Hex(d, high2, "89ABab");                  // D800-DBFF: a high surrogate
        Hex(high2, high1, "0123456789ABCDEFabcdef");
        Hex(high1, high0, "0123456789ABCDEFabcdef");
        n.Edge(high0, '\\', slash);
        n.Edge(slash, 'u', lowU);
        Hex(lowU, lowD, "Dd");
        Hex(lowD, hex2, "CDEFcdef");              // DC00-DFFF: the low surrogate
        return new Fragment(open, end);
    }
}
