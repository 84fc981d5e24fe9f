using System.Globalization;
using System.Text;

namespace Scalpel.Tests.IO;

/// <summary>
/// The handful of Go text/template constructs Scalpel's Ollama templates use, interpreted as Go's documentation
/// defines them, to render a Modelfile TEMPLATE in tests: text; <c>{{- … -}}</c> trim markers; <c>{{ pipeline }}</c>
/// output; <c>if / else if / else / end</c>; <c>range PIPE</c> and <c>range $i, $x := PIPE</c>; <c>$x := …</c> and
/// <c>$x = …</c>; operands <c>.</c>, <c>.Field</c>, <c>$</c>, <c>$.Field</c>, <c>$x</c>, <c>$x.Field</c>, string, int and bool
/// literals, parenthesised commands; functions eq, ne, and, or, not, len, slice. Anything else is an error, never
/// guessed at. Written here, so it proves the templates mean what we read Go's rules to say, not what Ollama's Go
/// binary does with them.
/// </summary>
public static class GoTemplate
{
    public sealed class GoTemplateException(string message) : Exception(message);

    public static string Render(string template, IReadOnlyDictionary<string, object?> data)
    {
        var nodes = Parse(Lex(template));
        var output = new StringBuilder();
        var scopes = new List<Dictionary<string, object?>> { new() { ["$"] = data } };
        Execute(nodes, data, scopes, output);
        return output.ToString();
    }

    // ── lexing: text and actions, with Go's trim markers ──

    private abstract record Token;
    private sealed record Text(string Value) : Token;
    private sealed record Action(string Body) : Token;

    private static List<Token> Lex(string source)
    {
        var tokens = new List<Token>();
        int pos = 0;
        while (pos < source.Length)
        {
            int open = source.IndexOf("{{", pos, StringComparison.Ordinal);
            if (open < 0) { tokens.Add(new Text(source[pos..])); break; }
            string text = source[pos..open];
            int bodyStart = open + 2;
            if (source.Length > open + 3 && source[open + 2] == '-' && char.IsWhiteSpace(source[open + 3]))
            {
                text = text.TrimEnd(' ', '\t', '\r', '\n');
                bodyStart = open + 3;
            }
            tokens.Add(new Text(text));
            int close = source.IndexOf("}}", bodyStart, StringComparison.Ordinal);
            if (close < 0) throw new GoTemplateException($"unclosed action at {open}");
            int bodyEnd = close;
            pos = close + 2;
            if (close >= 2 && source[close - 1] == '-' && char.IsWhiteSpace(source[close - 2]))
            {
                bodyEnd = close - 1;
                while (pos < source.Length && source[pos] is ' ' or '\t' or '\r' or '\n') pos++;
            }
            tokens.Add(new Action(source[bodyStart..bodyEnd].Trim()));
        }
        return tokens;
    }

    // ── parsing into a tree ──

    private abstract record Node;
    private sealed record TextNode(string Value) : Node;
    private sealed record OutputNode(Expr Pipe) : Node;
    private sealed record AssignNode(string Variable, bool Declare, Expr Pipe) : Node;
    private sealed record IfNode(Expr Condition, List<Node> Then, List<Node> Else) : Node;
    private sealed record RangeNode(string? IndexVar, string? ElementVar, Expr Over, List<Node> Body) : Node;

    private static List<Node> Parse(List<Token> tokens)
    {
        int i = 0;
        var nodes = ParseList(tokens, ref i, out string? terminator);
        if (terminator is not null) throw new GoTemplateException($"unexpected {{{{{terminator}}}}}");
        return nodes;
    }

