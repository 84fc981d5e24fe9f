using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Scalpel.Training.Config;
using Scalpel.Training.Recipes;
using Xunit;

namespace Scalpel.Tests.Training;

/// <summary>
/// The memory plan against what the engine really allocates: every planned item is compared with the bytes of the
/// tensors a loaded model, its adapter, its trainer and its workspace hold after a training step.
/// </summary>
public class MemoryPlanTests
{
    public static TheoryData<string, string, bool, float> Cases()
    {
        var data = new TheoryData<string, string, bool, float>();
        foreach (string variant in new[] { "llama-gqa2", "qwen2-bias-tied-gqa4", "qwen3-qknorm", "linear-rope-mlpbias" })
        {
            data.Add(variant, "lora", false, 0f);
            data.Add(variant, "lora", true, 0.1f);
            data.Add(variant, "full", true, 0f);
        }
        data.Add("llama-gqa2", "full", false, 0f);
        data.Add("qwen2-bias-tied-gqa4", "nf4", true, 0f);
        data.Add("llama-gqa2", "q8_0", false, 0.05f);
        data.Add("qwen3-qknorm", "bf16", true, 0f);
        data.Add("llama-gqa2", "dora", false, 0f);
        data.Add("qwen2-bias-tied-gqa4", "dora", true, 0.1f);
        data.Add("qwen2-bias-tied-gqa4", "save:lm_head", false, 0f);
        data.Add("qwen2-bias-tied-gqa4", "save:embed_tokens,lm_head", true, 0f);
        data.Add("llama-gqa2", "save:embed_tokens+dora", true, 0.05f);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryPlannedItemEqualsWhatTheEngineAllocates(string variant, string method, bool checkpointing, float dropout)
    {
        var spec = DecoderModelOracleTests.Variant(variant) with { IntermediateSize = 128 };   // NF4 needs multiples of 64
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 3, storeAs: method == "bf16" ? DType.BF16 : DType.F32);
        bool full = method == "full";
        var precision = method switch { "full" => WeightPrecision.F32, "nf4" => WeightPrecision.NF4, "q8_0" => WeightPrecision.Q8_0, _ => WeightPrecision.Auto };
        string[] saved = method.StartsWith("save:") ? method[5..].Split('+')[0].Split(',') : [];
        var lora = new LoraConfig
        {
            Rank = 3, Alpha = 6, Dropout = dropout, TargetModules = variant == "llama-gqa2" ? ["q_proj", "v_proj", "down_proj"] : ["all-linear"],
            UseDora = method.Contains("dora"), ModulesToSave = saved,
        };
        const int tokens = 37;

        var plan = MemoryPlanner.Plan(new MemoryPlanInputs
        {
            Spec = spec, Method = full ? TrainingMethod.Full : TrainingMethod.Lora, Precision = precision,
            CheckpointDType = method == "bf16" ? DType.BF16 : DType.F32, Lora = full ? null : lora,
            TokensPerMicroBatch = tokens, GradientCheckpointing = checkpointing,
        });

        using var model = DecoderModel.Load(dir.Path, new CpuBackend(), precision);
        model.GradientCheckpointing = checkpointing;
        if (full) model.EnableFullFineTuning();
        else model.ApplyLora(lora, seed: 1);
        long baseBytes = model.Parameters.Where(p => full || !p.Trainable).Sum(p => p.Value.ByteLength);
        long doraState = model.LoraLinears.Where(l => l.Lora!.Dora is not null)
            .Sum(l => l.Lora!.Dora!.Scale.ByteLength + l.Lora.Dora.InverseNorm.ByteLength + 4L * l.Lora.Dora.WeightRowNormsSquared.Length + 4L * l.Lora.Rank * l.Lora.Rank);
        using var trainer = new Trainer(model, new TrainerOptions { TotalSteps = 2 });
        var rng = new Random(5);
        var batch = TokenBatch.Pack([
            (Enumerable.Range(0, 20).Select(_ => rng.Next(spec.VocabSize)).ToArray(), Enumerable.Repeat(true, 20).ToArray()),
            (Enumerable.Range(0, tokens - 20).Select(_ => rng.Next(spec.VocabSize)).ToArray(), Enumerable.Repeat(true, tokens - 20).ToArray()),
        ]);
        trainer.TrainStep([batch]);

        var trainable = model.TrainableParameters.ToList();
        Assert.Equal(baseBytes, plan["base weights"]);
        Assert.Equal(full ? 0 : trainable.Sum(p => p.Value.ByteLength) + doraState, plan["adapter"]);
        Assert.Equal(trainable.Sum(p => p.Grad!.ByteLength), plan["gradients"]);
        Assert.Equal(2 * trainable.Sum(p => p.Grad!.ByteLength), plan["optimizer"]);
        Assert.Equal(model.WorkspaceBytes, plan["activations"] + plan["backward scratch"]);
    }

