namespace Scalpel.Tests.Cli;

/// <summary>
/// Runs the scalpel CLI in-process and captures what it prints. Console redirection is process-wide, so every test
/// class that uses it belongs to the "console" collection (never run in parallel with each other).
/// </summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args) => RunWithInput(null, args);

    public static (int Code, string Out, string Err) RunWithInput(string? stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var (oldIn, oldOut, oldErr) = (Console.In, Console.Out, Console.Error);
        if (stdin is not null) Console.SetIn(new StringReader(stdin));
        Console.SetOut(stdout);
        Console.SetError(stderr);
        try { return (Scalpel.Cli.Program.Main(args), stdout.ToString(), stderr.ToString()); }
        finally { Console.SetIn(oldIn); Console.SetOut(oldOut); Console.SetError(oldErr); }
    }
}
