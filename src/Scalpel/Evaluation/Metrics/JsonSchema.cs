using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Evaluation.Metrics;

/// <summary>
/// A JSON Schema validator for the common subset of draft 2020-12 that structured-output schemas use (draft-06,
/// draft-07 and 2019-09 mean the same for this subset): <c>type</c>, <c>enum</c>, <c>const</c>, <c>properties</c>,
/// <c>required</c>, <c>additionalProperties</c>, <c>minProperties</c>/<c>maxProperties</c>, <c>items</c> (one schema for
/// every item), <c>minItems</c>/<c>maxItems</c>, <c>minLength</c>/<c>maxLength</c> (in code points),
/// <c>minimum</c>/<c>maximum</c>/<c>exclusiveMinimum</c>/<c>exclusiveMaximum</c>, <c>allOf</c>/<c>anyOf</c>/<c>oneOf</c>/<c>not</c>,
/// boolean schemas, and local <c>$ref</c>s (<c>#</c>, <c>#/$defs/...</c>, <c>#/definitions/...</c>). <c>format</c> is an
/// annotation, as draft 2020-12 makes it by default, and so are <c>title</c>, <c>description</c> and the like.
/// Any other keyword (<c>pattern</c>, <c>prefixItems</c>, <c>if</c>, ...) is an error when the schema is parsed,
/// never silently ignored. Numbers compare by value (1 equals 1.0); 1.0 is an integer.
/// Checked against the python-jsonschema package (Draft202012Validator) on random schemas and instances.
/// </summary>
public sealed class JsonSchema
{
    private const int MaxDepth = 256;

    public static IReadOnlyList<string> SupportedKeywords { get; } =
    [
        "type", "enum", "const", "properties", "required", "additionalProperties", "minProperties", "maxProperties",
        "items", "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "allOf", "anyOf", "oneOf", "not", "$ref", "$defs", "definitions",
    ];

    /// <summary>Keywords that do not constrain an instance.</summary>
    public static IReadOnlyList<string> AnnotationKeywords { get; } =
    [
        "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "format", "contentMediaType", "contentEncoding",
    ];

    private static readonly string[] TypeNames = ["null", "boolean", "object", "array", "number", "string", "integer"];

    private readonly JsonElement _root;
    private readonly Node _top;
    private readonly Dictionary<string, Node> _byPointer = [];

    private JsonSchema(JsonElement root)
    {
        _root = root;
        _top = Compile(root, "#");
        // $refs are resolved after the whole schema is compiled, so that a reference may point forward or to itself;
        // resolving one may compile more of the schema (a pointer to a non-schema position), with $refs of its own.
        while (_byPointer.Values.Where(n => n.RefPointer is not null && n.Ref is null).ToArray() is { Length: > 0 } pending)
            foreach (var node in pending) node.Ref = Resolve(node.RefPointer!, node.Location);
    }

