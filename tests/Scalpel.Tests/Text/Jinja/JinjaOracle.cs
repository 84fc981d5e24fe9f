using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;

namespace Scalpel.Tests.Text.Jinja;

/// <summary>
/// Renders templates with @huggingface/jinja (npm, installed by run-tests into tests/oracles/js) through
/// tests/oracles/js/jinja_render.mjs: one node process per batch. A missing node or package is a test failure.
/// </summary>
public static class JinjaOracle
{
    public sealed record Result(string? Text, string? Error);

    public static List<Result> Render(IReadOnlyDictionary<string, string> templates, IReadOnlyList<(string Template, JsonObject Context)> cases, int timeoutSeconds = 300)
    {
        string js = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        if (!Directory.Exists(Path.Combine(js, "node_modules", "@huggingface", "jinja")))
            throw new InvalidOperationException($"@huggingface/jinja is not installed in {js}/node_modules: run ./run-tests (it runs npm ci there)");
        string dir = Path.Combine(Path.GetTempPath(), "scalpel-jinja-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var templateObject = new JsonObject();
            foreach (var (id, source) in templates) templateObject[id] = source;
            var caseArray = new JsonArray();
            foreach (var (template, context) in cases) caseArray.Add(new JsonObject { ["template"] = template, ["context"] = context.DeepClone() });
            string input = Path.Combine(dir, "in.json"), output = Path.Combine(dir, "out.json");
            File.WriteAllText(input, new JsonObject { ["templates"] = templateObject, ["now"] = "2024-07-26T09:05:03", ["cases"] = caseArray }.ToJsonString(), new UTF8Encoding(false));

            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = js };
            psi.ArgumentList.Add(Path.Combine(js, "jinja_render.mjs"));
            psi.ArgumentList.Add(input);
            psi.ArgumentList.Add(output);
            Process process;
            try { process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node"); }
            catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("node is needed for the @huggingface/jinja oracle: " + e.Message, e); }
            using (process)
            {
                var stderr = process.StandardError.ReadToEndAsync();
                string stdout = process.StandardOutput.ReadToEnd();
                if (!process.WaitForExit(timeoutSeconds * 1000))
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"jinja_render.mjs ran over {timeoutSeconds}s");
                }
                if (process.ExitCode != 0) throw new InvalidOperationException($"jinja_render.mjs failed (exit {process.ExitCode}):\n{stdout}\n{stderr.Result}");
            }
            var results = JsonNode.Parse(File.ReadAllText(output))!["results"]!.AsArray();
            return results.Select(r => new Result((string?)r!["text"], (string?)r["error"])).ToList();
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
