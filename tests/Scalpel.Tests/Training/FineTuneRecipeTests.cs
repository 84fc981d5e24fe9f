using System.Text.Json.Nodes;
using Scalpel.IO;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;
using Xunit;

namespace Scalpel.Tests.Training;

/// <summary>
/// The whole recipe on a tiny random model that uses the real Phi-3-mini tokenizer and chat template: chat JSONL →
/// template → tokens + masks → LoRA training with validation, early stopping, checkpoints, resume and the report.
/// </summary>
public class FineTuneRecipeTests
{
    private static readonly string[] Positive = ["wonderful", "great", "lovely", "excellent"];
    private static readonly string[] Negative = ["awful", "terrible", "horrible", "dreadful"];
    private static readonly string[] Filler = ["the", "film", "was", "really", "quite", "and", "plot", "music", "acting", "very"];

    internal sealed class Workspace : IDisposable
    {
        private readonly TinyCheckpoint.TempDir _dir = new();
        public string Root => _dir.Path;
        public string Registry => Path.Combine(Root, "runs.db");

        public Workspace()
        {
            string model = Path.Combine(Root, "model");
            TinyCheckpoint.Write(TinyCheckpoint.Llama(vocab: 32064, hidden: 32, heads: 4, kvHeads: 2, headDim: 8, intermediate: 64), model, seed: 3);
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
                File.Copy(Path.Combine(RepoPaths.Fixtures, "tokenizers", "phi-3-mini", f), Path.Combine(model, f));
            WriteData("train.jsonl", 96, seed: 1);
            WriteData("val.jsonl", 24, seed: 2);
        }

        private void WriteData(string name, int count, int seed)
        {
            var rng = new Random(seed);
            var lines = new List<string>();
            for (int i = 0; i < count; i++)
            {
                bool positive = rng.Next(2) == 0;
                var words = Enumerable.Range(0, 6).Select(_ => Filler[rng.Next(Filler.Length)]).ToList();
                var keys = positive ? Positive : Negative;
                words.Insert(rng.Next(words.Count), keys[rng.Next(keys.Length)]);
                var record = new JsonObject
                {
                    ["messages"] = new JsonArray(
                        new JsonObject { ["role"] = "user", ["content"] = "Sentiment: " + string.Join(' ', words) },
                        new JsonObject { ["role"] = "assistant", ["content"] = positive ? "positive" : "negative" }),
                };
                lines.Add(record.ToJsonString());
            }
            File.WriteAllLines(Path.Combine(Root, name), lines);
        }

        public TrainConfig Config(string run, params string[] overrides) => TrainConfig.Parse($"""
            model:
              path: model
            data:
              train: train.jsonl
              validation: val.jsonl
              max_length: 64
            method: lora
            lora:
              rank: 4
              alpha: 8
              dropout: 0
              target_modules: all-linear
            training:
              epochs: 2
              batch_size: 8
              lr: 0.01
              warmup_steps: 2
              seed: 7
            validation:
              interval: 4
            checkpoints:
              interval: 4
              keep: 2
            output:
              dir: {run}
            """, "config.yaml", overrides, Root);

        public void Dispose() => _dir.Dispose();
    }

