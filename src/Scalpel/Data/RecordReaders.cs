using System.Runtime.CompilerServices;
using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Scalpel.Data;

/// <summary>
/// One raw record: the bytes of one JSON object (a JSONL line, an element of a JSON array, or a CSV row rewritten as
/// JSON) and the line it starts on; or a problem that kept it from being read. The bytes stay valid until the next read.
/// </summary>
internal struct RawRecord
{
    public long Line;
    public ReadOnlyMemory<byte> Json;
    /// <summary>Set when the record could not be cut out of the file; Json is then empty.</summary>
    public string? ProblemCode;
    public string? ProblemField;
    public string? ProblemMessage;
    /// <summary>Set when nothing after this problem can be read (a broken JSON array, a corrupt gzip stream).</summary>
    public bool Fatal;

    public static RawRecord Problem(long line, string code, string message, bool fatal = false, string field = "") =>
        new() { Line = line, ProblemCode = code, ProblemMessage = message, Fatal = fatal, ProblemField = field };
}

/// <summary>Reads records out of a byte stream with a buffer that only grows to the largest record.</summary>
internal abstract class RecordReader(Stream stream, int maxRecordBytes) : IDisposable
{
    private const int InitialBuffer = 1 << 20;
    protected byte[] Buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
    protected int Start, End;
    protected bool Eof;
    protected readonly int MaxRecordBytes = maxRecordBytes;
    private readonly Stream _stream = stream;
    /// <summary>A read error of the stream (a corrupt gzip stream); reported once, then the reader stops.</summary>
    protected string? StreamError;

    /// <summary>Reads the next record; false at the end of the file.</summary>
    public abstract bool TryRead(out RawRecord record);

    /// <summary>
    /// Moves unread bytes to the front and reads more. Grows the buffer when the unread part fills it, up to
    /// <see cref="MaxRecordBytes"/>; returns false when the buffer is full at that size or at the end of the stream.
    /// </summary>
    protected bool Fill()
    {
        if (Eof) return false;
        if (Start > 0)
        {
            System.Buffer.BlockCopy(Buffer, Start, Buffer, 0, End - Start);
            OnShift(Start);
            End -= Start;
            Start = 0;
        }
        if (End == Buffer.Length)
        {
            if (Buffer.Length >= MaxRecordBytes) return false;
            var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)Buffer.Length * 2, Math.Max(MaxRecordBytes, InitialBuffer)));
            System.Buffer.BlockCopy(Buffer, 0, bigger, 0, End);
            ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = bigger;
        }
        int read;
        try { read = _stream.Read(Buffer, End, Buffer.Length - End); }
        catch (InvalidDataException e)
        {
            StreamError = e.Message;
            read = 0;
        }
        if (read == 0) { Eof = true; return false; }
        End += read;
        return true;
    }

    /// <summary>Called when buffered bytes move down by <paramref name="by"/> (readers keeping offsets adjust them).</summary>
    protected virtual void OnShift(int by) { }

    public virtual void Dispose()
    {
        ArrayPool<byte>.Shared.Return(Buffer);
        Buffer = [];
        _stream.Dispose();
    }

    protected static bool IsJsonWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    protected static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> s)
    {
        int a = 0, b = s.Length;
        while (a < b && IsJsonWhitespace(s[a])) a++;
        while (b > a && IsJsonWhitespace(s[b - 1])) b--;
        return s[a..b];
    }
}

/// <summary>JSON Lines: one object per line; blank lines are skipped.</summary>
internal sealed class JsonlRecordReader(Stream stream, int maxRecordBytes) : RecordReader(stream, maxRecordBytes)
{
    private long _line;
    private int _scan;   // where to continue looking for '\n' (relative to Buffer)
    private bool _reportedStreamError;