    public static JsonSchema Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return new JsonSchema(doc.RootElement.Clone());
    }

    public static JsonSchema Parse(JsonNode schema) => Parse(schema.ToJsonString());

    public static JsonSchema Parse(JsonElement schema) => new(schema.Clone());

    public bool IsValid(JsonElement instance) => Validate(instance, maxErrors: 1).Count == 0;

    /// <summary>The ways <paramref name="instance"/> breaks the schema, each as "at PATH: message" (PATH a JSON pointer; empty if valid).</summary>
    public IReadOnlyList<string> Validate(JsonElement instance, int maxErrors = 10)
    {
        var errors = new List<string>();
        Check(_top, instance, "", errors, maxErrors, 0);
        return errors;
    }

    private sealed class Node(string location)
    {
        public string Location { get; } = location;
        public bool? Always;   // a boolean schema
        public string[]? Types;
        public JsonElement[]? Enum;
        public JsonElement? Const;
        public Dictionary<string, Node>? Properties;
        public string[]? Required;
        public Node? AdditionalProperties;
        public int? MinProperties, MaxProperties;
        public Node? Items;
        public int? MinItems, MaxItems, MinLength, MaxLength;
        public JsonElement? Minimum, Maximum, ExclusiveMinimum, ExclusiveMaximum;
        public Node[]? AllOf, AnyOf, OneOf;
        public Node? Not;
        public string? RefPointer;
        public Node? Ref;
    }

    private Node Compile(JsonElement schema, string location)
    {
        if (_byPointer.TryGetValue(location, out var existing)) return existing;
        var node = new Node(location);
        _byPointer[location] = node;
        if (schema.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            node.Always = schema.ValueKind == JsonValueKind.True;
            return node;
        }
        if (schema.ValueKind != JsonValueKind.Object) throw Bad(location, "a schema must be an object or a boolean");

        foreach (var property in schema.EnumerateObject())
        {
            string key = property.Name;
            JsonElement value = property.Value;
            string at = location + "/" + Escape(key);
            switch (key)
            {
                case "type":
                    node.Types = value.ValueKind == JsonValueKind.Array
                        ? [.. value.EnumerateArray().Select(t => TypeName(t, at))]
                        : [TypeName(value, at)];
                    if (node.Types.Length == 0) throw Bad(at, "'type' must name at least one type");
                    break;
                case "enum":
                    if (value.ValueKind != JsonValueKind.Array) throw Bad(at, "'enum' must be an array");
                    node.Enum = [.. value.EnumerateArray()];
                    break;
                case "const":
                    node.Const = value;
                    break;
                case "properties":
                    if (value.ValueKind != JsonValueKind.Object) throw Bad(at, "'properties' must be an object of schemas");
                    node.Properties = [];
                    foreach (var p in value.EnumerateObject()) node.Properties[p.Name] = Compile(p.Value, at + "/" + Escape(p.Name));
                    break;
                case "required":
                    if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
                        throw Bad(at, "'required' must be an array of strings");
                    node.Required = [.. value.EnumerateArray().Select(v => v.GetString()!)];
                    break;
                case "additionalProperties": node.AdditionalProperties = Compile(value, at); break;
                case "items":
                    if (value.ValueKind == JsonValueKind.Array)
                        throw Bad(at, "'items' as an array (tuple validation) is not supported; give one schema for every item");
                    node.Items = Compile(value, at);
                    break;
                case "minProperties": node.MinProperties = Count(value, at); break;
                case "maxProperties": node.MaxProperties = Count(value, at); break;
                case "minItems": node.MinItems = Count(value, at); break;
                case "maxItems": node.MaxItems = Count(value, at); break;
                case "minLength": node.MinLength = Count(value, at); break;
                case "maxLength": node.MaxLength = Count(value, at); break;
                case "minimum": node.Minimum = Number(value, at); break;
                case "maximum": node.Maximum = Number(value, at); break;
                case "exclusiveMinimum": node.ExclusiveMinimum = Number(value, at); break;
                case "exclusiveMaximum": node.ExclusiveMaximum = Number(value, at); break;
                case "allOf": node.AllOf = SchemaList(value, at); break;
                case "anyOf": node.AnyOf = SchemaList(value, at); break;
                case "oneOf": node.OneOf = SchemaList(value, at); break;
                case "not": node.Not = Compile(value, at); break;
                case "$ref":
                    if (value.ValueKind != JsonValueKind.String) throw Bad(at, "'$ref' must be a string");
                    string reference = value.GetString()!;
                    if (!reference.StartsWith('#'))
                        throw Bad(at, $"only references inside the schema ('#/$defs/...') are supported, not '{reference}'");
                    node.RefPointer = reference;
                    break;
                case "$defs" or "definitions":
                    if (value.ValueKind != JsonValueKind.Object) throw Bad(at, $"'{key}' must be an object of schemas");
                    foreach (var p in value.EnumerateObject()) Compile(p.Value, at + "/" + Escape(p.Name));
                    break;
                case "$schema":
                    string? uri = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                    if (uri is null || uri.Contains("draft-04") || uri.Contains("draft-03"))
                        throw Bad(at, $"'$schema' {value.GetRawText()} is not supported (draft-06 or later: integer and exclusive bounds differ in earlier drafts)");
                    break;
                default:
                    if (!AnnotationKeywords.Contains(key))
                        throw Bad(at, $"keyword '{key}' is not supported (supported: {string.Join(", ", SupportedKeywords)}; annotations: {string.Join(", ", AnnotationKeywords)})");
                    break;
            }
        }
        return node;
    }

    private Node[] SchemaList(JsonElement value, string at)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0) throw Bad(at, "must be a non-empty array of schemas");
        return [.. value.EnumerateArray().Select((s, i) => Compile(s, $"{at}/{i}"))];
    }

    private static string TypeName(JsonElement value, string at)
    {
        string? name = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        if (name is null || !TypeNames.Contains(name)) throw Bad(at, $"'type' must be one of {string.Join(", ", TypeNames)} (or an array of them), got {value.GetRawText()}");
        return name;
    }

    private static int Count(JsonElement value, string at)
    {
        if (value.ValueKind != JsonValueKind.Number || !JsonValues.IsInteger(value) || value.GetDouble() < 0 || value.GetDouble() > int.MaxValue)
            throw Bad(at, $"must be a non-negative integer, got {value.GetRawText()}");
        return (int)value.GetDouble();
    }

    private static JsonElement Number(JsonElement value, string at) =>
        value.ValueKind == JsonValueKind.Number ? value : throw Bad(at, $"must be a number, got {value.GetRawText()}");

    private Node Resolve(string reference, string from)
    {
        string pointer = Uri.UnescapeDataString(reference[1..]);
        if (pointer.Length > 0 && pointer[0] != '/') throw Bad(from, $"'$ref' {reference}: anchors are not supported, only JSON pointers");
        string location = "#" + string.Concat(pointer.Split('/').Skip(1).Select(s => "/" + Escape(Unescape(s))));
        if (_byPointer.TryGetValue(location, out var node)) return node;
        // A pointer into the schema that is not a subschema position we compiled (e.g. under an annotation): find it.
        JsonElement target = _root;
        foreach (string token in pointer.Split('/').Skip(1).Select(Unescape))
        {
            if (target.ValueKind == JsonValueKind.Object && target.TryGetProperty(token, out var child)) target = child;
            else if (target.ValueKind == JsonValueKind.Array && int.TryParse(token, out int index) && index >= 0 && index < target.GetArrayLength()) target = target[index];
            else throw Bad(from, $"'$ref' {reference} points to nothing in the schema");
        }
        return Compile(target, location);
    }

    private static string Escape(string token) => token.Replace("~", "~0").Replace("/", "~1");
    private static string Unescape(string token) => token.Replace("~1", "/").Replace("~0", "~");

    private static ArgumentException Bad(string location, string message) => new($"JSON schema at {location}: {message}");

    private bool Check(Node node, JsonElement instance, string path, List<string> errors, int maxErrors, int depth)
    {
        if (node.Always is { } always)
        {
            if (!always) Add(errors, maxErrors, path, "no value is allowed here (schema false)");
            return always;
        }
        if (depth > MaxDepth) throw new InvalidOperationException($"JSON schema recursion deeper than {MaxDepth} at {node.Location} (a $ref loop that never reaches a value?)");
        int before = errors.Count;

        if (node.Ref is { } target) Check(target, instance, path, errors, maxErrors, depth + 1);
        if (node.Types is { } types && !types.Any(t => HasType(instance, t)))
            Add(errors, maxErrors, path, $"expected {string.Join(" or ", types)}, got {Describe(instance)}");
        if (node.Enum is { } options && !options.Any(o => JsonValues.Equal(o, instance)))
            Add(errors, maxErrors, path, $"{Short(instance)} is not one of the enum values");
        if (node.Const is { } constant && !JsonValues.Equal(constant, instance))
            Add(errors, maxErrors, path, $"expected {Short(constant)}, got {Short(instance)}");

        switch (instance.ValueKind)
        {
            case JsonValueKind.Object:
                CheckObject(node, instance, path, errors, maxErrors, depth);
                break;
            case JsonValueKind.Array:
                int length = instance.GetArrayLength();
                if (length < node.MinItems) Add(errors, maxErrors, path, $"has {length} items, fewer than {node.MinItems}");
                if (length > node.MaxItems) Add(errors, maxErrors, path, $"has {length} items, more than {node.MaxItems}");
                if (node.Items is { } items)
                {
                    int i = 0;
                    foreach (var item in instance.EnumerateArray()) Check(items, item, $"{path}/{i++}", errors, maxErrors, depth + 1);
                }
                break;
            case JsonValueKind.String:
                int codePoints = instance.GetString()!.EnumerateRunes().Count();
                if (codePoints < node.MinLength) Add(errors, maxErrors, path, $"has {codePoints} characters, fewer than {node.MinLength}");
                if (codePoints > node.MaxLength) Add(errors, maxErrors, path, $"has {codePoints} characters, more than {node.MaxLength}");
                break;
            case JsonValueKind.Number:
                if (node.Minimum is { } min && JsonValues.CompareNumbers(instance, min) < 0) Add(errors, maxErrors, path, $"{instance.GetRawText()} is less than the minimum {min.GetRawText()}");
                if (node.Maximum is { } max && JsonValues.CompareNumbers(instance, max) > 0) Add(errors, maxErrors, path, $"{instance.GetRawText()} is more than the maximum {max.GetRawText()}");
                if (node.ExclusiveMinimum is { } xmin && JsonValues.CompareNumbers(instance, xmin) <= 0) Add(errors, maxErrors, path, $"{instance.GetRawText()} is not more than {xmin.GetRawText()}");
                if (node.ExclusiveMaximum is { } xmax && JsonValues.CompareNumbers(instance, xmax) >= 0) Add(errors, maxErrors, path, $"{instance.GetRawText()} is not less than {xmax.GetRawText()}");
                break;
        }

        if (node.AllOf is { } all)
            foreach (var sub in all) Check(sub, instance, path, errors, maxErrors, depth + 1);
        if (node.AnyOf is { } any && !any.Any(sub => Matches(sub, instance, depth)))
            Add(errors, maxErrors, path, "matches none of the anyOf schemas");
        if (node.OneOf is { } one)
        {
            int matching = one.Count(sub => Matches(sub, instance, depth));
            if (matching != 1) Add(errors, maxErrors, path, matching == 0 ? "matches none of the oneOf schemas" : $"matches {matching} of the oneOf schemas, not exactly one");
        }
        if (node.Not is { } not && Matches(not, instance, depth))
            Add(errors, maxErrors, path, "matches the schema under 'not'");
        return errors.Count == before;
    }

    private void CheckObject(Node node, JsonElement instance, string path, List<string> errors, int maxErrors, int depth)
    {
        int count = 0;
        foreach (var property in instance.EnumerateObject())
        {
            count++;
            string at = path + "/" + Escape(property.Name);
            if (node.Properties is { } props && props.TryGetValue(property.Name, out var sub)) Check(sub, property.Value, at, errors, maxErrors, depth + 1);
            else if (node.AdditionalProperties is { } extra)
            {
                if (extra.Always == false) Add(errors, maxErrors, at, "is not an allowed property");
                else Check(extra, property.Value, at, errors, maxErrors, depth + 1);
            }
        }
        if (node.Required is { } required)
            foreach (string name in required)
                if (!instance.TryGetProperty(name, out _)) Add(errors, maxErrors, path, $"is missing the required property '{name}'");
        if (count < node.MinProperties) Add(errors, maxErrors, path, $"has {count} properties, fewer than {node.MinProperties}");
        if (count > node.MaxProperties) Add(errors, maxErrors, path, $"has {count} properties, more than {node.MaxProperties}");
    }

    private bool Matches(Node node, JsonElement instance, int depth) => Check(node, instance, "", new List<string>(), 1, depth + 1);

    private static void Add(List<string> errors, int maxErrors, string path, string message)
    {
        if (errors.Count < maxErrors) errors.Add($"at {(path.Length == 0 ? "/" : path)}: {message}");
        else if (errors.Count == maxErrors) errors.Add("...");
    }

    private static bool HasType(JsonElement instance, string type) => type switch
    {
        "null" => instance.ValueKind == JsonValueKind.Null,
        "boolean" => instance.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "object" => instance.ValueKind == JsonValueKind.Object,
        "array" => instance.ValueKind == JsonValueKind.Array,
        "number" => instance.ValueKind == JsonValueKind.Number,
        "string" => instance.ValueKind == JsonValueKind.String,
        "integer" => instance.ValueKind == JsonValueKind.Number && JsonValues.IsInteger(instance),
        _ => false,
    };

    private static string Describe(JsonElement instance) => instance.ValueKind switch
    {
        JsonValueKind.Number => JsonValues.IsInteger(instance) ? "an integer" : "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        var kind => "a" + (kind == JsonValueKind.Object || kind == JsonValueKind.Array ? "n " : " ") + kind.ToString().ToLowerInvariant(),
    };

    private static string Short(JsonElement value)
    {
        string text = value.GetRawText();
        return text.Length <= 40 ? text : text[..37] + "...";
    }
}
