namespace Scalpel.Text;

/// <summary>
/// A chat template that cannot be parsed or rendered: a syntax error, an unknown filter or test, a runtime error
/// (calling a non-callable, an undefined value used where a value is needed, division by zero...) or a
/// <c>raise_exception(msg)</c> from the template itself. The message starts with "name:line:column: ".
/// </summary>
public sealed class TemplateException : Exception
{
    public TemplateException(string templateName, int line, int column, string reason)
        : base($"{templateName}:{line}:{column}: {reason}")
    {
        TemplateName = templateName;
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>An error about a template that is not tied to one place in it (e.g. assistant spans that cannot be derived).</summary>
    public TemplateException(string templateName, string reason) : base($"{templateName}: {reason}")
    {
        TemplateName = templateName;
        Reason = reason;
    }

    public string TemplateName { get; }
    /// <summary>1-based line of the offending token or expression; 0 when the error has no position.</summary>
    public int Line { get; }
    /// <summary>1-based column (UTF-16 units) of the offending token or expression; 0 when the error has no position.</summary>
    public int Column { get; }
    /// <summary>The message without the location prefix (for <c>raise_exception</c>, exactly the template's message).</summary>
    public string Reason { get; }
}
