using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;

namespace Scalpel.Tests.Text;

/// <summary>What transformers.js says about one input.</summary>
public sealed record JsTokenization(int[] Ids, int[] IdsPlain, string Decoded, string DecodedSkip, string?[] Tokens);

/// <summary>
/// Runs tests/oracles/js/tokenize_oracle.mjs (Hugging Face's @huggingface/transformers) once for a whole batch of
/// inputs. A missing node or package is a test failure, never a skip: ./run-tests installs them.
/// </summary>
public static class TokenizerJsOracle
{
    public static string ScriptDir => Path.Combine(RepoPaths.Root, "tests", "oracles", "js");

    public static (List<JsTokenization> Results, List<Dictionary<string, string>> Normalized) Run(
        string? tokenizer, IReadOnlyList<string> inputs, IReadOnlyList<string>? normalize = null, int timeoutSeconds = 120,
        string? tokenizersDir = null)
    {
        string package = Path.Combine(ScriptDir, "node_modules", "@huggingface", "transformers");
        if (!Directory.Exists(package))
            throw new InvalidOperationException($"{package} is missing: run ./run-tests (it runs npm ci in tests/oracles/js)");
        string dir = Path.Combine(Path.GetTempPath(), "scalpel-tok-oracle-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var job = new JsonObject
            {
                ["fixtures"] = tokenizersDir ?? Path.Combine(RepoPaths.Fixtures, "tokenizers"),
                ["tokenizer"] = tokenizer,
                ["inputs"] = new JsonArray(inputs.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["normalize"] = new JsonArray((normalize ?? []).Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
            };
            string inPath = Path.Combine(dir, "in.json"), outPath = Path.Combine(dir, "out.json");
            File.WriteAllText(inPath, job.ToJsonString(), new UTF8Encoding(false));
            var psi = new ProcessStartInfo("node")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = ScriptDir,
            };
            psi.ArgumentList.Add(Path.Combine(ScriptDir, "tokenize_oracle.mjs"));
            psi.ArgumentList.Add(inPath);
            psi.ArgumentList.Add(outPath);
            Process process;
            try { process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node"); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException("node is not installed (needed for the tokenizer oracle): " + e.Message);
            }
            using (process)
            {
                var stderr = new StringBuilder();
                process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
                process.BeginErrorReadLine();
                string stdout = process.StandardOutput.ReadToEnd();
                if (!process.WaitForExit(timeoutSeconds * 1000))
                {
                    process.Kill(entireProcessTree: true);
                    throw new TimeoutException($"tokenize_oracle.mjs ran over {timeoutSeconds}s");
                }
                process.WaitForExit();
                if (process.ExitCode != 0)
                    throw new InvalidOperationException($"tokenize_oracle.mjs failed (exit {process.ExitCode}):\n{stdout}\n{stderr}");
            }
            var root = JsonNode.Parse(File.ReadAllText(outPath))!;
            var results = root["results"]!.AsArray().Select(r => new JsTokenization(
                r!["ids"]!.AsArray().Select(x => (int)x!).ToArray(),
                r["ids_plain"]!.AsArray().Select(x => (int)x!).ToArray(),
                (string)r["decoded"]!,
                (string)r["decoded_skip"]!,
                r["tokens"]!.AsArray().Select(x => (string?)x).ToArray())).ToList();
            var normalized = root["normalized"]!.AsArray()
                .Select(n => n!.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!)).ToList();
            return (results, normalized);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