    protected override void OnShift(int by) => _scan -= by;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override bool TryRead(out RawRecord record)
    {
        while (true)
        {
            if (StreamError is not null)
            {
                record = default;
                if (_reportedStreamError) return false;
                _reportedStreamError = true;
                record = RawRecord.Problem(_line + 1, IssueCodes.InvalidGzip,
                    $"the compressed stream is corrupt here ({StreamError}); nothing after this point could be read: re-create the .gz file", fatal: true);
                return true;
            }
            if (_scan < Start) _scan = Start;
            int nl = Buffer.AsSpan(_scan, End - _scan).IndexOf((byte)'\n');
            int lineEnd;
            if (nl >= 0) lineEnd = _scan + nl;
            else if (SetScanToEnd() && Fill()) continue;
            else if (StreamError is not null) continue;
            else if (!Eof)
            {
                // The line is longer than the largest record we accept: skip to its end.
                long line = ++_line;
                SkipRestOfLine();
                record = RawRecord.Problem(line, IssueCodes.RecordTooLarge,
                    $"the line is longer than {MaxRecordBytes / (1 << 20)} MiB: split the example, or raise the record size limit");
                return true;
            }
            else if (Start < End) lineEnd = End;
            else { record = default; return false; }

            _line++;
            int a = Start, b = lineEnd;
            while (a < b && IsJsonWhitespace(Buffer[a])) a++;
            while (b > a && IsJsonWhitespace(Buffer[b - 1])) b--;
            int next = Math.Min(lineEnd + 1, End);
            Start = next;
            _scan = next;
            if (a == b) continue;
            record = new RawRecord { Line = _line, Json = Buffer.AsMemory(a, b - a) };
            return true;
        }
    }

    private bool SetScanToEnd()
    {
        _scan = End;
        return true;
    }

    private void SkipRestOfLine()
    {
        while (true)
        {
            int nl = Buffer.AsSpan(Start, End - Start).IndexOf((byte)'\n');
            if (nl >= 0) { Start += nl + 1; _scan = Start; return; }
            Start = End;
            _scan = End;
            if (!Fill()) return;
        }
    }
}

/// <summary>
/// A JSON array of records, read element by element: a byte scanner finds where each top-level element ends
/// (tracking strings and bracket depth without recursion), so a huge array is never held whole and a malformed
/// element is reported without losing the ones after it.
/// </summary>
internal sealed class JsonArrayRecordReader(Stream stream, int maxRecordBytes) : RecordReader(stream, maxRecordBytes)
{
    private enum Phase { BeforeArray, BeforeElement, AfterElement, Done }
    private Phase _phase = Phase.BeforeArray;
    private long _line = 1;       // line of Buffer[Start]
    private bool _finished;

    public override bool TryRead(out RawRecord record)
    {
        record = default;
        if (_finished) return false;
        while (true)
        {
            if (StreamError is not null)
            {
                _finished = true;
                record = RawRecord.Problem(_line, IssueCodes.InvalidGzip,
                    $"the compressed stream is corrupt here ({StreamError}); nothing after this point could be read: re-create the .gz file", fatal: true);
                return true;
            }
            // Skip whitespace (counting lines).
            while (true)
            {
                while (Start < End && IsJsonWhitespace(Buffer[Start]))
                {
                    if (Buffer[Start] == (byte)'\n') _line++;
                    Start++;
                }
                if (Start < End || !Fill()) break;
            }
            if (Start == End)
            {
                _finished = true;
                if (StreamError is not null) continue;
                if (_phase == Phase.Done) return false;
                record = RawRecord.Problem(_line, IssueCodes.InvalidJson,
                    "the file ends before the JSON array is closed (truncated file?): end it with ']'", fatal: true);
                return true;
            }
            byte b = Buffer[Start];
            switch (_phase)
            {
                case Phase.BeforeArray:
                    if (b != (byte)'[')
                    {
                        _finished = true;
                        record = RawRecord.Problem(_line, IssueCodes.InvalidJson, "a JSON file must be an array of records ('[' first) or JSON Lines", fatal: true);
                        return true;
                    }
                    Start++;
                    _phase = Phase.BeforeElement;
                    continue;
                case Phase.AfterElement:
                    if (b == (byte)',') { Start++; _phase = Phase.BeforeElement; continue; }
                    if (b == (byte)']') { Start++; _phase = Phase.Done; continue; }
                    _finished = true;
                    record = RawRecord.Problem(_line, IssueCodes.InvalidJson, $"expected ',' or ']' between array elements, found '{(char)b}': the array is broken from here", fatal: true);
                    return true;
                case Phase.Done:
                    _finished = true;
                    record = RawRecord.Problem(_line, IssueCodes.InvalidJson, "text after the end of the JSON array: remove it", fatal: true);
                    return true;
                case Phase.BeforeElement:
                    if (b == (byte)']') { Start++; _phase = Phase.Done; continue; }
                    return ReadElement(out record);
            }
        }
    }