    /// <summary>Nodes up to an else/end (returned in <paramref name="terminator"/>) or the end of input.</summary>
    private static List<Node> ParseList(List<Token> tokens, ref int i, out string? terminator)
    {
        var nodes = new List<Node>();
        terminator = null;
        while (i < tokens.Count)
        {
            var token = tokens[i++];
            if (token is Text t) { if (t.Value.Length > 0) nodes.Add(new TextNode(t.Value)); continue; }
            string body = ((Action)token).Body;
            if (body == "end" || body == "else" || body.StartsWith("else if ", StringComparison.Ordinal)) { terminator = body; return nodes; }
            if (body.StartsWith("if ", StringComparison.Ordinal)) nodes.Add(ParseIf(body[3..], tokens, ref i));
            else if (body.StartsWith("range ", StringComparison.Ordinal))
            {
                string spec = body[6..].Trim();
                string? indexVar = null, elementVar = null;
                int decl = spec.IndexOf(":=", StringComparison.Ordinal);
                if (decl >= 0)
                {
                    var vars = spec[..decl].Split(',', StringSplitOptions.TrimEntries);
                    if (vars.Length == 2) (indexVar, elementVar) = (vars[0], vars[1]);
                    else if (vars.Length == 1) elementVar = vars[0];
                    else throw new GoTemplateException($"bad range declaration '{body}'");
                    spec = spec[(decl + 2)..];
                }
                var rangeBody = ParseList(tokens, ref i, out string? end);
                if (end != "end") throw new GoTemplateException($"range without end (found {end ?? "end of template"}); range-else is not supported");
                nodes.Add(new RangeNode(indexVar, elementVar, ParseExpression(spec), rangeBody));
            }
            else if (body.StartsWith('$') && (body.Contains(":=", StringComparison.Ordinal) || body.Contains(" = ", StringComparison.Ordinal)))
            {
                bool declare = body.Contains(":=", StringComparison.Ordinal);
                int at = declare ? body.IndexOf(":=", StringComparison.Ordinal) : body.IndexOf(" = ", StringComparison.Ordinal);
                nodes.Add(new AssignNode(body[..at].Trim(), declare, ParseExpression(body[(at + (declare ? 2 : 3))..])));
            }
            else if (body.StartsWith("/*", StringComparison.Ordinal) || body.StartsWith("define", StringComparison.Ordinal)
                     || body.StartsWith("template", StringComparison.Ordinal) || body.StartsWith("with", StringComparison.Ordinal)
                     || body.StartsWith("block", StringComparison.Ordinal))
                throw new GoTemplateException($"'{body}' is not supported by this interpreter");
            else nodes.Add(new OutputNode(ParseExpression(body)));
        }
        return nodes;
    }

    private static IfNode ParseIf(string condition, List<Token> tokens, ref int i)
    {
        var then = ParseList(tokens, ref i, out string? terminator);
        var otherwise = new List<Node>();
        if (terminator == "else")
        {
            otherwise = ParseList(tokens, ref i, out terminator);
            if (terminator != "end") throw new GoTemplateException("if-else without end");
        }
        else if (terminator is not null && terminator.StartsWith("else if ", StringComparison.Ordinal))
            otherwise = [ParseIf(terminator[8..], tokens, ref i)];   // the chained if shares this if's end
        else if (terminator != "end") throw new GoTemplateException("if without end");
        return new IfNode(ParseExpression(condition), then, otherwise);
    }

    // ── expressions: one command (no '|' pipelines) ──

    private abstract record Expr;
    private sealed record Literal(object? Value) : Expr;
    private sealed record Field(string? Variable, string[] Path) : Expr;   // Variable null = dot
    private sealed record Call(string Function, List<Expr> Args) : Expr;

    private static readonly HashSet<string> Functions = ["eq", "ne", "and", "or", "not", "len", "slice"];

    private static Expr ParseExpression(string text)
    {
        if (text.Contains('|')) throw new GoTemplateException($"pipelines ('{text}') are not supported");
        int pos = 0;
        var words = new List<Expr>();
        var names = new List<string?>();
        while (true)
        {
            SkipSpace(text, ref pos);
            if (pos >= text.Length) break;
            var (expr, name) = ParseOperand(text, ref pos);
            words.Add(expr);
            names.Add(name);
        }
        if (words.Count == 0) throw new GoTemplateException("empty command");
        if (names[0] is { } fn) return new Call(fn, words.Skip(1).ToList());
        if (words.Count > 1) throw new GoTemplateException($"'{text}': only a function takes arguments");
        return words[0];
    }

    private static void SkipSpace(string text, ref int pos)
    {
        while (pos < text.Length && char.IsWhiteSpace(text[pos])) pos++;
    }

    /// <summary>One operand; a bare identifier comes back as a function name.</summary>
    private static (Expr Expr, string? Function) ParseOperand(string text, ref int pos)
    {
        char c = text[pos];
        if (c == '(')
        {
            int depth = 0, start = pos;
            bool inString = false;
            for (; pos < text.Length; pos++)
            {
                if (inString) { if (text[pos] == '\\') pos++; else if (text[pos] == '"') inString = false; continue; }
                if (text[pos] == '"') inString = true;
                else if (text[pos] == '(') depth++;
                else if (text[pos] == ')' && --depth == 0) break;
            }
            if (pos >= text.Length) throw new GoTemplateException($"unbalanced parentheses in '{text}'");
            pos++;
            return (ParseExpression(text[(start + 1)..(pos - 1)]), null);
        }
        if (c == '"')
        {
            var sb = new StringBuilder();
            pos++;
            while (pos < text.Length && text[pos] != '"')
            {
                if (text[pos] == '\\')
                {
                    pos++;
                    sb.Append(text[pos] switch { 'n' => '\n', 't' => '\t', '"' => '"', '\\' => '\\', _ => throw new GoTemplateException($"escape \\{text[pos]}") });
                }
                else sb.Append(text[pos]);
                pos++;
            }
            if (pos >= text.Length) throw new GoTemplateException($"unterminated string in '{text}'");
            pos++;
            return (new Literal(sb.ToString()), null);
        }
        int begin = pos;
        while (pos < text.Length && !char.IsWhiteSpace(text[pos]) && text[pos] != '(' && text[pos] != ')') pos++;
        string word = text[begin..pos];
        if (word == ".") return (new Field(null, []), null);
        if (word.StartsWith('.')) return (new Field(null, word[1..].Split('.')), null);
        if (word.StartsWith('$'))
        {
            int dot = word.IndexOf('.');
            return dot < 0 ? (new Field(word, []), null) : (new Field(word[..dot], word[(dot + 1)..].Split('.')), null);
        }
        if (word is "true" or "false") return (new Literal(word == "true"), null);
        if (int.TryParse(word, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n)) return (new Literal(n), null);
        if (Functions.Contains(word)) return (new Literal(null), word);
        throw new GoTemplateException($"'{word}' is not supported by this interpreter");
    }

