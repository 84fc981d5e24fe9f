namespace Scalpel.Text.Jinja;

/// <summary>Jinja2's parser (jinja2/parser.py), statement for statement, with the tags transformers enables:
/// the builtin ones, break/continue (loopcontrols) and generation (transformers' AssistantTracker).</summary>
internal sealed class Parser
{
    private const int MaxDepth = 400;

    private readonly SourceText _source;
    private readonly List<Token> _tokens;
    private int _index;
    private int _depth;
    private readonly List<string> _endTokenStack = [];

    private Parser(SourceText source, List<Token> tokens)
    {
        _source = source;
        _tokens = tokens;
    }

    public static List<Stmt> Parse(SourceText source)
    {
        var parser = new Parser(source, Lexer.Tokenize(source));
        var body = parser.Subparse(null);
        Validator.Check(source, body);
        return body;
    }

    // ---------------------------------------------------------------- token stream

    private Token Current => _tokens[_index];
    private Token Look => _tokens[Math.Min(_index + 1, _tokens.Count - 1)];
    private Token Next() { var t = _tokens[_index]; if (_index < _tokens.Count - 1) _index++; return t; }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Next();
        return true;
    }

    private bool SkipOp(string op)
    {
        if (!Current.IsOp(op)) return false;
        Next();
        return true;
    }

    private TemplateException Fail(string message, int? offset = null) => _source.Error(offset ?? Current.Offset, message);

    private static string Describe(Token t) => t.Type switch
    {
        TokenType.Eof => "end of template",
        TokenType.VariableBegin => "begin of print statement",
        TokenType.VariableEnd => "end of print statement",
        TokenType.BlockBegin => "begin of statement block",
        TokenType.BlockEnd => "end of statement block",
        TokenType.Data => "template data / text",
        TokenType.Name or TokenType.Operator => t.Text,
        TokenType.String => "string",
        TokenType.Integer => "integer",
        TokenType.Float => "float",
        _ => t.Text,
    };

    private static string DescribeExpected(TokenType type, string? value) => value ?? type switch
    {
        TokenType.VariableEnd => "end of print statement",
        TokenType.BlockEnd => "end of statement block",
        TokenType.Name => "name",
        TokenType.Eof => "end of template",
        _ => type.ToString(),
    };

    private Token Expect(TokenType type, string? value = null)
    {
        var t = Current;
        if (t.Type == type && (value is null || t.Text == value)) return Next();
        string expected = DescribeExpected(type, value);
        if (t.Type == TokenType.Eof) throw Fail($"unexpected end of template, expected '{expected}'.");
        throw Fail($"expected token '{expected}', got '{Describe(t)}'");
    }

    private Token ExpectOp(string op) => Expect(TokenType.Operator, op);

    private void Enter()
    {
        if (++_depth > MaxDepth || !System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Fail("template nesting is too deep");
    }

    // ---------------------------------------------------------------- statements

    private List<Stmt> Subparse(string[]? endTokens)
    {
        var body = new List<Stmt>();
        if (endTokens is not null) _endTokenStack.AddRange(endTokens);
        try
        {
            while (Current.Type != TokenType.Eof)
            {
                var t = Current;
                switch (t.Type)
                {
                    case TokenType.Data:
                        Next();
                        body.Add(new TextStmt(t.Offset, t.Text));
                        break;
                    case TokenType.VariableBegin:
                    {
                        Next();
                        var e = ParseTuple(withCondExpr: true);
                        Expect(TokenType.VariableEnd);
                        body.Add(new PrintStmt(e.Offset, e));
                        break;
                    }
                    case TokenType.BlockBegin:
                    {
                        Next();
                        if (endTokens is not null && Current.Type == TokenType.Name && endTokens.Contains(Current.Text)) return body;
                        body.Add(ParseStatement());
                        Expect(TokenType.BlockEnd);
                        break;
                    }
                    default:
                        throw Fail("internal parsing error");
                }
            }
            if (endTokens is not null) throw FailEof(endTokens);
            return body;
        }
        finally
        {
            if (endTokens is not null) _endTokenStack.RemoveRange(_endTokenStack.Count - endTokens.Length, endTokens.Length);
        }
    }

    private TemplateException FailEof(string[] endTokens) =>
        Fail($"Unexpected end of template. Jinja was looking for the following tags: {string.Join(" or ", endTokens.Select(x => $"'{x}'"))}. " +
             $"The innermost block that needs to be closed is '{BlockName(endTokens)}'.");

    private static string BlockName(string[] endTokens) => endTokens[0].StartsWith("end", StringComparison.Ordinal) ? endTokens[0][3..] : endTokens[^1][3..];

    private List<Stmt> ParseStatements(string[] endTokens, bool dropNeedle)
    {
        SkipOp(":");
        Expect(TokenType.BlockEnd);
        var body = Subparse(endTokens);
        if (Current.Type == TokenType.Eof) throw FailEof(endTokens);
        if (dropNeedle) Next();
        return body;
    }

    private Stmt ParseStatement()
    {
        var t = Current;
        if (t.Type != TokenType.Name) throw Fail("tag name expected");
        Enter();
        try
        {
            switch (t.Text)
            {
                case "for": return ParseFor();
                case "if": return ParseIf();
                case "set": return ParseSet();
                case "macro": return ParseMacro();
                case "call": return ParseCallBlock();
                case "filter": return ParseFilterBlock();
                case "with": return ParseWith();
                case "break": Next(); return new BreakStmt(t.Offset);
                case "continue": Next(); return new ContinueStmt(t.Offset);
                case "generation":
                {
                    Next();
                    var body = ParseStatements(["endgeneration"], dropNeedle: true);
                    return new GenerationStmt(t.Offset, body);
                }
                case "block" or "extends" or "include" or "import" or "from" or "autoescape" or "print" or "do":
                    throw Fail(t.Text is "do" or "print"
                        ? $"Encountered unknown tag '{t.Text}'."
                        : $"the '{t.Text}' tag is not supported in chat templates (transformers renders them without a template loader)");
                default:
                    if (_endTokenStack.Count > 0)
                    {
                        var expected = _endTokenStack.Distinct().Select(x => $"'{x}'");
                        throw Fail($"Encountered unknown tag '{t.Text}'. Jinja was looking for the following tags: {string.Join(" or ", expected)}. " +
                                   $"The innermost block that needs to be closed is '{BlockName([.. _endTokenStack.TakeLast(1)])}'.");
                    }
                    throw Fail($"Encountered unknown tag '{t.Text}'.");
            }
        }
        finally { _depth--; }
    }

    private Stmt ParseFor()
    {
        int offset = Next().Offset;
        var target = ParseAssignTarget(extraEndRules: ["in"]);
        Expect(TokenType.Name, "in");
        var iter = ParseTuple(withCondExpr: false, extraEndRules: ["recursive"]);
        Expr? filter = null;
        if (SkipName("if")) filter = ParseExpression();
        bool recursive = SkipName("recursive");
        var body = ParseStatements(["endfor", "else"], dropNeedle: false);
        List<Stmt>? elseBody = null;
        if (Next().Text != "endfor") elseBody = ParseStatements(["endfor"], dropNeedle: true);
        return new ForStmt(offset, target, iter, filter, body, elseBody, recursive);
    }

    private Stmt ParseIf()
    {
        int offset = Next().Offset;
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? elseBody = null;
        while (true)
        {
            var test = ParseTuple(withCondExpr: false);
            var body = ParseStatements(["elif", "else", "endif"], dropNeedle: false);
            branches.Add((test, body));
            var token = Next();
            if (token.Text == "elif") continue;
            if (token.Text == "else") elseBody = ParseStatements(["endif"], dropNeedle: true);
            break;
        }
        return new IfStmt(offset, branches, elseBody);
    }

    private Stmt ParseSet()
    {
        int offset = Next().Offset;
        var target = ParseAssignTarget(withNamespace: true);
        if (SkipOp("=")) return new SetStmt(offset, target, ParseTuple(withCondExpr: true));
        var filter = ParseFilter(null) as FilterExpr;
        var body = ParseStatements(["endset"], dropNeedle: true);
        return new SetBlockStmt(offset, target, filter, body);
    }

    private (List<string> Names, List<Expr?> Defaults) ParseSignature()
    {
        var names = new List<string>();
        var defaults = new List<Expr?>();
        ExpectOp("(");
        while (!Current.IsOp(")"))
        {
            if (names.Count > 0) ExpectOp(",");
            var arg = Expect(TokenType.Name);
            if (SkipOp("=")) defaults.Add(ParseExpression());
            else if (defaults.Any(d => d is not null)) throw Fail("non-default argument follows default argument", arg.Offset);
            else defaults.Add(null);
            names.Add(arg.Text);
        }
        ExpectOp(")");
        return (names, defaults);
    }

    private Stmt ParseMacro()
    {
        int offset = Next().Offset;
        string name = Expect(TokenType.Name).Text;
        var (names, defaults) = ParseSignature();
        var body = ParseStatements(["endmacro"], dropNeedle: true);
        return Validator.AnnotateMacro(new MacroStmt(offset, name, names, defaults, body));
    }

    private Stmt ParseCallBlock()
    {
        int offset = Next().Offset;
        var (names, defaults) = Current.IsOp("(") ? ParseSignature() : ([], []);
        var call = ParseExpression();
        if (call is not CallExpr callExpr) throw Fail("expected call", call.Offset);
        var body = ParseStatements(["endcall"], dropNeedle: true);
        return new CallBlockStmt(offset, callExpr, Validator.AnnotateMacro(new MacroStmt(offset, "caller", names, defaults, body)));
    }

    private Stmt ParseFilterBlock()
    {
        int offset = Next().Offset;
        var filter = (FilterExpr)ParseFilter(null, startInline: true)!;
        var body = ParseStatements(["endfilter"], dropNeedle: true);
        return new FilterBlockStmt(offset, filter, body);
    }

    private Stmt ParseWith()
    {
        int offset = Next().Offset;
        var assignments = new List<(Expr, Expr)>();
        while (Current.Type != TokenType.BlockEnd)
        {
            if (assignments.Count > 0) ExpectOp(",");
            var target = ParseAssignTarget();
            ExpectOp("=");
            assignments.Add((target, ParseExpression()));
        }
        var body = ParseStatements(["endwith"], dropNeedle: true);
        return new WithStmt(offset, assignments, body);
    }

    private Expr ParseAssignTarget(bool withTuple = true, bool withNamespace = false, string[]? extraEndRules = null)
    {
        Expr target;
        if (withNamespace && Current.Type == TokenType.Name && Look.IsOp("."))
        {
            var name = Next();
            Next();
            var attr = Expect(TokenType.Name);
            return new NamespaceRefExpr(name.Offset, name.Text, attr.Text);
        }
        target = withTuple ? ParseTuple(simplified: true, extraEndRules: extraEndRules) : ParsePrimary();
        if (!CanAssign(target)) throw Fail($"can't assign to '{target.GetType().Name.Replace("Expr", "").ToLowerInvariant()}'", target.Offset);
        return target;
    }

    private static bool CanAssign(Expr e) => e switch
    {
        NameExpr n => n.Name is not ("true" or "false" or "none" or "True" or "False" or "None"),
        TupleExpr t => t.Items.All(CanAssign),
        _ => false,
    };

    // ---------------------------------------------------------------- expressions

    private Expr ParseExpression(bool withCondExpr = true) => withCondExpr ? ParseCondExpr() : ParseOr();

    private Expr ParseCondExpr()
    {
        Enter();
        try
        {
            var expr1 = ParseOr();
            while (Current.IsName("if"))
            {
                int offset = Next().Offset;
                var expr2 = ParseOr();
                Expr? expr3 = SkipName("else") ? ParseCondExpr() : null;
                expr1 = new CondExpr(offset, expr2, expr1, expr3);
            }
            return expr1;
        }
        finally { _depth--; }
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) { int o = Next().Offset; left = new BinaryExpr(o, "or", left, ParseAnd()); }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) { int o = Next().Offset; left = new BinaryExpr(o, "and", left, ParseNot()); }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            int o = Next().Offset;
            Enter();
            try { return new UnaryExpr(o, "not", ParseNot()); } finally { _depth--; }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var expr = ParseMath1();
        var ops = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Type == TokenType.Operator && t.Text is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                Next();
                ops.Add((t.Text, ParseMath1()));
            }
            else if (SkipName("in")) ops.Add(("in", ParseMath1()));
            else if (t.IsName("not") && Look.IsName("in")) { Next(); Next(); ops.Add(("notin", ParseMath1())); }
            else break;
        }
        return ops.Count == 0 ? expr : new CompareExpr(expr.Offset, expr, ops);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Type == TokenType.Operator && Current.Text is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Text, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var parts = new List<Expr> { ParseMath2() };
        while (Current.IsOp("~")) { Next(); parts.Add(ParseMath2()); }
        return parts.Count == 1 ? parts[0] : new ConcatExpr(parts[0].Offset, parts);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Type == TokenType.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Text, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOp("**")) { var op = Next(); left = new BinaryExpr(op.Offset, "**", left, ParseUnary()); }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        Enter();
        try
        {
            var t = Current;
            Expr node;
            if (t.IsOp("-")) { Next(); node = new UnaryExpr(t.Offset, "-", ParseUnary(false)); }
            else if (t.IsOp("+")) { Next(); node = new UnaryExpr(t.Offset, "+", ParseUnary(false)); }
            else node = ParsePrimary();
            node = ParsePostfix(node);
            if (withFilter) node = ParseFilterExpr(node);
            return node;
        }
        finally { _depth--; }
    }

    private Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Type)
        {
            case TokenType.Name:
                Next();
                return t.Text switch
                {
                    "true" or "True" => new ConstExpr(t.Offset, true),
                    "false" or "False" => new ConstExpr(t.Offset, false),
                    "none" or "None" => new ConstExpr(t.Offset, null),
                    _ => new NameExpr(t.Offset, t.Text),
                };
            case TokenType.String:
            {
                Next();
                string s = (string)t.Value!;
                while (Current.Type == TokenType.String) s += (string)Next().Value!;
                return new ConstExpr(t.Offset, s);
            }
            case TokenType.Integer:
            case TokenType.Float:
                Next();
                return new ConstExpr(t.Offset, t.Value);
            case TokenType.Operator when t.Text == "(":
            {
                Next();
                var e = ParseTuple(explicitParentheses: true);
                ExpectOp(")");
                return e;
            }
            case TokenType.Operator when t.Text == "[":
            {
                Next();
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0) ExpectOp(",");
                    if (Current.IsOp("]")) break;
                    items.Add(ParseExpression());
                }
                ExpectOp("]");
                return new ListExpr(t.Offset, items);
            }
            case TokenType.Operator when t.Text == "{":
            {
                Next();
                var items = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (items.Count > 0) ExpectOp(",");
                    if (Current.IsOp("}")) break;
                    var key = ParseExpression();
                    ExpectOp(":");
                    items.Add((key, ParseExpression()));
                }
                ExpectOp("}");
                return new DictExpr(t.Offset, items);
            }
            case TokenType.Eof:
                throw Fail("unexpected end of template, expected an expression.");
            default:
                throw Fail($"unexpected '{Describe(t)}'");
        }
    }

    private bool IsTupleEnd(string[]? extraEndRules)
    {
        var t = Current;
        if (t.Type is TokenType.VariableEnd or TokenType.BlockEnd || t.IsOp(")")) return true;
        return extraEndRules is not null && t.Type == TokenType.Name && extraEndRules.Contains(t.Text);
    }

    private Expr ParseTuple(bool simplified = false, bool withCondExpr = true, string[]? extraEndRules = null, bool explicitParentheses = false)
    {
        int offset = Current.Offset;
        var args = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (args.Count > 0) ExpectOp(",");
            if (IsTupleEnd(extraEndRules)) break;
            args.Add(simplified ? ParsePrimary() : ParseExpression(withCondExpr));
            if (Current.IsOp(",")) isTuple = true; else break;
        }
        if (!isTuple)
        {
            if (args.Count > 0) return args[0];
            if (!explicitParentheses) throw Fail($"Expected an expression, got '{Describe(Current)}'");
        }
        return new TupleExpr(offset, args);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp(".") || t.IsOp("[")) node = ParseSubscript(node);
            else if (t.IsOp("(")) node = new CallExpr(node.Offset, node, ParseCallArgs());
            else return node;
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp("|")) node = ParseFilter(node)!;
            else if (t.IsName("is")) node = ParseTest(node);
            else if (t.IsOp("(")) node = new CallExpr(node.Offset, node, ParseCallArgs());
            else return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        var t = Next();
        if (t.IsOp("."))
        {
            var attr = Current;
            Next();
            if (attr.Type == TokenType.Name) return new GetAttrExpr(attr.Offset, node, attr.Text);
            if (attr.Type != TokenType.Integer) throw Fail("expected name or number", attr.Offset);
            return new GetItemExpr(attr.Offset, node, new ConstExpr(attr.Offset, attr.Value));
        }
        var args = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (args.Count > 0) ExpectOp(",");
            args.Add(ParseSubscribed());
        }
        ExpectOp("]");
        var key = args.Count == 1 ? args[0] : new TupleExpr(t.Offset, args);
        return new GetItemExpr(t.Offset, node, key);
    }

    private Expr ParseSubscribed()
    {
        int offset = Current.Offset;
        Expr? start;
        if (Current.IsOp(":")) { Next(); start = null; }
        else
        {
            var node = ParseExpression();
            if (!Current.IsOp(":")) return node;
            Next();
            start = node;
        }
        Expr? stop = null, step = null;
        if (!Current.IsOp(":") && !Current.IsOp("]") && !Current.IsOp(",")) stop = ParseExpression();
        if (Current.IsOp(":"))
        {
            Next();
            if (!Current.IsOp("]") && !Current.IsOp(",")) step = ParseExpression();
        }
        return new SliceExpr(offset, start, stop, step);
    }

    private Arguments ParseCallArgs()
    {
        var open = ExpectOp("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        Expr? dynArgs = null, dynKwargs = null;
        bool requireComma = false;
        void Ensure(bool ok) { if (!ok) throw Fail("invalid syntax for function call expression", open.Offset); }
        while (!Current.IsOp(")"))
        {
            if (requireComma)
            {
                ExpectOp(",");
                if (Current.IsOp(")")) break;
            }
            if (Current.IsOp("*"))
            {
                Ensure(dynArgs is null && dynKwargs is null);
                Next();
                dynArgs = ParseExpression();
            }
            else if (Current.IsOp("**"))
            {
                Ensure(dynKwargs is null);
                Next();
                dynKwargs = ParseExpression();
            }
            else if (Current.Type == TokenType.Name && Look.IsOp("="))
            {
                Ensure(dynKwargs is null);
                string key = Next().Text;
                Next();
                named.Add((key, ParseExpression()));
            }
            else
            {
                Ensure(dynArgs is null && dynKwargs is null && named.Count == 0);
                positional.Add(ParseExpression());
            }
            requireComma = true;
        }
        ExpectOp(")");
        return new Arguments(positional, named, dynArgs, dynKwargs);
    }

    private Expr? ParseFilter(Expr? node, bool startInline = false)
    {
        while (Current.IsOp("|") || startInline)
        {
            if (!startInline) Next();
            var token = Expect(TokenType.Name);
            string name = token.Text;
            while (Current.IsOp(".")) { Next(); name += "." + Expect(TokenType.Name).Text; }
            var args = Current.IsOp("(") ? ParseCallArgs() : Arguments.Empty;
            node = new FilterExpr(token.Offset, node, name, args);
            startInline = false;
        }
        return node;
    }

    private Expr ParseTest(Expr node)
    {
        var isToken = Next();
        bool negated = SkipName("not");
        var nameToken = Expect(TokenType.Name);
        string name = nameToken.Text;
        while (Current.IsOp(".")) { Next(); name += "." + Expect(TokenType.Name).Text; }
        Arguments args;
        var t = Current;
        if (t.IsOp("(")) args = ParseCallArgs();
        else if ((t.Type is TokenType.Name or TokenType.String or TokenType.Integer or TokenType.Float || t.IsOp("(") || t.IsOp("[") || t.IsOp("{"))
                 && !(t.IsName("else") || t.IsName("or") || t.IsName("and")))
        {
            if (t.IsName("is")) throw Fail("You cannot chain multiple tests with is");
            var arg = ParsePostfix(ParsePrimary());
            args = new Arguments([arg], [], null, null);
        }
        else args = Arguments.Empty;
        Expr test = new TestExpr(nameToken.Offset, node, name, args);
        return negated ? new UnaryExpr(isToken.Offset, "not", test) : test;
    }
}

