using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Models;

namespace Scalpel.Tests.Oracles;

/// <summary>One GGUF file for <see cref="LlamaCppOracle.Run"/>: what to tokenize, how many greedy tokens, whether to return logits.</summary>
public sealed record LlamaJob(string Path, string[] Tokenize, int Generate, string? Lora = null, bool Logits = false, int Vocab = 0);

/// <summary>What llama.cpp did with one <see cref="LlamaJob"/>; <see cref="Logits"/> is [position][vocab] for the prompt.</summary>
public sealed record LlamaResult(int[][] Tokens, int[] Generated, float[][]? Logits);

/// <summary>
/// llama.cpp itself (node-llama-cpp's prebuilt CPU binary, tests/oracles/js/llama_oracle.mjs) as the oracle for GGUF
/// export, and Scalpel's side of the same comparisons. A missing node or package is a failure, never a skip:
/// ./run-tests installs them.
/// </summary>
public static class LlamaCppOracle
{
    public static List<LlamaResult> Run(IReadOnlyList<LlamaJob> models, int[] prompt)
    {
        var job = new JsonObject
        {
            ["models"] = new JsonArray(models.Select(m => (JsonNode)new JsonObject
            {
                ["path"] = m.Path,
                ["lora"] = m.Lora,
                ["tokenize"] = new JsonArray(m.Tokenize.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["prompts"] = new JsonArray(new JsonArray(prompt.Select(i => (JsonNode)JsonValue.Create(i)).ToArray())),
                ["generate"] = m.Generate,
                ["logits"] = m.Logits,
                ["vocab"] = m.Vocab,
            }).ToArray()),
        };
        return RunScript(job)["models"]!.AsArray().Select(m => new LlamaResult(
            m!["tokens"]!.AsArray().Select(t => t!.AsArray().Select(x => (int)x!).ToArray()).ToArray(),
            m["generated"]!.AsArray()[0]!.AsArray().Select(x => (int)x!).ToArray(),
            m["logits"]?.AsArray()[0]!.AsArray()
                .Select(row => row!.AsArray().Select(x => x is null ? float.NaN : (float)x).ToArray()).ToArray())).ToList();
    }

    /// <summary>
    /// llama.cpp greedily continuing several prompts on one GGUF file: <paramref name="generate"/> tokens after each,
    /// stopping at nothing, each prompt in a fresh context.
    /// </summary>
    public static int[][] Greedy(string gguf, IReadOnlyList<int[]> prompts, int generate)
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
        var model = RunScript(job)["models"]![0]!;
        return model["generated"]!.AsArray().Select(g => g!.AsArray().Select(x => (int)x!).ToArray()).ToArray();
    }

    /// <summary>Runs llama_oracle.mjs on a job and returns its output document.</summary>
    private static JsonNode RunScript(JsonObject job)
    {
        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        string package = Path.Combine(scriptDir, "node_modules", "node-llama-cpp");
        if (!Directory.Exists(package))
            throw new InvalidOperationException($"{package} is missing: run ./run-tests (it runs npm install in tests/oracles/js)");
        string work = Path.Combine(Path.GetTempPath(), "scalpel-llama-oracle-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
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
            var stderrTask = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(120_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("llama_oracle.mjs ran over 120 s");
            }
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"llama_oracle.mjs failed (exit {process.ExitCode}):\n{stdout}\n{stderrTask.Result}");
            return JsonNode.Parse(File.ReadAllText(outPath))!;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Scalpel's greedy continuation, recomputing the whole sequence each step (no cache to get wrong).</summary>
    public static int[] Greedy(DecoderModel m, int[] prompt, int steps)
    {
        var ids = prompt.ToList();
        var generated = new List<int>();
        for (int s = 0; s < steps; s++)
        {
            var logits = m.Logits(Batch(ids.ToArray()), [ids.Count - 1]);
            int next = TensorPrimitives.IndexOfMax(logits);
            generated.Add(next);
            ids.Add(next);
        }
        return generated.ToArray();
    }

    /// <summary>Scalpel's next-token logits after every position of <paramref name="ids"/>: [position][vocab].</summary>
    public static float[][] AllLogits(DecoderModel m, int[] ids)
    {
        int vocab = m.Spec.VocabSize;
        var flat = m.Logits(Batch(ids), Enumerable.Range(0, ids.Length).ToArray());
        return Enumerable.Range(0, ids.Length).Select(p => flat.AsSpan(p * vocab, vocab).ToArray()).ToArray();
    }

    /// <summary>The fraction of <paramref name="generated"/> tokens that are Scalpel's arg-max along that same trajectory.</summary>
    public static double TopOneAgreement(DecoderModel m, int[] prompt, int[] generated)
    {
        var ids = prompt.Concat(generated).ToArray();
        var rows = Enumerable.Range(prompt.Length - 1, generated.Length).ToArray();
        var logits = m.Logits(Batch(ids), rows);
        int agree = 0;
        for (int k = 0; k < rows.Length; k++)
            if (TensorPrimitives.IndexOfMax(logits.AsSpan(k * m.Spec.VocabSize, m.Spec.VocabSize)) == generated[k]) agree++;
        return (double)agree / rows.Length;
    }

    /// <summary>Largest |a − b| over all positions, relative to the largest |b|.</summary>
    public static double MaxRelativeDifference(float[][] a, float[][] b)
    {
        double diff = 0, scale = 0;
        for (int p = 0; p < b.Length; p++)
            for (int v = 0; v < b[p].Length; v++)
            {
                diff = Math.Max(diff, Math.Abs(a[p][v] - b[p][v]));
                scale = Math.Max(scale, Math.Abs(b[p][v]));
            }
        return diff / scale;
    }

    public static TokenBatch Batch(int[] ids) =>
        new(ids, Enumerable.Range(0, ids.Length).ToArray(), new int[ids.Length], Enumerable.Repeat(TokenBatch.IgnoreIndex, ids.Length).ToArray());
}
