using Scalpel.Adapters;
using Scalpel.Backends;
using Scalpel.Backends.Cpu;
using Scalpel.Models;

using Scalpel.Training;

namespace Scalpel.Tests.Training;

/// <summary>One classification example: the token sequence ends with the label token; only that token carries loss.</summary>
public sealed record LabeledSequence(int[] Ids, bool[] LossMask, int LabelToken);

/// <summary>What the keyword demo measured.</summary>
public sealed record KeywordTaskReport(double AccuracyBefore, double AccuracyAfter, int Steps, double FinalLoss, TimeSpan Elapsed);

/// <summary>
/// A small synthetic task that a model can only solve by fine-tuning: a sentence of filler tokens hides one keyword,
/// and the answer after the separator is the label of that keyword's class (5 classes, 4 keywords each).
/// Token ids: 0 BOS, 1 separator, 2–6 labels, 7–26 keywords, the rest filler.
/// </summary>
public sealed class KeywordTask
{
    public const int Classes = 5;
    public const int KeywordsPerClass = 4;
    public const int Bos = 0, Separator = 1, FirstLabel = 2, FirstKeyword = FirstLabel + Classes;
    private const int FirstFiller = FirstKeyword + Classes * KeywordsPerClass;

    public KeywordTask(int vocabSize)
    {
        if (vocabSize < FirstFiller + 8) throw new ArgumentException($"the keyword task needs a vocabulary of at least {FirstFiller + 8}");
        VocabSize = vocabSize;
    }

    public int VocabSize { get; }

    /// <summary>The tiny Llama-style model the task trains (random weights are written by <see cref="RandomCheckpoint"/>).</summary>
    public static ModelSpec TinySpec(int vocab = 128) => PipelineCheck.TinySpec(vocab) with { BosTokenId = Bos };

    public List<LabeledSequence> Generate(int count, Random rng)
    {
        var examples = new List<LabeledSequence>(count);
        for (int e = 0; e < count; e++)
        {
            int cls = rng.Next(Classes);
            int length = rng.Next(5, 13);
            int keywordAt = rng.Next(length);
            var ids = new List<int> { Bos };
            for (int i = 0; i < length; i++)
                ids.Add(i == keywordAt ? FirstKeyword + cls * KeywordsPerClass + rng.Next(KeywordsPerClass) : rng.Next(FirstFiller, VocabSize));
            ids.Add(Separator);
            ids.Add(FirstLabel + cls);
            var mask = new bool[ids.Count];
            mask[^1] = true;
            examples.Add(new LabeledSequence(ids.ToArray(), mask, FirstLabel + cls));
        }
        return examples;
    }

    /// <summary>Exact match: the arg-max over the whole vocabulary after the separator is the right label.</summary>
    public static double Accuracy(DecoderModel model, IReadOnlyList<LabeledSequence> examples, int batchSize = 64)
    {
        int correct = 0;
        for (int start = 0; start < examples.Count; start += batchSize)
        {
            var chunk = examples.Skip(start).Take(batchSize).ToList();
            // Feed each example without its answer; read the logits at its last token (the separator).
            var prompts = chunk.Select(e => (e.Ids[..^1], new bool[e.Ids.Length - 1])).ToList();
            var batch = TokenBatch.Pack(prompts);
            var rows = new int[chunk.Count];
            int offset = 0;
            for (int i = 0; i < chunk.Count; i++) { offset += prompts[i].Item1.Length; rows[i] = offset - 1; }
            var logits = model.Logits(batch, rows);
            int vocab = model.Spec.VocabSize;
            for (int i = 0; i < chunk.Count; i++)
            {
                var row = logits.AsSpan(i * vocab, vocab);
                int best = 0;
                for (int v = 1; v < vocab; v++) if (row[v] > row[best]) best = v;
                if (best == chunk[i].LabelToken) correct++;
            }
        }
        return (double)correct / examples.Count;
    }

    /// <summary>
    /// The whole path on a tiny model: random checkpoint → base accuracy → LoRA fine-tune → accuracy.
    /// </summary>
    public static KeywordTaskReport RunDemo(string workDirectory, IProgress<StepResult>? progress = null, IBackend? backend = null,
        CancellationToken cancellationToken = default)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var spec = TinySpec();
        RandomCheckpoint.Write(spec, workDirectory, seed: 1234);
        using var model = DecoderModel.Load(workDirectory, backend ?? new CpuBackend());
        var task = new KeywordTask(spec.VocabSize);
        var rng = new Random(42);
        var train = task.Generate(2000, rng);
        var test = task.Generate(200, rng);
        double before = Accuracy(model, test);

        model.ApplyLora(new LoraConfig { Rank = 8, Alpha = 16, TargetModules = ["all-linear"] }, seed: 1);
        const int steps = 300, batchSize = 32;
        using var trainer = new Trainer(model, new TrainerOptions
        {
            LearningRate = 5e-3f, WarmupSteps = 10, TotalSteps = steps, MinLearningRateRatio = 0.1f, MaxGradNorm = 1f,
        });
        StepResult last = default;
        for (int s = 0; s < steps; s++)
        {
            var picked = Enumerable.Range(0, batchSize).Select(_ => train[rng.Next(train.Count)]).ToList();
            var batch = TokenBatch.Pack(picked.Select(e => (e.Ids, e.LossMask)).ToList());
            last = trainer.TrainStep([batch], cancellationToken);
            progress?.Report(last);
        }
        double after = Accuracy(model, test);
        return new KeywordTaskReport(before, after, steps, last.Loss, watch.Elapsed);
    }
}
