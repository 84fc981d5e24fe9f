using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Scalpel.IO;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.IO;

public class SafeTensorsRoundTripTests
{
    /// <summary>Values that exercise rounding: ties, subnormals, infinities, signed zero, values that overflow F16/BF16.</summary>
    internal static float[] Awkward(Random rng, int count)
    {
        float[] special =
        [
            0f, -0f, 1f, -1f, 0.1f, 65504f, 65520f, 1e5f, -1e5f, 6e-8f, 1e-40f, -1e-42f, float.Epsilon,
            float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity,
            BitConverter.UInt32BitsToSingle(0x3F808000), // exactly halfway between two BF16 values, even below
            BitConverter.UInt32BitsToSingle(0x3F818000), // halfway, odd below: rounds up
            BitConverter.UInt32BitsToSingle(0x3F808001), // just above halfway
            BitConverter.UInt32BitsToSingle(0x7F7FFFFF), // rounds to infinity in BF16
        ];
        var values = TestData.Normal(rng, count, 3f);
        for (int i = 0; i < count; i++)
            if (i % 7 == 0) values[i] = special[(i / 7) % special.Length];
        return values;
    }

    private static float ExpectedF16(float x) => (float)(Half)x;

    [Fact]
    public void EveryDTypeRoundTrips()
    {
        using var dir = new TempDir();
        var rng = new Random(1);
        float[] f32 = Awkward(rng, 15), bf16 = Awkward(rng, 24), f16 = Awkward(rng, 7), scalar = [2.5f];
        ushort[] bits = Awkward(rng, 8).Select(BFloat16Bits.FromSingle).ToArray();
        bits[3] = 0x7FC1; // a NaN payload must survive AddBF16 → ReadAsBF16 untouched

        var writer = new SafeTensorsWriter();
        writer.Add("model.f32", DType.F32, [3, 5], f32);
        writer.Add("model.bf16", DType.BF16, [2, 3, 4], bf16);
        writer.Add("model.f16", DType.F16, [7], f16);
        writer.AddBF16("model.bits", [4, 2], bits);
        writer.Add("model.empty", DType.BF16, [0, 3], Array.Empty<float>());
        writer.Add("model.scalar", DType.F32, [], scalar);
        string path = dir.File("rt.safetensors");
        writer.Save(path, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓" });

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(path, file.Path);
        Assert.Equal(6, file.Tensors.Count);
        Assert.Empty(file.UnsupportedTensors);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("ünïcode ✓", file.Metadata["note"]);

        AssertInfo(file.Tensors["model.f32"], DType.F32, [3, 5], 60);
        AssertInfo(file.Tensors["model.bf16"], DType.BF16, [2, 3, 4], 48);
        AssertInfo(file.Tensors["model.f16"], DType.F16, [7], 14);
        AssertInfo(file.Tensors["model.bits"], DType.BF16, [4, 2], 16);
        AssertInfo(file.Tensors["model.empty"], DType.BF16, [0, 3], 0);
        AssertInfo(file.Tensors["model.scalar"], DType.F32, [], 4);
        Assert.Equal(file.Tensors["model.f16"], file.Info("model.f16"));

        AssertF32(file, "model.f32", f32);
        AssertBF16(file, "model.f32", f32.Select(BFloat16Bits.FromSingle).ToArray());
        AssertF32(file, "model.bf16", bf16.Select(x => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(x))).ToArray());
        AssertBF16(file, "model.bf16", bf16.Select(BFloat16Bits.FromSingle).ToArray());
        AssertF32(file, "model.f16", f16.Select(ExpectedF16).ToArray());
        AssertBF16(file, "model.f16", f16.Select(x => BFloat16Bits.FromSingle(ExpectedF16(x))).ToArray());
        AssertBF16(file, "model.bits", bits);
        AssertF32(file, "model.bits", bits.Select(BFloat16Bits.ToSingle).ToArray());
        AssertF32(file, "model.empty", []);
        AssertBF16(file, "model.empty", []);
        AssertF32(file, "model.scalar", scalar);
    }

