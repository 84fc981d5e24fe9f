using Scalpel.Backends;
using Scalpel.Backends.Cpu;
using Scalpel.IO;
using Scalpel.Models;
using Scalpel.Tensors;
using Scalpel.Tests.Models;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.IO;

/// <summary>Tensors written a band of rows at a time (saving without a whole-tensor host copy) read back unchanged.</summary>
public class RangeFillWriteTests
{
    [Fact]
    public void BandsOfRowsAndWholeVectorsReadBackUnchanged()
    {
        using var backend = new CpuBackend();
        var rng = new Random(4);
        var matrix = Enumerable.Range(0, 2900 * 1500).Select(_ => (float)rng.NextDouble()).ToArray();   // 4.35 M: two bands
        var vector = Enumerable.Range(0, 777).Select(_ => (float)rng.NextDouble()).ToArray();
        using var m = backend.Allocate(DType.F32, 2900, 1500);
        using var v = backend.Allocate(DType.F32, 777);
        backend.Upload(m, matrix);
        backend.Upload(v, vector);
        var bands = new List<long>();
        var download = backend.RangeDownloader(m);
        var writer = new SafeTensorsWriter();
        writer.Add("m", DType.F32, [2900, 1500], (start, destination) => { bands.Add(start); download(start, destination); });
        writer.Add("v", DType.BF16, [777], backend.RangeDownloader(v));
        using var dir = new TinyCheckpoint.TempDir();
        string path = Path.Combine(dir.Path, "t.safetensors");
        writer.Save(path);

        Assert.Equal(2, bands.Count);
        Assert.All(bands, b => Assert.Equal(0, b % 1500));
        using var file = SafeTensorsFile.Open(path);
        var readM = new float[matrix.Length];
        file.ReadAsF32("m", readM);
        Assert.Equal(matrix, readM);
        var readV = new float[vector.Length];
        file.ReadAsF32("v", readV);
        Assert.Equal(vector.Select(x => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(x))), readV);
        // Ranged reads see the same elements.
        var part = new float[3000];
        file.ReadAsF32("m", 1500L * 7 + 11, part);
        Assert.Equal(matrix.AsSpan(1500 * 7 + 11, 3000).ToArray(), part);
    }

    [Fact]
    public void FullFineTuningOptimizerStateRoundTrips()
    {
        var spec = TinyCheckpoint.Llama();
        using var dir = new TinyCheckpoint.TempDir();
        TinyCheckpoint.Write(spec, dir.Path, seed: 2);
        float[] Moments(Trainer trainer, string path)
        {
            trainer.SaveState(path);
            using var f = SafeTensorsFile.Open(path);
            return f.TensorNames.Order().SelectMany(n => { var x = new float[f.Info(n).ElementCount]; f.ReadAsF32(n, x); return x; }).ToArray();
        }
        using var model = DecoderModel.Load(dir.Path, new CpuBackend(), WeightPrecision.F32);
        model.EnableFullFineTuning();
        using var trainer = new Trainer(model, new TrainerOptions { TotalSteps = 3 });
        var batch = TokenBatch.Pack([([5, 9, 12, 40, 7, 3], [true, true, true, true, true, true])]);
        trainer.TrainStep([batch]);
        var saved = Moments(trainer, Path.Combine(dir.Path, "a.safetensors"));
        Assert.Contains(saved, x => x != 0);

        using var again = DecoderModel.Load(dir.Path, new CpuBackend(), WeightPrecision.F32);
        again.EnableFullFineTuning();
        using var restored = new Trainer(again, new TrainerOptions { TotalSteps = 3 });
        restored.LoadState(Path.Combine(dir.Path, "a.safetensors"));
        Assert.Equal(1, restored.Step);
        Assert.Equal(saved, Moments(restored, Path.Combine(dir.Path, "b.safetensors")));
    }
}
