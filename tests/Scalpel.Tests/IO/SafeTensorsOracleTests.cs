using Scalpel.IO;
using Scalpel.Tensors;
using Scalpel.Tests.Oracles;
using Xunit;

namespace Scalpel.Tests.IO;

/// <summary>
/// Files cross to and from PyTorch (tests/oracles/safetensors_torch.py). The reference safetensors package is not in
/// Debian bookworm, so the script parses and writes the format itself, and torch does every dtype conversion:
/// the oracle for BF16/F16 rounding is torch's, not ours.
/// </summary>
public class SafeTensorsOracleTests
{
    [Fact]
    public void PyTorchReadsWhatScalpelWritesAndScalpelReadsWhatPyTorchWrites()
    {
        var rng = new Random(11);
        // No NaNs: torch and Scalpel may pick different NaN payloads, which is not a disagreement about the format.
        float[] values = SafeTensorsRoundTripTests.Awkward(rng, 1003).Where(v => !float.IsNaN(v)).ToArray();
        int n = values.Length;

        using var dir = new TempDir();
        string scalpelFile = dir.File("from-scalpel.safetensors"), pythonFile = dir.File("from-python.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("s.bf16", DType.BF16, [n], values); // listed first: the writer must still align the F32 after it
        writer.Add("s.f32", DType.F32, [n], values);
        writer.Add("s.f16", DType.F16, [n], values);
        writer.Add("s.empty", DType.F32, [2, 0], Array.Empty<float>());
        writer.AddBF16("s.bits", [n], values.Select(BFloat16Bits.FromSingle).ToArray());
        writer.Save(scalpelFile, new Dictionary<string, string> { ["format"] = "pt" });

        var torch = TorchOracle.Run("safetensors_torch.py", new Dictionary<string, OracleTensor> { ["values"] = new(values, n) },
            new { scalpel_file = scalpelFile, python_file = pythonFile });

        Assert.All(torch["header_ok"].Floats, ok => Assert.Equal(1f, ok));
        float[] torchBf16 = torch["torch.bf16"].Floats, torchF16 = torch["torch.f16"].Floats;
        AssertBits(values, torch["read.s.f32"].Floats, "torch reading Scalpel's F32");
        AssertBits(torchBf16, torch["read.s.bf16"].Floats, "torch reading Scalpel's BF16 (Scalpel rounds like torch)");
        AssertBits(torchBf16, torch["read.s.bits"].Floats, "torch reading Scalpel's BF16 bits");
        AssertBits(torchF16, torch["read.s.f16"].Floats, "torch reading Scalpel's F16 (Scalpel rounds like torch)");
        Assert.Equal([2, 0], torch["read.s.empty"].Shape);

        using var file = SafeTensorsFile.Open(pythonFile);
        Assert.Equal("oracle", file.Metadata["writer"]);
        foreach (string name in new[] { "p.f32", "p.bf16", "p.f16", "p.matrix", "p.empty" })
        {
            OracleTensor wrote = torch["wrote." + name];
            Assert.Equal(wrote.Shape, file.Tensors[name].Shape);
            var read = new float[wrote.Floats.Length];
            file.ReadAsF32(name, read);
            AssertBits(wrote.Floats, read, $"Scalpel reading torch's {name}");
        }
        // Narrowing on read agrees with torch's narrowing too.
        var bf16 = new ushort[n];
        file.ReadAsBF16("p.f32", bf16);
        AssertBits(torchBf16, bf16.Select(BFloat16Bits.ToSingle).ToArray(), "Scalpel's F32→BF16 on read vs torch");
        var f32 = new float[n];
        file.ReadAsF32("p.f16", f32);
        AssertBits(torchF16, f32, "Scalpel reading torch's F16");
    }

    private static void AssertBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} expected {expected[i]:R}, got {actual[i]:R}");
    }
}
