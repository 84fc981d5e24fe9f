using System.Text.Json.Nodes;
using Scalpel.IO;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.IO;

public class CheckpointReaderTests
{
    /// <summary>Three shards the way transformers names them, plus the index; returns name → values.</summary>
    private static Dictionary<string, float[]> WriteSharded(TempDir dir, Action<JsonObject>? editIndex = null)
    {
        var rng = new Random(3);
        var all = new Dictionary<string, float[]>();
        var weightMap = new JsonObject();
        string[][] shards =
        [
            ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"],
            ["model.layers.0.mlp.down_proj.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.1.input_layernorm.weight"],
            ["model.norm.weight", "lm_head.weight"],
        ];
        for (int s = 0; s < shards.Length; s++)
        {
            string file = $"model-{s + 1:D5}-of-{shards.Length:D5}.safetensors";
            var writer = new SafeTensorsWriter();
            foreach (string name in shards[s])
            {
                float[] values = TestData.Uniform(rng, 6 + name.Length % 5);
                all[name] = values;
                writer.Add(name, DType.F32, [values.Length], values);
                weightMap[name] = file;
            }
            writer.Save(dir.File(file));
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = all.Values.Sum(v => v.Length * 4) },
            ["weight_map"] = weightMap,
        };
        editIndex?.Invoke(index);
        File.WriteAllText(dir.File(CheckpointReader.IndexFileName), index.ToJsonString());
        return all;
    }

    private static SafeTensorsFormatException Rejected(TempDir dir, params string[] mentions)
    {
        var e = Assert.Throws<SafeTensorsFormatException>(() => CheckpointReader.Open(dir.Path).Dispose());
        foreach (string m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    [Fact]
    public void ShardedCheckpointRoutesEveryTensorToItsShard()
    {
        using var dir = new TempDir();
        var expected = WriteSharded(dir);
        using var reader = CheckpointReader.Open(dir.Path);

        Assert.Equal(dir.Path, reader.Directory);
        Assert.Equal(3, reader.Files.Count);
        Assert.Equal(expected.Keys.Order(), reader.TensorNames.Order());
        foreach (var (name, values) in expected)
        {
            Assert.True(reader.Contains(name));
            Assert.Equal([values.Length], reader.Info(name).Shape);
            var f32 = new float[values.Length];
            reader.ReadAsF32(name, f32);
            Assert.Equal(values, f32);
            var bf16 = new ushort[values.Length];
            reader.ReadAsBF16(name, bf16);
            Assert.Equal(values.Select(BFloat16Bits.FromSingle), bf16);
        }
        Assert.False(reader.Contains("model.layers.2.mlp.up_proj.weight"));
        var e = Assert.Throws<SafeTensorsFormatException>(() => reader.Info("model.layers.2.mlp.up_proj.weight"));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("'model.layers.2.mlp.up_proj.weight'", e.Message);
        Assert.Throws<SafeTensorsFormatException>(() => reader.ReadAsF32("missing", new float[1]));
    }

    [Fact]
    public void SingleFileCheckpoint()
    {
        using var dir = new TempDir();
        var writer = new SafeTensorsWriter();
        writer.Add("model.norm.weight", DType.BF16, [3], new float[] { 1, 2, 3 });
        writer.Save(dir.File("model.safetensors"));
        using var reader = CheckpointReader.Open(dir.Path);
        Assert.Equal(["model.norm.weight"], reader.TensorNames.ToArray());
        var values = new float[3];
        reader.ReadAsF32("model.norm.weight", values);
        Assert.Equal([1f, 2f, 3f], values);
        Assert.Equal(DType.BF16, reader.Info("model.norm.weight").DType);
    }

    [Fact]
    public void ASingleFileWinsOverAnIndexLikeTransformers()
    {
        using var dir = new TempDir();
        WriteSharded(dir);
        var writer = new SafeTensorsWriter();
        writer.Add("only", DType.F32, [1], new float[] { 5 });
        writer.Save(dir.File("model.safetensors"));
        using var reader = CheckpointReader.Open(dir.Path);
        Assert.Equal(["only"], reader.TensorNames.ToArray());
    }

    [Fact]
    public void MissingShardIsNamed()
    {
        using var dir = new TempDir();
        WriteSharded(dir);
        File.Delete(dir.File("model-00002-of-00003.safetensors"));
        Rejected(dir, dir.Path, "'model-00002-of-00003.safetensors'", "does not exist", "'model.layers.0.mlp.down_proj.weight' and 2 others");
    }

    [Fact]
    public void TensorListedInTheIndexButAbsentFromItsShardIsNamed()
    {
        using var dir = new TempDir();
        WriteSharded(dir, index => index["weight_map"]!["model.layers.5.mlp.gate_proj.weight"] = "model-00003-of-00003.safetensors");
        Rejected(dir, dir.Path, "'model.layers.5.mlp.gate_proj.weight'", "'model-00003-of-00003.safetensors'", "does not contain it");
    }

    [Fact]
    public void TensorMappedToTheWrongShardIsNamed()
    {
        using var dir = new TempDir();
        WriteSharded(dir, index => index["weight_map"]!["lm_head.weight"] = "model-00001-of-00003.safetensors");
        Rejected(dir, dir.Path, "'lm_head.weight'", "'model-00001-of-00003.safetensors'", "stored in 'model-00003-of-00003.safetensors'");
    }

    [Fact]
    public void TheSameTensorInTwoShardsIsAnError()
    {
        using var dir = new TempDir();
        WriteSharded(dir);
        // Rewrite shard 3 so it also holds a tensor that shard 1 has.
        var writer = new SafeTensorsWriter();
        writer.Add("model.norm.weight", DType.F32, [2], new float[2]);
        writer.Add("lm_head.weight", DType.F32, [2], new float[2]);
        writer.Add("model.embed_tokens.weight", DType.F32, [2], new float[2]);
        writer.Save(dir.File("model-00003-of-00003.safetensors"));
        Rejected(dir, dir.Path, "'model.embed_tokens.weight'", "two shards", "'model-00001-of-00003.safetensors'", "'model-00003-of-00003.safetensors'");
    }

    [Fact]
    public void ACorruptShardIsNamed()
    {
        using var dir = new TempDir();
        WriteSharded(dir);
        File.WriteAllBytes(dir.File("model-00002-of-00003.safetensors"), new byte[5]);
        Rejected(dir, dir.File("model-00002-of-00003.safetensors"), "too short");
    }

    [Fact]
    public void AFolderWithoutWeightsSaysWhatWasExpected()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("config.json"), "{}");
        var e = Rejected(dir, dir.Path, "model.safetensors", "model.safetensors.index.json");
        Assert.DoesNotContain(".bin", e.Message);

        File.WriteAllBytes(dir.File("pytorch_model.bin"), [1, 2, 3]);
        Rejected(dir, "PyTorch .bin weights");

        Assert.Throws<DirectoryNotFoundException>(() => CheckpointReader.Open(dir.File("nowhere")));
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[1]", "must be a JSON object")]
    [InlineData("{\"metadata\":{}}", "no 'weight_map'")]
    [InlineData("{\"weight_map\":[]}", "no 'weight_map'")]
    [InlineData("{\"weight_map\":{}}", "empty weight_map")]
    [InlineData("{\"weight_map\":{\"w\":3}}", "'w' must be a file name")]
    [InlineData("{\"weight_map\":{\"w\":\"../outside.safetensors\"}}", "not a plain file name")]
    [InlineData("{\"weight_map\":{\"w\":\"/etc/passwd\"}}", "not a plain file name")]
    [InlineData("{\"weight_map\":{\"w\":\"a.safetensors\",\"w\":\"b.safetensors\"}}", "'w' twice")]
    public void BadIndexFilesAreNamed(string index, string mention)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(CheckpointReader.IndexFileName), index);
        Rejected(dir, dir.File(CheckpointReader.IndexFileName), mention);
    }
}