    // ── execution ──

    private static void Execute(List<Node> nodes, object? dot, List<Dictionary<string, object?>> scopes, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Value);
                    break;
                case OutputNode o:
                    output.Append(Print(Evaluate(o.Pipe, dot, scopes)));
                    break;
                case AssignNode a:
                    object? value = Evaluate(a.Pipe, dot, scopes);
                    if (a.Declare) scopes[^1][a.Variable] = value;
                    else (scopes.LastOrDefault(s => s.ContainsKey(a.Variable)) ?? throw new GoTemplateException($"undefined variable {a.Variable}"))[a.Variable] = value;
                    break;
                case IfNode f:
                    scopes.Add([]);
                    Execute(Truth(Evaluate(f.Condition, dot, scopes)) ? f.Then : f.Else, dot, scopes, output);
                    scopes.RemoveAt(scopes.Count - 1);
                    break;
                case RangeNode r:
                    if (Evaluate(r.Over, dot, scopes) is not System.Collections.IList list) throw new GoTemplateException("range over a non-list");
                    for (int i = 0; i < list.Count; i++)
                    {
                        var scope = new Dictionary<string, object?>();
                        if (r.IndexVar is not null) scope[r.IndexVar] = i;
                        if (r.ElementVar is not null) scope[r.ElementVar] = list[i];
                        scopes.Add(scope);
                        Execute(r.Body, list[i], scopes, output);
                        scopes.RemoveAt(scopes.Count - 1);
                    }
                    break;
            }
        }
    }

    private static object? Evaluate(Expr expr, object? dot, List<Dictionary<string, object?>> scopes)
    {
        switch (expr)
        {
            case Literal l:
                return l.Value;
            case Field f:
            {
                object? value = dot;
                if (f.Variable is not null)
                    value = (scopes.LastOrDefault(s => s.ContainsKey(f.Variable)) ?? throw new GoTemplateException($"undefined variable {f.Variable}"))[f.Variable];
                foreach (string name in f.Path)
                    value = value is IReadOnlyDictionary<string, object?> map
                        ? map.TryGetValue(name, out var v) ? v : throw new GoTemplateException($"no field {name}")
                        : throw new GoTemplateException($"field {name} of a non-map");
                return value;
            }
            case Call c:
            {
                object? Arg(int k) => Evaluate(c.Args[k], dot, scopes);
                switch (c.Function)
                {
                    case "and":
                    {
                        object? last = null;
                        for (int k = 0; k < c.Args.Count; k++) { last = Arg(k); if (!Truth(last)) return last; }
                        return last;
                    }
                    case "or":
                    {
                        object? last = null;
                        for (int k = 0; k < c.Args.Count; k++) { last = Arg(k); if (Truth(last)) return last; }
                        return last;
                    }
                    case "not": return !Truth(Arg(0));
                    case "eq":
                    {
                        object? first = Arg(0);
                        for (int k = 1; k < c.Args.Count; k++) if (Equals(first, Arg(k))) return true;
                        return false;
                    }
                    case "ne": return !Equals(Arg(0), Arg(1));
                    case "len":
                        return Arg(0) switch
                        {
                            string s => s.Length,
                            System.Collections.IList l => l.Count,
                            _ => throw new GoTemplateException("len of a non-list"),
                        };
                    case "slice":
                    {
                        if (Arg(0) is not System.Collections.IList l) throw new GoTemplateException("slice of a non-list");
                        int from = c.Args.Count > 1 ? (int)Arg(1)! : 0, to = c.Args.Count > 2 ? (int)Arg(2)! : l.Count;
                        return l.Cast<object?>().Skip(from).Take(to - from).ToList();
                    }
                }
                throw new GoTemplateException($"unknown function {c.Function}");
            }
        }
        throw new GoTemplateException("bad expression");
    }

    /// <summary>Go's truth: false, 0, nil and empty strings or lists are false.</summary>
    private static bool Truth(object? value) => value switch
    {
        null => false,
        bool b => b,
        int i => i != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    private static string Print(object? value) => value switch
    {
        null => "<no value>",
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        string s => s,
        _ => throw new GoTemplateException($"cannot print a {value.GetType().Name}"),
    };
}
