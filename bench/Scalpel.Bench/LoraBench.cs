using System.Diagnostics;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Training;

namespace Scalpel.Bench;

/// <summary>
/// LoRA training throughput and peak memory on SmolLM2-135M shapes (random BF16 weights in the real HF layout),
/// batch 4 × 512 tokens. `prepare DIR` writes the checkpoint; `run DIR` measures in a fresh process so its peak RSS
/// is the training's own. Prints one JSON line: tokens_per_s, peak_rss_mb.
/// </summary>
public static class LoraBench
{
    public static ModelSpec SmolLM2Shapes => new()
    {
        Architecture = "LlamaForCausalLM", ModelType = "llama",
        HiddenSize = 576, IntermediateSize = 1536, NumLayers = 30, NumHeads = 9, NumKvHeads = 3, HeadDim = 64,
        VocabSize = 49152, MaxPositions = 8192, RmsNormEps = 1e-5, RopeTheta = 100000, TieWordEmbeddings = true,
        BosTokenId = 1, EosTokenIds = [2],
    };

    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["prepare", var dir]:
                if (!File.Exists(Path.Combine(dir, "model.safetensors")))
                    RandomCheckpoint.Write(SmolLM2Shapes, dir, seed: 1, storeAs: DType.BF16);
                return 0;
            case ["run", var dir, .. var rest]:
                int steps = rest.Length >= 2 && rest[0] == "--steps" ? int.Parse(rest[1]) : 3;
                return Measure(dir, steps, profile: rest.Contains("--profile"), rest);
            default:
                Console.Error.WriteLine("usage: lora-cpu prepare DIR | lora-cpu run DIR [--steps N] [--dropout] [--dora] [--profile]");
                return 2;
        }
    }

    private static int Measure(string dir, int steps, bool profile, string[] rest)
    {
        const int sequences = 4, length = 512;
        var profiler = profile ? new ProfilingBackend(new CpuBackend()) : null;
        using var model = DecoderModel.Load(dir, profiler ?? (Scalpel.Backends.IBackend)new CpuBackend());
        model.ApplyLora(new LoraConfig { Rank = 8, Alpha = 16, TargetModules = ["all-linear"], Dropout = rest.Contains("--dropout") ? 0.05f : 0f,
            UseDora = rest.Contains("--dora") });
        using var trainer = new Trainer(model, new TrainerOptions { LearningRate = 1e-4f, TotalSteps = steps + 1 });
        var rng = new Random(0);
        var batch = TokenBatch.Pack(Enumerable.Range(0, sequences)
            .Select(_ => (Enumerable.Range(0, length).Select(_ => rng.Next(model.Spec.VocabSize)).ToArray(), Enumerable.Repeat(true, length).ToArray()))
            .ToList());

        trainer.TrainStep([batch]);                   // warm-up: JIT, workspace allocation
        profiler?.Reset();
        var times = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            var watch = Stopwatch.StartNew();
            var r = trainer.TrainStep([batch]);
            times.Add(watch.Elapsed.TotalSeconds);
            Console.Error.WriteLine($"scalpel step {s + 1}: {watch.Elapsed.TotalSeconds:F2} s, loss {r.Loss:F4}");
        }
        profiler?.Print(Console.Error, steps);
        double median = times.Order().ElementAt(times.Count / 2);
        double tokensPerSecond = sequences * length / median;
        Console.WriteLine($"{{\"tokens_per_s\": {tokensPerSecond:F2}, \"peak_rss_mb\": {PeakRssMb():F1}}}");
        return 0;
    }

    /// <summary>VmHWM: the process's peak resident set.</summary>
    public static double PeakRssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:"))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        return double.NaN;
    }
}
