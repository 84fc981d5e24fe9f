using System.IO.Compression;
using System.Text;
using Scalpel.Data;

namespace Scalpel.Tests.Data;

/// <summary>A temporary folder the data tests write their files into.</summary>
public sealed class DataFiles : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "scalpel-data-" + Guid.NewGuid().ToString("N"));

    public DataFiles() => Directory.CreateDirectory(Dir);

    public string PathOf(string name) => Path.Combine(Dir, name);

    public string Write(string name, string text, bool bom = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return WriteBytes(name, bom ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes);
    }

    public string WriteLines(string name, params string[] lines) => Write(name, string.Join("\n", lines) + "\n");

    public string WriteBytes(string name, byte[] bytes)
    {
        string path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public string WriteGzip(string name, string text)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(Encoding.UTF8.GetBytes(text));
        return WriteBytes(name, ms.ToArray());
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Checks text written as a file of the given name.</summary>
    public DataReport Check(string name, string text, DataCheckOptions? options = null) => DataChecker.Check(Write(name, text), options);

    public static List<ParsedRecord> ReadAll(string path, DatasetReadOptions? options = null)
    {
        using var reader = DatasetReader.Open(path, options);
        return reader.Read().ToList();
    }

    public static List<Example> Examples(string path, DatasetReadOptions? options = null) =>
        ReadAll(path, options).Where(r => r.Example is not null).Select(r => r.Example!).ToList();

    /// <summary>A valid one-turn chat line.</summary>
    public static string Chat(string user, string answer) =>
        $$"""{"messages": [{"role": "user", "content": {{Json(user)}}}, {"role": "assistant", "content": {{Json(answer)}}}]}""";

    public static string Json(string s) => System.Text.Json.Nodes.JsonValue.Create(s).ToJsonString();
}