    private bool ReadElement(out RawRecord record)
    {
        long startLine = _line;
        int pos = Start, depth = 0, lines = 0;
        bool inString = false, escape = false, isScalar = Buffer[Start] is not ((byte)'{' or (byte)'[');
        while (true)
        {
            if (pos == End)
            {
                int rel = pos - Start;
                if (!Fill())
                {
                    _finished = true;
                    if (!Eof && StreamError is null)
                        record = RawRecord.Problem(startLine, IssueCodes.RecordTooLarge,
                            $"an array element is larger than {MaxRecordBytes / (1 << 20)} MiB: split it; nothing after it could be read", fatal: true);
                    else if (StreamError is not null)
                        record = RawRecord.Problem(startLine + lines, IssueCodes.InvalidGzip, $"the compressed stream is corrupt here ({StreamError}): re-create the .gz file", fatal: true);
                    else
                        record = RawRecord.Problem(startLine, IssueCodes.InvalidJson,
                            "this array element is never closed (truncated file, or an unbalanced bracket or quote): fix it and end the array with ']'", fatal: true);
                    return true;
                }
                pos = Start + rel;
            }
            byte c = Buffer[pos];
            if (c == (byte)'\n') lines++;
            if (inString)
            {
                if (escape) escape = false;
                else if (c == (byte)'\\') escape = true;
                else if (c == (byte)'"') { inString = false; if (isScalar && depth == 0) { pos++; break; } }
            }
            else if (c == (byte)'"') inString = true;
            else if (c is (byte)'{' or (byte)'[') depth++;
            else if (c is (byte)'}' or (byte)']')
            {
                if (depth == 0) break;   // the closing bracket of the array itself (after a scalar)
                depth--;
                if (depth == 0) { pos++; break; }
            }
            else if (c == (byte)',' && depth == 0) break;
            pos++;
        }
        // Trailing newlines inside the element span are not part of it.
        var span = Trim(Buffer.AsSpan(Start, pos - Start));
        int lead = 0;
        while (Start + lead < pos && IsJsonWhitespace(Buffer[Start + lead])) lead++;
        record = new RawRecord { Line = startLine, Json = Buffer.AsMemory(Start + lead, span.Length) };
        _line += lines;
        Start = pos;
        _phase = Phase.AfterElement;
        return true;
    }
}

/// <summary>
/// CSV (RFC 4180: quoted fields, "" inside quotes, newlines inside quotes) or TSV with a header row. Each row is
/// rewritten as a JSON object whose fields are the columns; columns that hold structure (messages, conversations,
/// tools, history, the preference outputs) are parsed as JSON.
/// </summary>
internal sealed class CsvRecordReader : RecordReader
{
    private static readonly HashSet<string> StructuredColumns =
        ["messages", "conversations", "tools", "history", "preferred_output", "non_preferred_output"];
    private static readonly HashSet<string> MaybeListColumns = ["prompt", "completion", "chosen", "rejected"];

    private readonly byte _delimiter;
    private readonly int _maxDepth;
    private string[]? _header;
    private long _line = 1;
    private readonly List<byte> _field = [];
    private readonly List<byte[]> _fields = [];
    private readonly ArrayBufferWriter<byte> _json = new();
    private bool _done;

    public CsvRecordReader(Stream stream, int maxRecordBytes, byte delimiter, int maxDepth) : base(stream, maxRecordBytes)
    {
        _delimiter = delimiter;
        _maxDepth = maxDepth;
    }