/// <summary>Checks Jinja2 makes when compiling: unknown filters/tests (deferred to render time inside if-conditions
/// and inline ifs, like Jinja2's "soft frames"), break/continue outside a loop; and marks macros that use
/// varargs/kwargs/caller.</summary>
internal static class Validator
{
    public static void Check(SourceText source, List<Stmt> body) => Walk(source, body, soft: false, inLoop: false);

    public static MacroStmt AnnotateMacro(MacroStmt m)
    {
        var names = new HashSet<string>();
        CollectNames(m.Body, names);
        foreach (var d in m.Defaults) if (d is not null) CollectNames(d, names);
        m.UsesVarargs = names.Contains("varargs");
        m.UsesKwargs = names.Contains("kwargs");
        m.UsesCaller = names.Contains("caller");
        return m;
    }

    private static void Walk(SourceText source, List<Stmt> body, bool soft, bool inLoop)
    {
        foreach (var s in body) Walk(source, s, soft, inLoop);
    }

    private static void Walk(SourceText source, Stmt s, bool soft, bool inLoop)
    {
        switch (s)
        {
            case PrintStmt p: Walk(source, p.Expr, soft); break;
            case IfStmt i:
                foreach (var (test, b) in i.Branches) { Walk(source, test, true); Walk(source, b, true, inLoop); }
                if (i.Else is not null) Walk(source, i.Else, true, inLoop);
                break;
            case ForStmt f:
                Walk(source, f.Iter, soft);
                if (f.Filter is not null) Walk(source, f.Filter, false);
                Walk(source, f.Body, false, true);
                if (f.Else is not null) Walk(source, f.Else, false, false);
                break;
            case SetStmt st: Walk(source, st.Value, soft); break;
            case SetBlockStmt sb:
                if (sb.Filter is not null) Walk(source, sb.Filter, soft);
                Walk(source, sb.Body, false, false);
                break;
            case MacroStmt m:
                foreach (var d in m.Defaults) if (d is not null) Walk(source, d, false);
                Walk(source, m.Body, false, false);
                break;
            case CallBlockStmt c:
                Walk(source, c.Call, soft);
                Walk(source, c.Caller, soft, false);
                break;
            case FilterBlockStmt fb:
                Walk(source, fb.Filter, soft);
                Walk(source, fb.Body, false, false);
                break;
            case WithStmt w:
                foreach (var (_, v) in w.Assignments) Walk(source, v, soft);
                Walk(source, w.Body, false, inLoop);
                break;
            case GenerationStmt g: Walk(source, g.Body, false, false); break;
            case BreakStmt when !inLoop: throw source.Error(s.Offset, "'break' outside loop");
            case ContinueStmt when !inLoop: throw source.Error(s.Offset, "'continue' not properly in loop");
        }
    }

