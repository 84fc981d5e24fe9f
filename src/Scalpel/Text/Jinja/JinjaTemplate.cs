namespace Scalpel.Text.Jinja;

/// <summary>A parsed Jinja template, rendered with transformers' chat-template environment.</summary>
internal sealed class JinjaTemplate
{
    private readonly List<Stmt> _body;

    private JinjaTemplate(SourceText source, List<Stmt> body)
    {
        Source = source;
        _body = body;
        HasGeneration = ContainsGeneration(body);
    }

    public SourceText Source { get; }
    /// <summary>Whether the template marks assistant text with {% generation %} blocks.</summary>
    public bool HasGeneration { get; }

    public static JinjaTemplate Parse(string text, string name)
    {
        var source = new SourceText(name, text);
        return new JinjaTemplate(source, Parser.Parse(source));
    }

    public (string Text, List<(int Start, int End)> GenerationSpans) Render(IEnumerable<KeyValuePair<string, object?>> context, Func<DateTime> now)
    {
        var interpreter = new Interpreter(Source, Builtins.Globals(context), now);
        string text = interpreter.Run(_body);
        return (text, interpreter.GenerationSpans);
    }

    private static bool ContainsGeneration(List<Stmt> body) => body.Any(s => s switch
    {
        GenerationStmt => true,
        IfStmt i => i.Branches.Any(b => ContainsGeneration(b.Body)) || (i.Else is not null && ContainsGeneration(i.Else)),
        ForStmt f => ContainsGeneration(f.Body) || (f.Else is not null && ContainsGeneration(f.Else)),
        MacroStmt m => ContainsGeneration(m.Body),
        CallBlockStmt c => ContainsGeneration(c.Caller.Body),
        SetBlockStmt sb => ContainsGeneration(sb.Body),
        FilterBlockStmt fb => ContainsGeneration(fb.Body),
        WithStmt w => ContainsGeneration(w.Body),
        _ => false,
    });
}
