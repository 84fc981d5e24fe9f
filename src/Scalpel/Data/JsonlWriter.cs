using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Data;

/// <summary>
/// Writes JSON Lines to a temporary file beside the target and renames it over the target on <see cref="Commit"/>,
/// so a reader never sees half a file; disposing without committing deletes the temporary file.
/// </summary>
public sealed class JsonlWriter : IDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false };
    private readonly FileStream _stream;
    private readonly Utf8JsonWriter _json;
    private bool _committed;

    public JsonlWriter(string path)
    {
        Path = path;
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        TempPath = System.IO.Path.Combine(dir ?? ".", $".{System.IO.Path.GetFileName(path)}.tmp-{Guid.NewGuid():N}");
        _stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        _json = new Utf8JsonWriter(_stream, WriterOptions);
    }

    public string Path { get; }
    public string TempPath { get; }
    public long Count { get; private set; }

    public void Write(JsonNode node)
    {
        node.WriteTo(_json);
        EndLine();
    }

    /// <summary>Writes a record as read (compact JSON on one line; multi-line JSON is re-serialised).</summary>
    internal void WriteRaw(ReadOnlyMemory<byte> json)
    {
        var span = json.Span;
        if (span.IndexOfAny((byte)'\n', (byte)'\r') < 0)
        {
            _stream.Write(span);
            _stream.WriteByte((byte)'\n');
            Count++;
            return;
        }
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        doc.RootElement.WriteTo(_json);
        EndLine();
    }

    private void EndLine()
    {
        _json.Flush();
        _stream.WriteByte((byte)'\n');
        _json.Reset();
        Count++;
    }

    /// <summary>Flushes to disk and moves the file into place.</summary>
    public void Commit()
    {
        _json.Dispose();
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(TempPath, Path, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        try { _json.Dispose(); }
        catch (ObjectDisposedException) { }
        _stream.Dispose();
        if (File.Exists(TempPath)) File.Delete(TempPath);
    }
}