    private static void Walk(SourceText source, Expr? e, bool soft)
    {
        switch (e)
        {
            case null: return;
            case FilterExpr f:
                if (!soft && !Builtins.HasFilter(f.Name)) throw source.Error(f.Offset, $"No filter named '{f.Name}'.");
                Walk(source, f.Operand, soft);
                Walk(source, f.Args, soft);
                break;
            case TestExpr t:
                if (!soft && !Builtins.HasTest(t.Name)) throw source.Error(t.Offset, $"No test named '{t.Name}'.");
                Walk(source, t.Operand, soft);
                Walk(source, t.Args, soft);
                break;
            case CondExpr c: Walk(source, c.Test, true); Walk(source, c.Then, true); Walk(source, c.Else, true); break;
            case ListExpr l: foreach (var x in l.Items) Walk(source, x, soft); break;
            case TupleExpr t: foreach (var x in t.Items) Walk(source, x, soft); break;
            case DictExpr d: foreach (var (k, v) in d.Items) { Walk(source, k, soft); Walk(source, v, soft); } break;
            case GetAttrExpr g: Walk(source, g.Object, soft); break;
            case GetItemExpr g: Walk(source, g.Object, soft); Walk(source, g.Key, soft); break;
            case SliceExpr sl: Walk(source, sl.Start, soft); Walk(source, sl.Stop, soft); Walk(source, sl.Step, soft); break;
            case CallExpr c: Walk(source, c.Callee, soft); Walk(source, c.Args, soft); break;
            case UnaryExpr u: Walk(source, u.Operand, soft); break;
            case BinaryExpr b: Walk(source, b.Left, soft); Walk(source, b.Right, soft); break;
            case CompareExpr c: Walk(source, c.First, soft); foreach (var (_, x) in c.Rest) Walk(source, x, soft); break;
            case ConcatExpr c: foreach (var x in c.Parts) Walk(source, x, soft); break;
        }
    }