    private static float[][] AdapterWeights(string adapterDir)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(adapterDir, "adapter_model.safetensors"));
        return file.Tensors.Keys.Order(StringComparer.Ordinal).Select(name =>
        {
            var values = new float[file.Tensors[name].ElementCount];
            file.ReadAsF32(name, values);
            return values;
        }).ToArray();
    }

    [Fact]
    public void TrainsValidatesAndWritesTheRunFolder()
    {
        using var ws = new Workspace();
        var result = FineTuneRecipe.Run(ws.Config("run"), resume: false, ws.Registry);
        string run = result.RunDirectory;

        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(24, result.Steps);   // 96 examples / 8 per batch × 2 epochs
        foreach (var f in new[] { "config.yaml", "data.json", "env.json", "metrics.jsonl", "report.html", "adapter/adapter_config.json", "adapter/adapter_model.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        Assert.True(new CheckpointStore(run, 2).List().Count is >= 2 and <= 3);   // keep 2, plus the best

        var lines = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var train = lines.Where(l => (string?)l["type"] == "train").ToList();
        var val = lines.Where(l => (string?)l["type"] == "val").ToList();
        Assert.Equal(24, train.Count);
        Assert.Equal(6, val.Count);
        Assert.Equal("summary", (string?)lines[^1]["type"]);
        // Learning happened: validation loss fell well below where it started.
        Assert.True((double)val[^1]["val_loss"]! < 0.7 * (double)val[0]["val_loss"]!, $"val_loss {val[0]["val_loss"]} → {val[^1]["val_loss"]}");

        // The data summary counts what was rendered; only the assistant answer (+ end of turn) is trained.
        var data = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "data.json")))!;
        Assert.Equal(96, (int)data["train"]!["rendered"]!);
        Assert.True((long)data["train"]!["trainable_tokens"]! < (long)data["train"]!["tokens"]! / 3);

        using var registry = RunRegistry.Open(ws.Registry);
        var record = Assert.Single(registry.List());
        Assert.Equal(RunStatus.Completed, record.Status);
        Assert.Equal(result.BestStep, record.BestStep);
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestAdapter()
    {
        using var ws = new Workspace();
        // Improvements smaller than min_delta do not count: the first evaluation stays the best, patience runs out.
        var result = FineTuneRecipe.Run(ws.Config("run", "validation.early_stopping.patience=2", "validation.early_stopping.min_delta=100"),
            resume: false, ws.Registry);
        Assert.Equal(RunStatus.Stopped, result.Status);
        Assert.Contains("early stopping", result.StopReason);
        Assert.Equal(4, result.BestStep);
        Assert.Equal(12, result.Steps);
        var best = new CheckpointStore(result.RunDirectory, 2).List().Single(c => c.Step == 4);
        var chosen = AdapterWeights(Path.Combine(result.RunDirectory, "adapter"));
        var atBest = AdapterWeights(Path.Combine(best.Path, "adapter"));
        Assert.Equal(atBest.Length, chosen.Length);
        for (int i = 0; i < chosen.Length; i++) Assert.Equal(atBest[i], chosen[i]);
    }

    [Fact]
    public void InterruptedThenResumedEndsWithTheSameWeights()
    {
        using var ws = new Workspace();
        string[] noValidation = ["data.validation=", "training.max_steps=9", "checkpoints.interval=100", "lora.dropout=0.1"];
        var straight = FineTuneRecipe.Run(ws.Config("straight", noValidation), resume: false, ws.Registry);
        Assert.Equal(RunStatus.Completed, straight.Status);

        using var cancel = new CancellationTokenSource();
        var progress = new Progress(p => { if (p.Step == 4) cancel.Cancel(); });
        var stopped = FineTuneRecipe.Run(ws.Config("resumed", noValidation), resume: false, ws.Registry, progress, cancel.Token);
        Assert.Equal(RunStatus.Interrupted, stopped.Status);
        Assert.Equal(4, stopped.Steps);

        var resumed = FineTuneRecipe.Run(ws.Config("resumed", noValidation), resume: true, ws.Registry);
        Assert.Equal(RunStatus.Completed, resumed.Status);
        Assert.Equal(9, resumed.Steps);
        var a = AdapterWeights(Path.Combine(straight.RunDirectory, "adapter"));
        var b = AdapterWeights(Path.Combine(resumed.RunDirectory, "adapter"));
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i]);
        // The resumed metrics continue where the checkpoint was: one train line per step, no duplicates.
        var steps = File.ReadAllLines(Path.Combine(resumed.RunDirectory, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!)
            .Where(l => (string?)l["type"] == "train").Select(l => (int)l["step"]!).ToList();
        Assert.Equal(Enumerable.Range(1, 9), steps);
    }

    [Fact]
    public void ADivergingRunStopsWithAClearMessage()
    {
        using var ws = new Workspace();
        var result = FineTuneRecipe.Run(ws.Config("run", "training.lr=1e30", "training.max_grad_norm=0", "data.validation="), resume: false, ws.Registry);
        Assert.Equal(RunStatus.Failed, result.Status);
        Assert.Contains("loss became", result.StopReason);
    }

    [Fact]
    public void StartingOverAnExistingRunIsRefused()
    {
        using var ws = new Workspace();
        FineTuneRecipe.Run(ws.Config("run", "training.max_steps=1", "data.validation="), resume: false, ws.Registry);
        var e = Assert.Throws<FineTuneException>(() => FineTuneRecipe.Run(ws.Config("run", "training.max_steps=1", "data.validation="), resume: false, ws.Registry));
        Assert.Contains("--resume", e.Message);
    }

    [Fact]
    public void FullFineTuningWritesAModelFolderThatLoads()
    {
        using var ws = new Workspace();
        var result = FineTuneRecipe.Run(ws.Config("run", "method=full", "training.max_steps=4", "training.lr=1e-3", "validation.interval=2"),
            resume: false, ws.Registry);
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.EndsWith("model", result.OutputPath);
        using var model = Scalpel.Models.DecoderModel.Load(result.OutputPath, new Scalpel.Backends.Cpu.CpuBackend());
        using var original = Scalpel.Models.DecoderModel.Load(Path.Combine(ws.Root, "model"), new Scalpel.Backends.Cpu.CpuBackend());
        // Every weight moved (full fine-tuning), and the folder is a plain Hugging Face checkpoint.
        var changed = model.Parameters.Zip(original.Parameters).Count(p =>
            !DecoderOracle.Download(model, p.First).SequenceEqual(DecoderOracle.Download(original, p.Second)));
        Assert.Equal(model.Parameters.Count, changed);
        Assert.True(File.Exists(Path.Combine(result.OutputPath, "tokenizer.json")));
    }

    /// <summary>QLoRA end to end: the base is NF4 (or Q8_0) from load on, LoRA still learns the task, the adapter saves.</summary>
    [Theory]
    [InlineData("nf4")]
    [InlineData("q8_0")]
    public void QloraLearnsOnAQuantizedBase(string quantize)
    {
        using var ws = new Workspace();
        var result = FineTuneRecipe.Run(ws.Config("run", "method=qlora", "model.quantize=" + quantize), resume: false, ws.Registry);
        Assert.Equal(RunStatus.Completed, result.Status);
        var val = File.ReadAllLines(Path.Combine(result.RunDirectory, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(l => (string?)l["type"] == "val").ToList();
        Assert.True((double)val[^1]["val_loss"]! < 0.7 * (double)val[0]["val_loss"]!, $"val_loss {val[0]["val_loss"]} → {val[^1]["val_loss"]}");
        Assert.True(File.Exists(Path.Combine(result.RunDirectory, "adapter", "adapter_model.safetensors")));
        Assert.Contains("quantize: " + quantize, File.ReadAllText(Path.Combine(result.RunDirectory, "config.yaml")));
    }

    internal sealed class Progress(Action<FineTuneProgress> report) : IProgress<FineTuneProgress>
    {
        public void Report(FineTuneProgress value) => report(value);
    }
}
