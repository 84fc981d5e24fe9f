namespace Scalpel.Text.Jinja;

// The template's syntax tree. Offset is the node's position in the normalised source (for error messages).

internal abstract class Node(int offset)
{
    public int Offset { get; } = offset;
}

internal abstract class Expr(int offset) : Node(offset);
internal abstract class Stmt(int offset) : Node(offset);

// ---------------------------------------------------------------- statements

internal sealed class TextStmt(int offset, string text) : Stmt(offset) { public string Text { get; } = text; }
internal sealed class PrintStmt(int offset, Expr expr) : Stmt(offset) { public Expr Expr { get; } = expr; }

internal sealed class IfStmt(int offset, List<(Expr Test, List<Stmt> Body)> branches, List<Stmt>? elseBody) : Stmt(offset)
{
    public List<(Expr Test, List<Stmt> Body)> Branches { get; } = branches;
    public List<Stmt>? Else { get; } = elseBody;
}

internal sealed class ForStmt(int offset, Expr target, Expr iter, Expr? filter, List<Stmt> body, List<Stmt>? elseBody, bool recursive) : Stmt(offset)
{
    public Expr Target { get; } = target;
    public Expr Iter { get; } = iter;
    public Expr? Filter { get; } = filter;
    public List<Stmt> Body { get; } = body;
    public List<Stmt>? Else { get; } = elseBody;
    public bool Recursive { get; } = recursive;
}

internal sealed class SetStmt(int offset, Expr target, Expr value) : Stmt(offset)
{
    public Expr Target { get; } = target;
    public Expr Value { get; } = value;
}

/// <summary>{% set x %}...{% endset %}, optionally {% set x | filter %}.</summary>
internal sealed class SetBlockStmt(int offset, Expr target, FilterExpr? filter, List<Stmt> body) : Stmt(offset)
{
    public Expr Target { get; } = target;
    public FilterExpr? Filter { get; } = filter;
    public List<Stmt> Body { get; } = body;
}

internal sealed class MacroStmt(int offset, string name, List<string> parameters, List<Expr?> defaults, List<Stmt> body) : Stmt(offset)
{
    public string Name { get; } = name;
    public List<string> Parameters { get; } = parameters;
    /// <summary>One per parameter; null where the parameter has no default.</summary>
    public List<Expr?> Defaults { get; } = defaults;
    public List<Stmt> Body { get; } = body;
    public bool UsesVarargs { get; set; }
    public bool UsesKwargs { get; set; }
    public bool UsesCaller { get; set; }
}

internal sealed class CallBlockStmt(int offset, CallExpr call, MacroStmt caller) : Stmt(offset)
{
    public CallExpr Call { get; } = call;
    public MacroStmt Caller { get; } = caller;
}

internal sealed class FilterBlockStmt(int offset, FilterExpr filter, List<Stmt> body) : Stmt(offset)
{
    public FilterExpr Filter { get; } = filter;
    public List<Stmt> Body { get; } = body;
}

internal sealed class WithStmt(int offset, List<(Expr Target, Expr Value)> assignments, List<Stmt> body) : Stmt(offset)
{
    public List<(Expr Target, Expr Value)> Assignments { get; } = assignments;
    public List<Stmt> Body { get; } = body;
}

internal sealed class BreakStmt(int offset) : Stmt(offset);
internal sealed class ContinueStmt(int offset) : Stmt(offset);

/// <summary>transformers' {% generation %}...{% endgeneration %}: renders its body and records the span it produced.</summary>
internal sealed class GenerationStmt(int offset, List<Stmt> body) : Stmt(offset) { public List<Stmt> Body { get; } = body; }

// ---------------------------------------------------------------- expressions

internal sealed class ConstExpr(int offset, object? value) : Expr(offset) { public object? Value { get; } = value; }
internal sealed class NameExpr(int offset, string name) : Expr(offset) { public string Name { get; } = name; }
internal sealed class ListExpr(int offset, List<Expr> items) : Expr(offset) { public List<Expr> Items { get; } = items; }
internal sealed class TupleExpr(int offset, List<Expr> items) : Expr(offset) { public List<Expr> Items { get; } = items; }
internal sealed class DictExpr(int offset, List<(Expr Key, Expr Value)> items) : Expr(offset) { public List<(Expr Key, Expr Value)> Items { get; } = items; }

/// <summary>{% set ns.attr = ... %} target.</summary>
internal sealed class NamespaceRefExpr(int offset, string name, string attribute) : Expr(offset)
{
    public string Name { get; } = name;
    public string Attribute { get; } = attribute;
}

internal sealed class GetAttrExpr(int offset, Expr obj, string name) : Expr(offset)
{
    public Expr Object { get; } = obj;
    public string Name { get; } = name;
}

internal sealed class GetItemExpr(int offset, Expr obj, Expr key) : Expr(offset)
{
    public Expr Object { get; } = obj;
    public Expr Key { get; } = key;
}

internal sealed class SliceExpr(int offset, Expr? start, Expr? stop, Expr? step) : Expr(offset)
{
    public Expr? Start { get; } = start;
    public Expr? Stop { get; } = stop;
    public Expr? Step { get; } = step;
}

internal sealed class Arguments(List<Expr> positional, List<(string Name, Expr Value)> named, Expr? dynArgs, Expr? dynKwargs)
{
    public static Arguments Empty => new([], [], null, null);
    public List<Expr> Positional { get; } = positional;
    public List<(string Name, Expr Value)> Named { get; } = named;
    public Expr? DynArgs { get; } = dynArgs;
    public Expr? DynKwargs { get; } = dynKwargs;
}

internal sealed class CallExpr(int offset, Expr callee, Arguments args) : Expr(offset)
{
    public Expr Callee { get; } = callee;
    public Arguments Args { get; } = args;
}

/// <summary>value | name(args). Operand is null inside {% filter %} blocks and {% set x | f %} (the body is the value).</summary>
internal sealed class FilterExpr(int offset, Expr? operand, string name, Arguments args) : Expr(offset)
{
    public Expr? Operand { get; } = operand;
    public string Name { get; } = name;
    public Arguments Args { get; } = args;
}

internal sealed class TestExpr(int offset, Expr operand, string name, Arguments args) : Expr(offset)
{
    public Expr Operand { get; } = operand;
    public string Name { get; } = name;
    public Arguments Args { get; } = args;
}

internal sealed class UnaryExpr(int offset, string op, Expr operand) : Expr(offset)
{
    public string Op { get; } = op;   // "-", "+", "not"
    public Expr Operand { get; } = operand;
}

internal sealed class BinaryExpr(int offset, string op, Expr left, Expr right) : Expr(offset)
{
    public string Op { get; } = op;   // + - * / // % ** and or
    public Expr Left { get; } = left;
    public Expr Right { get; } = right;
}

internal sealed class CompareExpr(int offset, Expr first, List<(string Op, Expr Operand)> rest) : Expr(offset)
{
    public Expr First { get; } = first;
    public List<(string Op, Expr Operand)> Rest { get; } = rest;   // ops: == != < <= > >= in notin
}

internal sealed class ConcatExpr(int offset, List<Expr> parts) : Expr(offset) { public List<Expr> Parts { get; } = parts; }

internal sealed class CondExpr(int offset, Expr test, Expr then, Expr? otherwise) : Expr(offset)
{
    public Expr Test { get; } = test;
    public Expr Then { get; } = then;
    public Expr? Else { get; } = otherwise;
}