    private static void Walk(SourceText source, Arguments a, bool soft)
    {
        foreach (var x in a.Positional) Walk(source, x, soft);
        foreach (var (_, x) in a.Named) Walk(source, x, soft);
        Walk(source, a.DynArgs, soft);
        Walk(source, a.DynKwargs, soft);
    }

    private static void CollectNames(List<Stmt> body, HashSet<string> names)
    {
        foreach (var s in body)
        {
            switch (s)
            {
                case PrintStmt p: CollectNames(p.Expr, names); break;
                case IfStmt i:
                    foreach (var (t, b) in i.Branches) { CollectNames(t, names); CollectNames(b, names); }
                    if (i.Else is not null) CollectNames(i.Else, names);
                    break;
                case ForStmt f:
                    CollectNames(f.Iter, names);
                    if (f.Filter is not null) CollectNames(f.Filter, names);
                    CollectNames(f.Body, names);
                    if (f.Else is not null) CollectNames(f.Else, names);
                    break;
                case SetStmt st: CollectNames(st.Value, names); break;
                case SetBlockStmt sb: CollectNames(sb.Body, names); break;
                case CallBlockStmt c: CollectNames(c.Call, names); break;
                case FilterBlockStmt fb: CollectNames(fb.Body, names); break;
                case WithStmt w: foreach (var (_, v) in w.Assignments) CollectNames(v, names); CollectNames(w.Body, names); break;
                case GenerationStmt g: CollectNames(g.Body, names); break;
            }
        }
    }

