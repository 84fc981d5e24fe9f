using Scalpel.Adapters;
using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Models;
using Xunit;

namespace Scalpel.Tests.Adapters;

[Collection("console")]
public class MergedExportTests
{
    private static int Cli(params string[] args) => Scalpel.Tests.Cli.CliRunner.Run(args).Code;

    [Fact]
    public void MergedLogitsEqualBasePlusAdapterLogits()
    {
        var spec = DecoderModelOracleTests.Variant("qwen2-bias-tied-gqa4");
        using var baseDir = new TinyCheckpoint.TempDir();
        using var adapterDir = new TinyCheckpoint.TempDir();
        using var outRoot = new TinyCheckpoint.TempDir();
        string merged = Path.Combine(outRoot.Path, "merged");
        TinyCheckpoint.Write(spec, baseDir.Path, seed: 8);
        var batch = DecoderOracle.Batches(spec.VocabSize, 1, [13, 6])[0];
        int[] rows = [0, 5, 12, 18];

        float[] expected;
        using (var model = DecoderModel.Load(baseDir.Path, new CpuBackend()))
        {
            model.ApplyLora(new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["all-linear"] }, seed: 2);
            DecoderOracle.RandomizeLoraB(model, 3);
            expected = model.Logits(batch, rows);
            PeftAdapter.Save(model, adapterDir.Path);
        }
        // A small shard size forces several shards and an index.
        Assert.Equal(0, Cli("export", "merged", "--model", baseDir.Path, "--adapter", adapterDir.Path, "--out", merged,
            "--dtype", "f32", "--max-shard-size", "40KB"));
        Assert.True(File.Exists(Path.Combine(merged, CheckpointReader.IndexFileName)));

        using var mergedModel = DecoderModel.Load(merged, new CpuBackend());
        Assert.DoesNotContain(mergedModel.Parameters, p => p.Name.Contains("lora"));
        var actual = mergedModel.Logits(batch, rows);
        // W·x + s·B·(A·x) vs (W + s·B·A)·x: the same sums in another order, fp32 rounding only.
        AssertClose.Equal(expected, actual, atol: 2e-4f, rtol: 1e-4f, what: "merged logits");
    }

    [Fact]
    public void WithoutAdapterTheWeightsRoundTripExactlyAndCompanionsAreCopied()
    {
        var spec = TinyCheckpoint.Llama();
        using var baseDir = new TinyCheckpoint.TempDir();
        using var outRoot = new TinyCheckpoint.TempDir();
        string output = Path.Combine(outRoot.Path, "copy");
        var weights = TinyCheckpoint.Write(spec, baseDir.Path, seed: 9, storeAs: DType.BF16);
        File.WriteAllText(Path.Combine(baseDir.Path, "tokenizer_config.json"), """{"bos_token": "<s>"}""");

        Assert.Equal(0, Cli("export", "merged", "--model", baseDir.Path, "--out", output));   // dtype defaults to the source's (BF16)
        Assert.Equal("""{"bos_token": "<s>"}""", File.ReadAllText(Path.Combine(output, "tokenizer_config.json")));
        using var reader = CheckpointReader.Open(output);
        Assert.Equal(weights.Keys.Order(), reader.TensorNames.Order());
        foreach (var (name, values) in weights)
        {
            Assert.Equal(DType.BF16, reader.Info(name).DType);
            var read = new float[values.Length];
            reader.ReadAsF32(name, read);
            Assert.Equal(values, read);
        }
    }

    [Fact]
    public void ANonEmptyOutputFolderIsRefused()
    {
        using var baseDir = new TinyCheckpoint.TempDir();
        using var outDir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(TinyCheckpoint.Llama(), baseDir.Path, seed: 1);
        File.WriteAllText(Path.Combine(outDir.Path, "keep.txt"), "mine");
        var (code, _, err) = Scalpel.Tests.Cli.CliRunner.Run("export", "merged", "--model", baseDir.Path, "--out", outDir.Path);
        Assert.Equal(1, code);
        Assert.Contains("not empty", err);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir.Path, "keep.txt")));
        Assert.Equal(2, Cli("export", "merged", "--model", baseDir.Path));
    }
}
