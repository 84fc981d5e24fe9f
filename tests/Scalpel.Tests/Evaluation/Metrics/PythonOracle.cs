using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Scalpel.Tests.Evaluation.Metrics;

/// <summary>
/// Runs a short Python script with Debian's /usr/bin/python3 (where python3-sklearn and python3-jsonschema live,
/// installed by ./run-tests): the input goes to its stdin as JSON, its stdout is read back as JSON. A missing module
/// fails the test; it never skips.
/// </summary>
internal static class PythonOracle
{
    public const string Python = "/usr/bin/python3";

    public static JsonNode Run(string script, JsonNode input, int timeoutSeconds = 120)
    {
        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["PYTHONIOENCODING"] = "utf-8";
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Python}");
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        process.StandardInput.Write(input.ToJsonString());
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"python oracle ran over {timeoutSeconds}s");
        }
        process.WaitForExit();
        string stdout = stdoutTask.Result;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"python oracle failed (exit {process.ExitCode}); ./run-tests installs its packages:\n{stderr}");
        return JsonNode.Parse(stdout) ?? throw new InvalidOperationException("python oracle printed null");
    }
}