    private static void CollectNames(Expr? e, HashSet<string> names)
    {
        switch (e)
        {
            case null: return;
            case NameExpr n: names.Add(n.Name); break;
            case FilterExpr f: CollectNames(f.Operand, names); CollectNames(f.Args, names); break;
            case TestExpr t: CollectNames(t.Operand, names); CollectNames(t.Args, names); break;
            case CondExpr c: CollectNames(c.Test, names); CollectNames(c.Then, names); CollectNames(c.Else, names); break;
            case ListExpr l: foreach (var x in l.Items) CollectNames(x, names); break;
            case TupleExpr t: foreach (var x in t.Items) CollectNames(x, names); break;
            case DictExpr d: foreach (var (k, v) in d.Items) { CollectNames(k, names); CollectNames(v, names); } break;
            case GetAttrExpr g: CollectNames(g.Object, names); break;
            case GetItemExpr g: CollectNames(g.Object, names); CollectNames(g.Key, names); break;
            case SliceExpr sl: CollectNames(sl.Start, names); CollectNames(sl.Stop, names); CollectNames(sl.Step, names); break;
            case CallExpr c: CollectNames(c.Callee, names); CollectNames(c.Args, names); break;
            case UnaryExpr u: CollectNames(u.Operand, names); break;
            case BinaryExpr b: CollectNames(b.Left, names); CollectNames(b.Right, names); break;
            case CompareExpr c: CollectNames(c.First, names); foreach (var (_, x) in c.Rest) CollectNames(x, names); break;
            case ConcatExpr c: foreach (var x in c.Parts) CollectNames(x, names); break;
        }
    }

    private static void CollectNames(Arguments a, HashSet<string> names)
    {
        foreach (var x in a.Positional) CollectNames(x, names);
        foreach (var (_, x) in a.Named) CollectNames(x, names);
        CollectNames(a.DynArgs, names);
        CollectNames(a.DynKwargs, names);
    }
}
