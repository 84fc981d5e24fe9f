using System.Text;
using Scalpel.IO;
using Scalpel.Tensors;
using Xunit;

namespace Scalpel.Tests.IO;

/// <summary>Every way a file can lie must be caught at Open, with a message naming the file and, where there is one, the tensor.</summary>
public class SafeTensorsCorruptionTests
{
    private static SafeTensorsFormatException Rejected(byte[] bytes, params string[] mentions)
    {
        using var dir = new TempDir();
        string path = dir.File("corrupt-" + Guid.NewGuid().ToString("N")[..8] + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        foreach (string m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    private static SafeTensorsFormatException Rejected(string header, byte[]? data = null, params string[] mentions) =>
        Rejected(RawSafeTensors.Build(header, data), mentions);

    private static string One(string name, string dtype, string shape, string offsets) =>
        "{\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void FilesShorterThanTheLengthPrefixAreRejected(int length) =>
        Rejected(new byte[length], "too short");

    [Fact]
    public void TruncatedFilesAreRejectedWhereverTheyAreCut()
    {
        var writer = new SafeTensorsWriter();
        writer.Add("first", DType.F32, [4, 4], new float[16]);
        writer.Add("last.weight", DType.F32, [8], new float[8]);
        using var dir = new TempDir();
        string good = dir.File("good.safetensors");
        writer.Save(good);
        byte[] bytes = File.ReadAllBytes(good);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(bytes);
        using (SafeTensorsFile.Open(good)) { }

        foreach (int cut in new[] { 4, 8, 9, headerEnd / 2, headerEnd - 1 })
            Rejected(bytes[..cut], cut < 8 ? "too short" : "runs past the end of the file");
        // Header intact, data cut short: the tensor whose bytes are missing is named.
        foreach (var (cut, tensor) in new[] { (headerEnd, "'first'"), (headerEnd + 64, "'last.weight'"), (bytes.Length - 1, "'last.weight'") })
            Rejected(bytes[..cut], tensor, "past the end of the data section");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(100_000_001UL)]
    [InlineData(1UL << 40)]
    public void HugeHeaderLengthsAreRejectedBeforeAllocating(ulong length) =>
        Rejected(RawSafeTensors.Build("{}", headerLength: length), "over the 100000000-byte limit");

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected() =>
        Rejected(RawSafeTensors.Build("{}", new byte[10], headerLength: 13), "header length 13 runs past the end of the file (20 bytes)");

    [Theory]
    [InlineData("{\"a\":", "not valid JSON")]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",}}", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    [InlineData("[1, 2]", "must be a JSON object")]
    [InlineData("\"text\"", "must be a JSON object")]
    [InlineData("null", "must be a JSON object")]
    public void HeadersThatAreNotAJsonObjectAreRejected(string header, string mention) =>
        Rejected(header, null, mention);

    [Fact]
    public void InvalidUtf8IsRejected() =>
        Rejected(RawSafeTensors.Build([.. "{\"a"u8, 0xFF, .. "\":{}}"u8]), "not valid UTF-8");

    [Theory]
    [InlineData("\"Q4_K\"", "unknown dtype 'Q4_K'")]
    [InlineData("\"float32\"", "unknown dtype 'float32'")]
    [InlineData("\"f32\"", "unknown dtype 'f32'")]
    [InlineData("32", "'dtype' must be a string")]
    public void UnknownDTypesAreRejected(string dtype, string mention) =>
        Rejected(One("layer.0.w", dtype, "[2]", "[0,8]"), new byte[8], "'layer.0.w'", mention);

    [Theory]
    [InlineData("[2,3]", "[0,20]", "needs 24 bytes but data_offsets [0, 20] hold 20")]
    [InlineData("[5]", "[0,24]", "needs 20 bytes")]
    [InlineData("[-1,4]", "[0,24]", "dimension 0 is negative")]
    [InlineData("[2.5]", "[0,24]", "dimension 0 must be an integer")]
    [InlineData("[\"2\"]", "[0,24]", "dimension 0 must be an integer")]
    [InlineData("[null]", "[0,24]", "dimension 0 must be an integer")]
    [InlineData("[4294967296]", "[0,24]", "larger than 2147483647")]
    [InlineData("[2147483647,2147483647,2147483647]", "[0,24]", "more elements than fit in 64 bits")]
    [InlineData("[2147483647,2147483647,2]", "[0,24]", "byte size overflows")]
    [InlineData("{}", "[0,24]", "'shape' must be an array")]
    public void ShapesThatDoNotMatchTheBytesAreRejected(string shape, string offsets, string mention) =>
        Rejected(One("t", "\"F32\"", shape, offsets), new byte[24], "'t'", mention);

    [Theory]
    [InlineData("[8,4]", "end before they begin")]
    [InlineData("[0,32]", "run past the end of the data section (24 bytes)")]
    [InlineData("[24,32]", "run past the end of the data section")]
    [InlineData("[0,18446744073709551615]", "runs past the end of the data section")]
    [InlineData("[0,8,16]", "array of two integers")]
    [InlineData("[0]", "array of two integers")]
    [InlineData("[]", "array of two integers")]
    [InlineData("[-8,0]", "begin is negative")]
    [InlineData("[0.0,8.0]", "begin must be a non-negative integer")]
    [InlineData("[0,\"8\"]", "end must be a non-negative integer")]
    [InlineData("\"0-8\"", "array of two integers")]
    public void BadOffsetsAreRejected(string offsets, string mention) =>
        Rejected(One("model.embed_tokens.weight", "\"F32\"", "[2]", offsets), new byte[24], "'model.embed_tokens.weight'", mention);

    [Fact]
    public void OverlappingTensorsAreRejectedNamingBoth()
    {
        string header = """{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        Rejected(header, new byte[12], "'b'", "overlap tensor 'a'", "[0, 8]");

        // Containment, not just a shared edge, and a tensor hidden inside a larger one.
        string nested = """{"big":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"small":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}""" +
                        ""","after":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}""";
        Rejected(nested, new byte[20], "'small'", "overlap tensor 'big'");

        string same = """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""";
        Rejected(same, new byte[4], "overlap");
    }

    [Fact]
    public void MalformedEntriesAreRejected()
    {
        Rejected("""{"t":[1,2]}""", null, "'t'", "entry must be an object");
        Rejected("""{"t":{"shape":[1],"data_offsets":[0,4]}}""", new byte[4], "'t'", "no 'dtype'");
        Rejected("""{"t":{"dtype":"F32","data_offsets":[0,4]}}""", new byte[4], "'t'", "no 'shape'");
        Rejected("""{"t":{"dtype":"F32","shape":[1]}}""", new byte[4], "'t'", "no 'data_offsets'");
        Rejected("""{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
            new byte[8], "'t' twice");
        Rejected("""{"__metadata__":{"step":3}}""", null, "__metadata__", "'step'", "must be a string");
        Rejected("""{"__metadata__":["a"]}""", null, "__metadata__ must be an object");
    }

    [Fact]
    public void AMissingFileIsAFileNotFoundError()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(dir.File("absent.safetensors")));
        Assert.Contains("absent.safetensors", e.Message);
    }

    [Fact]
    public void EmptyHeaderObjectIsAValidEmptyFile()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.safetensors");
        File.WriteAllBytes(path, RawSafeTensors.Build("{}       "));
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
    }
}