    [Fact]
    public void HeaderIsPaddedToEightBytesAndDataIsContiguousAndAligned()
    {
        using var dir = new TempDir();
        var writer = new SafeTensorsWriter();
        writer.Add("b", DType.BF16, [3], new float[] { 1, 2, 3 });   // 6 bytes: would misalign a following F32
        writer.Add("a", DType.F32, [2], new float[] { 4, 5 });
        writer.Add("c", DType.F16, [1], new float[] { 6 });
        string path = dir.File("layout.safetensors");
        writer.Save(path);

        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.InRange(header.Length - header.TrimEnd(' ').Length, 0, 7); // only the padding is trailing spaces
        Assert.StartsWith("{", header);
        Assert.EndsWith("}", header.TrimEnd(' '));
        Assert.Equal(8 + (int)n + 6 + 8 + 2, bytes.Length);

        using var json = JsonDocument.Parse(header);
        // Header keys keep the order added; the data section puts the 4-byte tensor first.
        Assert.Equal(["b", "a", "c"], json.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.False(json.RootElement.TryGetProperty("__metadata__", out _));
        Assert.Equal("[0,8]", json.RootElement.GetProperty("a").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[8,14]", json.RootElement.GetProperty("b").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[14,16]", json.RootElement.GetProperty("c").GetProperty("data_offsets").GetRawText());
        Assert.Equal("\"BF16\"", json.RootElement.GetProperty("b").GetProperty("dtype").GetRawText());
        Assert.Equal(4f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + (int)n)));
        Assert.Equal((ushort)0x3F80, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8 + (int)n + 8)));
        Assert.Equal((ushort)0x4600, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8 + (int)n + 14))); // 6.0 in F16
    }

    [Fact]
    public void ReadsHandCraftedBytes()
    {
        // Built byte by byte from the format description, the way another implementation would write it:
        // unpadded header, keys not in offset order, a metadata block, tensors of all three loadable dtypes.
        string header = """{"h":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},"__metadata__":{"format":"pt"}""" +
                        ""","w":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]},"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        byte[] data = RawSafeTensors.Concat(
            RawSafeTensors.F32(1.5f, -0.25f),
            RawSafeTensors.U16(0x3F80, 0xC040),  // BF16 1.0, -3.0
            RawSafeTensors.U16(0x3C00, 0xB800)); // F16 1.0, -0.5
        using var dir = new TempDir();
        string path = dir.File("hand.safetensors");
        File.WriteAllBytes(path, RawSafeTensors.Build(header, data));

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["f", "w", "h"], file.TensorNames.ToArray()); // data-offset order
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(8 + Encoding.UTF8.GetByteCount(header), file.DataSectionOffset);
        Assert.Equal(8, file.Tensors["w"].DataOffset);
        AssertF32(file, "f", [1.5f, -0.25f]);
        AssertF32(file, "w", [1f, -3f]);
        AssertF32(file, "h", [1f, -0.5f]);
        AssertBF16(file, "f", [0x3FC0, 0xBE80]);
        AssertBF16(file, "h", [0x3F80, 0xBF00]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(3_000_017)] // over the parallel threshold, not a multiple of the chunk
    public void VectorisedConversionsMatchTheScalarDefinitions(int count)
    {
        var rng = new Random(count);
        float[] values = Awkward(rng, count);
        for (int i = 5; i < count; i += 97) values[i] = BitConverter.UInt32BitsToSingle(0x7F800001u + (uint)i); // NaN payloads
        for (int i = 11; i < count; i += 89) values[i] = BitConverter.UInt32BitsToSingle(0xFFC00000u | (uint)i); // negative NaNs

        var bf16 = new ushort[count];
        SafeTensorsConversions.F32ToBf16(values, bf16);
        for (int i = 0; i < count; i++)
            if (bf16[i] != BFloat16Bits.FromSingle(values[i]))
                Assert.Fail($"F32→BF16 element {i}: {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}) gave 0x{bf16[i]:X4}, expected 0x{BFloat16Bits.FromSingle(values[i]):X4}");

        var widened = new float[count];
        SafeTensorsConversions.Bf16ToF32(bf16, widened);
        for (int i = 0; i < count; i++)
            if (BitConverter.SingleToUInt32Bits(widened[i]) != (uint)bf16[i] << 16)
                Assert.Fail($"BF16→F32 element {i}");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void LargeTensorsConvertInParallelExactly(DType storeAs)
    {
        const int Count = 2_500_003;
        float[] values = Awkward(new Random(7), Count);
        using var dir = new TempDir();
        string path = dir.File("big.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("x", storeAs, [Count], values);
        writer.Save(path);

        using var file = SafeTensorsFile.Open(path);
        var f32 = new float[Count];
        var bf16 = new ushort[Count];
        file.ReadAsF32("x", f32);
        file.ReadAsBF16("x", bf16);
        for (int i = 0; i < Count; i++)
        {
            float stored = storeAs switch
            {
                DType.F32 => values[i],
                DType.BF16 => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(values[i])),
                _ => (float)(Half)values[i],
            };
            if (BitConverter.SingleToUInt32Bits(f32[i]) != BitConverter.SingleToUInt32Bits(stored))
                Assert.Fail($"{storeAs} element {i}: stored {values[i]:R}, read {f32[i]:R}, expected {stored:R}");
            if (bf16[i] != BFloat16Bits.FromSingle(stored))
                Assert.Fail($"{storeAs} element {i} as BF16: 0x{bf16[i]:X4}, expected 0x{BFloat16Bits.FromSingle(stored):X4}");
        }
    }

    [Fact]
    public void SaveReplacesAnExistingFileAndLeavesNoTemporaries()
    {
        using var dir = new TempDir();
        string path = dir.File("model.safetensors");
        File.WriteAllText(path, "old contents");
        var writer = new SafeTensorsWriter();
        writer.Add("x", DType.F32, [2], new float[] { 1, 2 });
        writer.Save(path);
        writer.Save(path); // saving twice is fine

        Assert.Equal(["model.safetensors"], Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)).ToArray());
        using var file = SafeTensorsFile.Open(path);
        AssertF32(file, "x", [1, 2]);
    }

    [Fact]
    public void AFailedSaveLeavesNoPartialFile()
    {
        using var dir = new TempDir();
        string target = dir.File("occupied");
        Directory.CreateDirectory(target); // the final rename cannot replace a folder
        var writer = new SafeTensorsWriter();
        writer.Add("x", DType.F32, [3], new float[] { 1, 2, 3 });

        Assert.ThrowsAny<IOException>(() => writer.Save(target));
        Assert.Empty(Directory.GetFiles(dir.Path));
        Assert.True(Directory.Exists(target));

        Assert.ThrowsAny<IOException>(() => writer.Save(dir.File(Path.Combine("missing-folder", "x.safetensors"))));
        Assert.Empty(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void WriterRejectsBadInput()
    {
        var writer = new SafeTensorsWriter();
        writer.Add("x", DType.F32, [2], new float[2]);
        Assert.Contains("'x' was already added", Assert.Throws<ArgumentException>(() => writer.Add("x", DType.BF16, [2], new float[2])).Message);
        Assert.Contains("'x' was already added", Assert.Throws<ArgumentException>(() => writer.AddBF16("x", [2], new ushort[2])).Message);
        Assert.Contains("holds 6 elements but the data has 5",
            Assert.Throws<ArgumentException>(() => writer.Add("y", DType.F32, [2, 3], new float[5])).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => writer.Add("y", DType.F32, [-1, 2], new float[2])).Message);
        Assert.Contains("holds 2 elements but the data has 3", Assert.Throws<ArgumentException>(() => writer.AddBF16("y", [2], new ushort[3])).Message);
        Assert.Throws<ArgumentException>(() => writer.Add("", DType.F32, [1], new float[1]));
        Assert.Contains("reserved", Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", DType.F32, [1], new float[1])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Add("y", (DType)42, [1], new float[1]));
        // None of the failures added anything: "y" is still free.
        writer.Add("y", DType.F16, [1], new float[1]);
    }

    [Fact]
    public void ReadChecksTheDestinationAndTheName()
    {
        using var dir = new TempDir();
        string path = dir.File("d.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("w", DType.BF16, [2, 2], new float[4]);
        writer.Save(path);
        using var file = SafeTensorsFile.Open(path);

        var e = Assert.Throws<ArgumentException>(() => file.ReadAsF32("w", new float[3]));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("4 elements", e.Message);
        Assert.Throws<ArgumentException>(() => file.ReadAsBF16("w", new ushort[5]));
        Assert.Throws<ArgumentException>(() => file.ReadAsF32("w", Span<float>.Empty));

        var missing = Assert.Throws<SafeTensorsFormatException>(() => file.ReadAsF32("nope", new float[1]));
        Assert.Contains(path, missing.Message);
        Assert.Contains("'nope'", missing.Message);
        Assert.Throws<SafeTensorsFormatException>(() => file.Info("nope"));
        Assert.False(file.Contains("nope"));
        Assert.True(file.Contains("w"));
    }

    [Fact]
    public void TensorsOfOtherDTypesAreValidatedButNotReadAsFloats()
    {
        string header = """{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}""" +
                        ""","packed":{"dtype":"F4","shape":[4],"data_offsets":[19,21]},"w":{"dtype":"F32","shape":[1],"data_offsets":[24,28]}}""";
        using var dir = new TempDir();
        string path = dir.File("mixed.safetensors");
        File.WriteAllBytes(path, RawSafeTensors.Build(header, new byte[24].Concat(RawSafeTensors.F32(7f)).ToArray()));

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["w"], file.Tensors.Keys.ToArray());
        Assert.Equal("I64", file.UnsupportedTensors["ids"]);
        Assert.Equal("BOOL", file.UnsupportedTensors["mask"]);
        Assert.Equal("F4", file.UnsupportedTensors["packed"]);
        Assert.True(file.Contains("ids"));
        AssertF32(file, "w", [7f]); // the gap between 21 and 24 is tolerated

        var e = Assert.Throws<SafeTensorsFormatException>(() => file.ReadAsF32("ids", new float[2]));
        Assert.Contains(path, e.Message);
        Assert.Contains("'ids'", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Contains("BOOL", Assert.Throws<SafeTensorsFormatException>(() => file.ReadAsBF16("mask", new ushort[3])).Message);
        Assert.Contains("I64", Assert.Throws<SafeTensorsFormatException>(() => file.Info("ids")).Message);
    }

    [Fact]
    public void EmptyTensorsMaySitAnywhereAndGapsAreTolerated()
    {
        string header = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"BF16","shape":[0],"data_offsets":[4,4]}""" +
                        ""","b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""";
        using var dir = new TempDir();
        string path = dir.File("gaps.safetensors");
        File.WriteAllBytes(path, RawSafeTensors.Build(header, RawSafeTensors.F32(1, 2, 99, 3, 0)));

        using var file = SafeTensorsFile.Open(path);
        AssertF32(file, "a", [1, 2]);
        AssertF32(file, "b", [3]);
        AssertF32(file, "z", []);
    }

    [Fact]
    public void ReadingAfterDisposeFails()
    {
        using var dir = new TempDir();
        string path = dir.File("x.safetensors");
        var writer = new SafeTensorsWriter();
        writer.Add("x", DType.F32, [1], new float[] { 1 });
        writer.Save(path);
        var file = SafeTensorsFile.Open(path);
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReadAsF32("x", new float[1]));
    }

    internal static void AssertInfo(TensorInfo info, DType dtype, int[] shape, long byteLength)
    {
        Assert.Equal(dtype, info.DType);
        Assert.Equal(shape, info.Shape);
        Assert.Equal(byteLength, info.ByteLength);
        Assert.Equal(shape.Aggregate(1L, (a, b) => a * b), info.ElementCount);
    }

    internal static void AssertF32(SafeTensorsFile file, string name, float[] expected)
    {
        var actual = new float[expected.Length];
        file.ReadAsF32(name, actual);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                Assert.Fail($"{name}[{i}]: expected {expected[i]:R}, read {actual[i]:R}");
    }

    internal static void AssertBF16(SafeTensorsFile file, string name, ushort[] expected)
    {
        var actual = new ushort[expected.Length];
        file.ReadAsBF16(name, actual);
        Assert.Equal(expected, actual);
    }
}
