using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Scalpel.Tests.Oracles;

/// <summary>
/// llama.cpp (node-llama-cpp's prebuilt CPU binary, through tests/oracles/js/llama_oracle.mjs) greedily continuing
/// several prompts on one GGUF file: <c>generate</c> tokens after each prompt, stopping at nothing, each prompt in a
/// fresh context. A missing node or package is a failure, never a skip: ./run-tests installs them.
/// </summary>
public static class LlamaCppOracle
{
    public static int[][] Greedy(string gguf, IReadOnlyList<int[]> prompts, int generate)
    {
        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        string package = Path.Combine(scriptDir, "node_modules", "node-llama-cpp");
        if (!Directory.Exists(package))
            throw new InvalidOperationException($"{package} is missing: run ./run-tests (it runs npm ci in tests/oracles/js)");
        string work = Path.Combine(Path.GetTempPath(), "scalpel-llama-oracle-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var job = new JsonObject
            {
                ["models"] = new JsonArray(new JsonObject
                {
                    ["path"] = gguf,
                    ["prompts"] = new JsonArray(prompts.Select(p => (JsonNode)new JsonArray(p.Select(i => (JsonNode)JsonValue.Create(i)).ToArray())).ToArray()),
                    ["generate"] = generate,
                }),
            };
            string inPath = Path.Combine(work, "in.json"), outPath = Path.Combine(work, "out.json");
            File.WriteAllText(inPath, job.ToJsonString(), new UTF8Encoding(false));
            var psi = new ProcessStartInfo("node")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = scriptDir,
            };
            psi.ArgumentList.Add(Path.Combine(scriptDir, "llama_oracle.mjs"));
            psi.ArgumentList.Add(inPath);
            psi.ArgumentList.Add(outPath);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(120_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("llama_oracle.mjs ran over 120 s");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"llama_oracle.mjs failed (exit {process.ExitCode}):\n{stdout}\n{stderr.Result}");
            var model = JsonNode.Parse(File.ReadAllText(outPath))!["models"]![0]!;
            return model["generated"]!.AsArray().Select(g => g!.AsArray().Select(x => (int)x!).ToArray()).ToArray();
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
