using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Backends;
using Scalpel.Backends.Cpu;
using Scalpel.Generation;
using Scalpel.IO.Gguf;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Text;
using Scalpel.Training;

namespace Scalpel.Bench;

/// <summary>
/// Generation with the KV cache (<see cref="Generator.Generate(IReadOnlyList{GenerationRequest}, int)"/>, greedy, no stop
/// tokens) on random models, the same measurements bench/peers/generate_llamacpp.mjs makes with llama.cpp on the same
/// weights. `prepare DIR` writes the models (F32 safetensors, the same exported as GGUF F32) and the prompts both sides
/// read; `run MODEL_DIR` measures in a fresh process and prints one JSON line. See bench/README.md.
/// </summary>
/// <remarks>
/// Every number is a whole <c>Generate</c> call, best of the repetitions (the machine may be shared):
/// prefill = prompt tokens / time to the first token of one prompt; decode = the (n − 1) tokens after the first per
/// sequence / (time for n tokens − time for 1 token), so the prompt's prefill cancels out. The same rates from the
/// process's CPU time ("cpu") show the work done when the machine is shared: wall-clock time then includes waiting.
/// </remarks>
public static class GenerateBench
{
    public const int DecodePromptLength = 32, Sequences = 8;
    public static readonly int[] PrefillLengths = [128, 512];

    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["prepare", var dir]:
                Prepare(dir);
                return 0;
            case ["run", var modelDir, .. var rest]:
                int newTokens = Option(rest, "--new", 128), reps = Option(rest, "--reps", 3);
                return Measure(modelDir, newTokens, reps, profile: rest.Contains("--profile"));
            default:
                Console.Error.WriteLine("usage: generate-cpu prepare DIR | generate-cpu run MODEL_DIR [--new N] [--reps N] [--profile]");
                return 2;
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : fallback;
    }

    /// <summary>Model folders under <paramref name="dir"/>: name, and the shapes of its random weights.</summary>
    public static IReadOnlyList<(string Name, ModelSpec Spec)> Models(int tokenizerVocab) =>
    [
        ("tiny", PipelineCheck.TinySpec(tokenizerVocab) with { MaxPositions = 2048 }),
        ("smollm2-135m", LoraBench.SmolLM2Shapes),
    ];

    /// <summary>
    /// Writes DIR/&lt;model&gt;/ with config.json, model.safetensors (F32), model.gguf (F32, by Scalpel's exporter), the
    /// pipeline check's tiny byte-level BPE tokenizer (the exporter pads the vocabulary to the model's) and prompts.json.
    /// Folders that already have their GGUF are kept.
    /// </summary>
    private static void Prepare(string dir)
    {
        string tokenizerDir = Path.Combine(dir, "tokenizer");
        if (!File.Exists(Path.Combine(tokenizerDir, "tokenizer.json"))) PipelineCheck.WriteTinyModel(tokenizerDir, seed: 1);
        int tokenizerVocab = ModelSpec.FromConfigFile(tokenizerDir).VocabSize;
        foreach (var (name, spec) in Models(tokenizerVocab))
        {
            string modelDir = Path.Combine(dir, name), gguf = Path.Combine(modelDir, "model.gguf");
            if (File.Exists(gguf)) continue;
            Console.Error.WriteLine($"writing {modelDir} (random F32 weights, GGUF F32 export)");
            RandomCheckpoint.Write(spec, modelDir, seed: 1, storeAs: DType.F32);
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
                File.Copy(Path.Combine(tokenizerDir, file), Path.Combine(modelDir, file), overwrite: true);
            File.WriteAllText(Path.Combine(modelDir, "prompts.json"), PromptsJson(seed: 2));
            using var model = DecoderModel.Load(modelDir, new CpuBackend(), WeightPrecision.F32);
            GgufExport.Write(model, modelDir, gguf + ".partial", GgmlType.F32);
            File.Move(gguf + ".partial", gguf);
        }
    }

    /// <summary>Byte tokens (ids 0–255, in every model's vocabulary): one prompt per prefill length, one per decoded sequence.</summary>
    private static string PromptsJson(int seed)
    {
        var rng = new Random(seed);
        JsonArray Ids(int n) => new(Enumerable.Range(0, n).Select(_ => (JsonNode)JsonValue.Create(rng.Next(256))).ToArray());
        var prefill = new JsonObject();
        foreach (int length in PrefillLengths) prefill[length.ToString()] = Ids(length);
        return new JsonObject
        {
            ["prefill"] = prefill,
            ["decode"] = new JsonArray(Enumerable.Range(0, Sequences).Select(_ => (JsonNode)Ids(DecodePromptLength)).ToArray()),
        }.ToJsonString();
    }

    private static int Measure(string modelDir, int newTokens, int reps, bool profile)
    {
        var prompts = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, "prompts.json")))!;
        int[] Ids(JsonNode node) => node.AsArray().Select(x => (int)x!).ToArray();
        var prefill = PrefillLengths.ToDictionary(n => n, n => Ids(prompts["prefill"]![n.ToString()]!));
        var decode = prompts["decode"]!.AsArray().Select(p => Ids(p!)).ToArray();

        var profiler = profile ? new ProfilingBackend(new CpuBackend()) { MatMulShapes = true } : null;
        using var model = DecoderModel.Load(modelDir, profiler ?? (IBackend)new CpuBackend(), WeightPrecision.F32);
        var generator = new Generator(model, Tokenizer.FromDirectory(modelDir), stopTokenIds: []);
        GenerationRequest[] Requests(IEnumerable<int[]> ps, int n) => ps.Select(p => new GenerationRequest { PromptIds = p, MaxNewTokens = n }).ToArray();
        var cases = new List<(string Name, GenerationRequest[] Requests)>();
        foreach (int length in PrefillLengths) cases.Add(($"prefill_{length}", Requests([prefill[length]], 1)));
        cases.Add(("b1_first", Requests([decode[0]], 1)));
        cases.Add(("b1_all", Requests([decode[0]], newTokens)));
        cases.Add(("b8_first", Requests(decode, 1)));
        cases.Add(("b8_all", Requests(decode, newTokens)));

        IReadOnlyList<GenerationResult> Generate(GenerationRequest[] requests)
        {
            var results = generator.Generate(requests, maxBatch: Sequences);
            foreach (var (r, q) in results.Zip(requests))
                if (r.Tokens.Length != q.MaxNewTokens) throw new InvalidOperationException($"{r.Tokens.Length} tokens generated, {q.MaxNewTokens} asked");
            return results;
        }

        foreach (var (_, requests) in cases) Generate(Requests(requests.Select(r => r.PromptIds), Math.Min(4, requests[0].MaxNewTokens)));   // warm-up: JIT, workspaces
        var best = cases.ToDictionary(c => c.Name, _ => double.PositiveInfinity);
        var bestCpu = cases.ToDictionary(c => c.Name, _ => double.PositiveInfinity);
        int[] tokensB1 = [];
        for (int rep = 0; rep < reps; rep++)
            foreach (var (name, requests) in cases)
            {
                var cpu = Environment.CpuUsage.TotalTime;
                long start = Stopwatch.GetTimestamp();
                var results = Generate(requests);
                best[name] = Math.Min(best[name], Stopwatch.GetElapsedTime(start).TotalSeconds);
                bestCpu[name] = Math.Min(bestCpu[name], (Environment.CpuUsage.TotalTime - cpu).TotalSeconds);
                if (name == "b1_all") tokensB1 = results[0].Tokens;
            }

        if (profiler is not null)
        {
            ProfileDecode(profiler, "batch 1", () => Generate(cases.Single(c => c.Name == "b1_first").Requests),
                () => Generate(cases.Single(c => c.Name == "b1_all").Requests), newTokens - 1);
            ProfileDecode(profiler, $"batch {Sequences}", () => Generate(cases.Single(c => c.Name == "b8_first").Requests),
                () => Generate(cases.Single(c => c.Name == "b8_all").Requests), newTokens - 1);
        }

        var result = Rates(best, newTokens);
        result["cpu"] = Rates(bestCpu, newTokens);
        result["seconds"] = new JsonObject(best.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        result["tokens_b1"] = new JsonArray(tokensB1.Select(t => (JsonNode)JsonValue.Create(t)).ToArray());
        result["threads"] = Environment.ProcessorCount;
        result["peak_rss_mb"] = LoraBench.PeakRssMb();
        Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return 0;
    }

    /// <summary>Tokens per second from the best times of the cases (wall-clock or CPU seconds).</summary>
    private static JsonObject Rates(Dictionary<string, double> seconds, int newTokens)
    {
        var rates = new JsonObject();
        foreach (int length in PrefillLengths) rates[$"prefill_{length}"] = length / seconds[$"prefill_{length}"];
        rates["decode_b1"] = (newTokens - 1) / (seconds["b1_all"] - seconds["b1_first"]);
        rates["decode_b8"] = (double)Sequences * (newTokens - 1) / (seconds["b8_all"] - seconds["b8_first"]);
        return rates;
    }

    /// <summary>Backend time per decode step by operation: a run of n tokens less a run of 1 (the same prefill).</summary>
    private static void ProfileDecode(ProfilingBackend profiler, string label, Action first, Action all, int steps)
    {
        profiler.Reset();
        long start = Stopwatch.GetTimestamp();
        first();
        double firstSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var prefill = profiler.Snapshot();
        profiler.Reset();
        start = Stopwatch.GetTimestamp();
        all();
        double allSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Console.Error.WriteLine($"scalpel decode profile, {label}: {(allSeconds - firstSeconds) * 1000 / steps:F2} ms wall per step");
        profiler.Print(Console.Error, steps, prefill, ms: true);
    }
}