    [Fact]
    public void CheckpointingShrinksActivationsByAboutTheLayerCount()
    {
        var spec = TinyCheckpoint.Llama(layers: 8);
        MemoryPlan Plan(bool checkpointing) => MemoryPlanner.Plan(new MemoryPlanInputs
        {
            Spec = spec, Method = TrainingMethod.Lora, Precision = WeightPrecision.Auto, TokensPerMicroBatch = 1024, GradientCheckpointing = checkpointing,
        });
        double ratio = (double)Plan(false)["activations"] / Plan(true)["activations"];
        Assert.InRange(ratio, 3, 8);
    }

    [Fact]
    public void TheCrossEntropyNeverPlansLogitsForTheWholeBatch()
    {
        var spec = TinyCheckpoint.Llama(vocab: 151_936, hidden: 128, layers: 1);
        var plan = MemoryPlanner.Plan(new MemoryPlanInputs
        {
            Spec = spec, Method = TrainingMethod.Lora, Precision = WeightPrecision.Auto, TokensPerMicroBatch = 4096,
        });
        long wholeBatchLogits = 4096L * 151_936 * 4;
        Assert.True(plan["loss and attention"] < wholeBatchLogits / 50, $"{plan["loss and attention"]} bytes");
    }

    [Fact]
    public void ValidationScoresTokensInChunksAndAgreesWithLogits()
    {
        var spec = TinyCheckpoint.Llama(vocab: 70_001, hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64);
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 9);
        using var model = DecoderModel.Load(dir.Path, new CpuBackend());
        var rng = new Random(2);
        var ids = Enumerable.Range(0, 250).Select(_ => rng.Next(spec.VocabSize)).ToArray();
        var batch = TokenBatch.Pack([(ids, Enumerable.Repeat(true, ids.Length).ToArray())]);
        var rows = Enumerable.Range(0, batch.Count).Where(i => batch.Targets[i] != TokenBatch.IgnoreIndex).ToArray();
        var loss = new double[rows.Length];
        var right = new bool[rows.Length];
        model.ScoreTargets(batch, rows, loss, right);   // 119 rows a chunk at this vocabulary: three chunks
        var logits = model.Logits(batch, rows);
        for (int k = 0; k < rows.Length; k++)
        {
            var row = logits.AsSpan(k * spec.VocabSize, spec.VocabSize);
            double max = System.Numerics.Tensors.TensorPrimitives.Max(row), sum = 0;
            foreach (float x in row) sum += Math.Exp(x - max);
            Assert.Equal(max + Math.Log(sum) - row[batch.Targets[rows[k]]], loss[k], 1e-4);   // the GEMM blocks the rows differently
            Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row) == batch.Targets[rows[k]], right[k]);
        }
    }

    [Fact]
    public void TheRecipeRefusesARunThatCannotFitBeforeWritingAnything()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        // 65,536 × 32,768 tokens a micro-batch: terabytes of activations on any machine.
        var config = ws.Config("huge", "data.max_length=32768", "training.batch_size=65536");
        var e = Assert.Throws<FineTuneException>(() => FineTuneRecipe.Run(config, resume: false, ws.Registry));
        Assert.Contains("memory plan needs", e.Message);
        Assert.Contains("change one of", e.Message);
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "huge")));
    }

    [Theory]
    [InlineData("8G", 8L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1.5 GB", 3L << 29)]
    [InlineData("1073741824", 1L << 30)]
    public void SizesParse(string text, long bytes)
    {
        Assert.True(MemoryPlanner.TryParseSize(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("12X")]
    [InlineData("-3G")]
    public void BadSizesDoNot(string text) => Assert.False(MemoryPlanner.TryParseSize(text, out _));
}