    public override bool TryRead(out RawRecord record)
    {
        while (true)
        {
            record = default;
            if (_done) return false;
            var status = ReadRow(out long rowLine, out string? problem);
            if (status == RowStatus.End) { _done = true; return false; }
            if (problem is not null)
            {
                record = RawRecord.Problem(rowLine, status == RowStatus.TooLarge ? IssueCodes.RecordTooLarge : IssueCodes.InvalidCsv, problem,
                    fatal: status == RowStatus.Unterminated);
                if (status == RowStatus.Unterminated) _done = true;
                return true;
            }
            if (_fields.Count == 1 && _fields[0].Length == 0) continue;   // blank line

            // Every cell must be UTF-8 before anything else.
            for (int i = 0; i < _fields.Count; i++)
            {
                if (!System.Text.Unicode.Utf8.IsValid(_fields[i]))
                {
                    string column = _header is not null && i < _header.Length ? _header[i] : $"column {i + 1}";
                    record = RawRecord.Problem(rowLine, IssueCodes.InvalidUtf8, Utf8Check.Describe(_fields[i]), field: column);
                    return true;
                }
            }
            if (_header is null)
            {
                _header = _fields.Select(f => Encoding.UTF8.GetString(f).Trim()).ToArray();
                var dup = _header.GroupBy(h => h).FirstOrDefault(g => g.Count() > 1);
                if (dup is not null)
                {
                    _done = true;
                    record = RawRecord.Problem(rowLine, IssueCodes.InvalidCsv, $"the header names column '{dup.Key}' twice: rename one", fatal: true);
                    return true;
                }
                continue;
            }
            if (_fields.Count != _header.Length)
            {
                record = RawRecord.Problem(rowLine, IssueCodes.InvalidCsv,
                    $"the row has {_fields.Count} fields but the header has {_header.Length}: quote fields that contain the delimiter, quotes or newlines");
                return true;
            }
            if (!ToJson(rowLine, out record)) return true;
            return true;
        }
    }

    private enum RowStatus { Row, End, TooLarge, Unterminated }

    private RowStatus ReadRow(out long rowLine, out string? problem)
    {
        _fields.Clear();
        _field.Clear();
        problem = null;
        rowLine = _line;
        bool inQuotes = false, afterQuote = false, any = false;
        long size = 0;
        while (true)
        {
            if (Start == End && !Fill())
            {
                if (inQuotes)
                {
                    problem = $"a quoted field that starts on line {rowLine} is never closed (truncated file or a stray '\"'): close the quote";
                    return RowStatus.Unterminated;
                }
                if (!any && _fields.Count == 0) return RowStatus.End;
                _fields.Add([.. _field]);
                return RowStatus.Row;
            }
            byte c = Buffer[Start++];
            any = true;
            if (++size > MaxRecordBytes)
            {
                // Skip to the end of the physical line and report.
                while (true)
                {
                    if (Start == End && !Fill()) break;
                    if (Buffer[Start++] == (byte)'\n') { _line++; break; }
                }
                problem = $"the row is larger than {MaxRecordBytes / (1 << 20)} MiB: split it (or close a stray quote)";
                return RowStatus.TooLarge;
            }
            if (inQuotes)
            {
                if (c == (byte)'"') { inQuotes = false; afterQuote = true; }
                else
                {
                    if (c == (byte)'\n') _line++;
                    _field.Add(c);
                }
                continue;
            }
            if (c == (byte)'"')
            {
                if (afterQuote) { _field.Add((byte)'"'); inQuotes = true; afterQuote = false; }   // "" inside quotes
                else if (_field.Count == 0) inQuotes = true;
                else _field.Add(c);                                                            // stray quote inside an unquoted field: kept
                continue;
            }
            afterQuote = false;
            if (c == _delimiter) { _fields.Add([.. _field]); _field.Clear(); continue; }
            if (c == (byte)'\r') continue;
            if (c == (byte)'\n')
            {
                _line++;
                _fields.Add([.. _field]);
                return RowStatus.Row;
            }
            _field.Add(c);
        }
    }

