using System.Text.Json.Nodes;
using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Evaluation;
using Scalpel.Models;
using Scalpel.Tests.Cli;
using Scalpel.Tests.Models;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Evaluation;

/// <summary>
/// The "was fine-tuning worth it?" path end to end on the keyword task: a random tiny model that no prompt can rescue
/// against the adapter the pipeline check trains, and a model that already knows the task against an adapter that
/// changes nothing. The verdicts must say opposite things.
/// </summary>
[Collection("console")]
public sealed class CompareEndToEndTests : IClassFixture<CompareEndToEndTests.TrainedTask>
{
    /// <summary>One pipeline-check run shared by the tests: tiny model, train/val data, trained adapter.</summary>
    public sealed class TrainedTask : IDisposable
    {
        public TinyCheckpoint.TempDir Dir { get; } = new();
        public string Work => Path.Combine(Dir.Path, "work");
        public string Model => Path.Combine(Work, "model");
        public string Train => Path.Combine(Work, "train.jsonl");
        public string Val => Path.Combine(Work, "val.jsonl");
        public string Adapter { get; }

        public TrainedTask()
        {
            var report = PipelineCheck.Run(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "config.yaml"), Work);
            Adapter = report.Run.OutputPath;
        }

        public void Dispose() => Dir.Dispose();
    }

    private readonly TrainedTask _task;
    public CompareEndToEndTests(TrainedTask task) => _task = task;

    private string Suite(string name, int fewShot = 1)
    {
        string path = Path.Combine(_task.Dir.Path, name + ".yaml");
        File.WriteAllText(path, $"""
            name: {name}
            tasks:
              - name: labels
                data: {_task.Val}
                limit: 60
                system_prompt: "Answer with one word: alpha, bravo, charlie, delta or echo."
                few_shot: {fewShot}
                generation: {"{"}max_tokens: 4{"}"}
                metrics:
                  - exact_match
                  - accuracy: {"{"}labels: [alpha, bravo, charlie, delta, echo]{"}"}
            regression:
              data: {_task.Train}
              metrics: [exact_match, perplexity]
            """);
        return path;
    }

    [Fact]
    public void AnAdapterThatSolvesTheTaskWinsBeyondNoise()
    {
        string output = Path.Combine(_task.Dir.Path, "out-wins");
        var (code, stdout, stderr) = CliRunner.Run("compare", Suite("wins"), "--model", _task.Model, "--train", _task.Train,
            "--adapter", _task.Adapter, "--limit", "60", "--out", output);
        Assert.True(code == 0, stderr);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "compare.json")))!;
        var setups = json["setups"]!.AsObject();
        foreach (var name in new[] { "zero-shot", "system-prompt", "few-shot-random", "few-shot-retrieved", "adapter" })
            Assert.True(setups.ContainsKey(name), $"compare.json lacks setup {name}");
        double Metric(string setup, string metric) => (double)setups[setup]!["metrics"]![metric]!["value"]!;
        Assert.True(Metric("adapter", "exact_match") >= 0.9, $"adapter exact match {Metric("adapter", "exact_match")}");
        Assert.True(Metric("zero-shot", "exact_match") <= 0.3);
        var ci = setups["adapter"]!["metrics"]!["exact_match"]!["ci95"]!.AsArray();
        Assert.True((double)ci[0]! <= Metric("adapter", "exact_match") && Metric("adapter", "exact_match") <= (double)ci[1]!);

        var verdict = json["verdict"]!;
        Assert.Equal("adapter", (string)verdict["winner"]!);
        Assert.True((bool)verdict["fine_tuning_worth_it"]!);
        Assert.Contains("worth it", (string)verdict["summary"]!);
        Assert.Contains("worth it", stdout);
        // The regression set is the training data here, so the adapter cannot have made it worse.
        Assert.False((bool)verdict["regression_worse"]!);

        string html = File.ReadAllText(Path.Combine(output, "compare.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("Confusion matrix", html);
        Assert.Contains("disagree", html);
        Assert.DoesNotContain("<script src", html);
        Assert.Contains("Fine-tuning was worth it", File.ReadAllText(Path.Combine(output, "compare.md")));
        Assert.True(File.Exists(Path.Combine(output, "examples", "labels.adapter.jsonl")));
    }

    [Fact]
    public void AnAdapterThatAddsNothingIsNotWorthIt()
    {
        // A base that already knows the task (the trained adapter merged in) and an adapter that changes nothing (B = 0).
        string merged = Path.Combine(_task.Dir.Path, "merged");
        var (code, _, stderr) = CliRunner.Run("export", "merged", "--model", _task.Model, "--adapter", _task.Adapter, "--out", merged);
        Assert.True(code == 0, stderr);
        string noop = Path.Combine(_task.Dir.Path, "noop-adapter");
        using (var model = DecoderModel.Load(merged, new CpuBackend()))
        {
            model.ApplyLora(new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["q_proj", "v_proj"] });
            PeftAdapter.Save(model, noop);
        }
        string output = Path.Combine(_task.Dir.Path, "out-noop");
        (code, var stdout, stderr) = CliRunner.Run("compare", Suite("noop"), "--model", merged, "--train", _task.Train,
            "--adapter", noop, "--out", output);
        Assert.True(code == 0, stderr);
        var verdict = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "compare.json")))!["verdict"]!;
        Assert.False((bool)verdict["fine_tuning_worth_it"]!);
        Assert.Contains("not", (string)verdict["summary"]!);
        Assert.Equal("noop-adapter", (string)verdict["best_adapter"]!);
        Assert.NotNull((string?)verdict["best_prompting"]);
        Assert.Contains("not", stdout);
    }

    [Fact]
    public void EvalPrintsTheInterfaceJson()
    {
        string output = Path.Combine(_task.Dir.Path, "out-eval");
        var (code, stdout, stderr) = CliRunner.Run("eval", Suite("eval"), "--model", _task.Model, "--adapter", _task.Adapter,
            "--json", "--out", output, "--limit", "30");
        Assert.True(code == 0, stderr);
        var json = JsonNode.Parse(stdout)!;
        var task = json["tasks"]![0]!;
        Assert.Equal("labels", (string)task["name"]!);
        var em = task["metrics"]!["exact_match"]!;
        Assert.True((double)em["value"]! >= 0.9);
        Assert.Equal(2, em["ci95"]!.AsArray().Count);
        Assert.NotNull(task["metrics"]!["macro_f1"]);
        Assert.True(File.Exists(Path.Combine(output, "results.json")));
        var lines = File.ReadAllLines(Path.Combine(output, "examples", "labels.jsonl"));
        Assert.Equal(30, lines.Length);
        Assert.NotNull(JsonNode.Parse(lines[0])!["prediction"]);
    }

    [Fact]
    public void ChoiceConstrainedAnswersAreAlwaysALabel()
    {
        string suite = Path.Combine(_task.Dir.Path, "choices.yaml");
        File.WriteAllText(suite, $"""
            name: choices
            tasks:
              - name: labels
                data: {_task.Val}
                limit: 25
                generation: {"{"}max_tokens: 8, temperature: 1.2, choices: [alpha, bravo, charlie, delta, echo]{"}"}
                metrics:
                  - accuracy: {"{"}labels: [alpha, bravo, charlie, delta, echo]{"}"}
            """);
        string output = Path.Combine(_task.Dir.Path, "out-choices");
        var (code, _, stderr) = CliRunner.Run("eval", suite, "--model", _task.Model, "--out", output);
        Assert.True(code == 0, stderr);
        var predictions = File.ReadAllLines(Path.Combine(output, "examples", "labels.jsonl")).Select(l => (string)JsonNode.Parse(l)!["prediction"]!).ToList();
        Assert.Equal(25, predictions.Count);
        Assert.All(predictions, p => Assert.Contains(p, new[] { "alpha", "bravo", "charlie", "delta", "echo" }));
    }
}