    private bool ToJson(long rowLine, out RawRecord record)
    {
        _json.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(_json))
        {
            w.WriteStartObject();
            for (int i = 0; i < _header!.Length; i++)
            {
                string name = _header[i];
                if (name.Length == 0) continue;
                byte[] cell = _fields[i];
                var trimmed = Trim(cell);
                if (StructuredColumns.Contains(name) || (name == "input" && trimmed.Length > 0 && trimmed[0] == (byte)'{')
                    || (MaybeListColumns.Contains(name) && trimmed.Length > 0 && trimmed[0] == (byte)'['))
                {
                    if (trimmed.Length == 0) continue;   // an empty cell: the field is absent
                    if (TryParse(cell, out var error))
                    {
                        w.WritePropertyName(name);
                        w.WriteRawValue(cell, skipInputValidation: true);
                        continue;
                    }
                    if (StructuredColumns.Contains(name))
                    {
                        record = RawRecord.Problem(rowLine, IssueCodes.InvalidJson, $"the cell is not valid JSON ({error}): write the {name} as JSON", field: name);
                        return false;
                    }
                }
                if (name == "parallel_tool_calls" && trimmed.Length > 0)
                {
                    string s = Encoding.UTF8.GetString(trimmed).ToLowerInvariant();
                    if (s is "true" or "false") { w.WriteBoolean(name, s == "true"); continue; }
                }
                w.WriteString(name, Encoding.UTF8.GetString(cell));
            }
            w.WriteEndObject();
        }
        record = new RawRecord { Line = rowLine, Json = _json.WrittenMemory };
        return true;
    }

    private bool TryParse(byte[] cell, out string error)
    {
        try
        {
            using var doc = JsonDocument.Parse(cell, new JsonDocumentOptions { MaxDepth = _maxDepth });
            error = "";
            return true;
        }
        catch (JsonException e)
        {
            error = JsonErrors.Describe(e);
            return false;
        }
    }
}

/// <summary>Describes invalid UTF-8 precisely.</summary>
internal static class Utf8Check
{
    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes, new char[Math.Min(bytes.Length, 1 << 16) + 4], out int read, out _, replaceInvalidSequences: false);
        int offset = read;
        if (status == OperationStatus.DestinationTooSmall)
        {
            // Find it by walking runes (rare: only for long invalid lines).
            offset = 0;
            while (offset < bytes.Length && Rune.DecodeFromUtf8(bytes[offset..], out _, out int n) == OperationStatus.Done) offset += n;
        }
        string hex = offset < bytes.Length ? string.Join(' ', bytes.Slice(offset, Math.Min(4, bytes.Length - offset)).ToArray().Select(b => b.ToString("X2"))) : "";
        string hint = offset < bytes.Length && bytes[offset] >= 0xA0 && (offset + 1 >= bytes.Length || bytes[offset + 1] < 0x80 || bytes[offset + 1] >= 0xC0)
            ? " (Latin-1/Windows-1252 text?)" : "";
        return $"invalid UTF-8 at byte {offset + 1} of the record (bytes {hex}){hint}: re-save the file as UTF-8";
    }
}

internal static class JsonErrors
{
    /// <summary>System.Text.Json's message without its "LineNumber: | BytePositionInLine:" tail (we say where ourselves).</summary>
    public static string Describe(JsonException e)
    {
        string m = e.Message;
        int cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut < 0) cut = m.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) m = m[..cut];
        m = m.TrimEnd('.', ' ');
        if (e.LineNumber is long line && e.BytePositionInLine is long col)
            m += line > 0 ? $" (line {line + 1} of the record, byte {col + 1})" : $" (at byte {col + 1})";
        return m;
    }

    /// <summary>The deepest bracket nesting of some JSON text (strings skipped), without recursion.</summary>
    public static int MaxDepth(ReadOnlySpan<byte> json)
    {
        int depth = 0, max = 0;
        bool inString = false, escape = false;
        foreach (byte c in json)
        {
            if (inString)
            {
                if (escape) escape = false;
                else if (c == (byte)'\\') escape = true;
                else if (c == (byte)'"') inString = false;
            }
            else if (c == (byte)'"') inString = true;
            else if (c is (byte)'{' or (byte)'[') { if (++depth > max) max = depth; }
            else if (c is (byte)'}' or (byte)']') depth--;
        }
        return max;
    }
}
