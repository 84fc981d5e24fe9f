using System.Runtime.CompilerServices;
using System.IO.Compression;
using System.Text.Json;

namespace Scalpel.Data;

/// <summary>A dataset that cannot be used as it is: the first error (a FormatException, so the CLI reports it as bad input, exit 1).</summary>
public sealed class DatasetException(DataIssue issue) : FormatException($"{issue}")
{
    public DataIssue Issue { get; } = issue;
}

/// <summary>How to read a dataset file. Everything is detected when left null.</summary>
public sealed record DatasetReadOptions
{
    /// <summary>The record format; detected from the first records when null.</summary>
    public DataFormat? Format { get; init; }
    /// <summary>The container; from the extension (.csv, .tsv) or the first byte ('[' = JSON array, else JSONL) when null.</summary>
    public DataContainer? Container { get; init; }
    /// <summary>The largest record (line, array element, CSV row) accepted; larger ones are reported and skipped.</summary>
    public int MaxRecordBytes { get; init; } = 256 << 20;
    /// <summary>The deepest JSON nesting accepted (deeper is an error, never a stack overflow).</summary>
    public int MaxDepth { get; init; } = 64;
    /// <summary>Threads that parse records (0: one per core; 1: parse on the reading thread).</summary>
    public int Parallelism { get; init; }
}

/// <summary>
/// One record of a dataset file: the example it holds when it is valid, or the errors that stop it being used.
/// File-level problems (an empty file, binary data) come as records with <see cref="IsRecord"/> false.
/// </summary>
public sealed class ParsedRecord
{
    public required long Line { get; init; }
    /// <summary>The example, when the record has no errors.</summary>
    public Example? Example { get; init; }
    /// <summary>The format the record itself looks like (null when it could not be told).</summary>
    public DataFormat? Format { get; init; }
    public IReadOnlyList<DataIssue> Errors { get; init; } = [];
    public IReadOnlyList<DataIssue> Warnings { get; init; } = [];
    /// <summary>False for problems of the file as a whole (not counted as examples).</summary>
    public bool IsRecord { get; init; } = true;
    /// <summary>The record's JSON (a CSV row rewritten as JSON); valid only until the next record is read.</summary>
    internal ReadOnlyMemory<byte> Json { get; init; }
    /// <summary>Fingerprints of the example, computed on the parsing thread when the reader was asked to.</summary>
    internal ExampleFeatures? Features { get; set; }
}

/// <summary>
/// Streams the records of a dataset file (JSONL, JSON array, CSV/TSV; UTF-8 with or without BOM; gzip detected by its
/// magic bytes) with memory bounded by the largest record, whatever the file size.
/// </summary>
public sealed class DatasetReader : IDisposable
{
    private readonly FileStream _file;
    private readonly RecordReader? _reader;
    private readonly CountingStream? _decompressed;
    private readonly uint? _gzipSize;
    private readonly List<ParsedRecord> _fileProblems = [];
    private readonly DatasetReadOptions _options;
    private long _formatLine;

    public string Path { get; }
    /// <summary>The container, or null when the file could not be read as any (empty, binary, UTF-16).</summary>
    public DataContainer? Container { get; }
    public bool Compressed { get; }
    /// <summary>Size of the file on disk.</summary>
    public long FileBytes { get; }
    /// <summary>Bytes of the file read so far (compressed bytes for .gz).</summary>
    public long BytesRead => _file.CanSeek ? _file.Position : 0;
    /// <summary>Bytes of records read so far after decompression.</summary>
    public long DecompressedBytes => _decompressed?.Count ?? BytesRead;
    /// <summary>Compute <see cref="ParsedRecord.Features"/> on the parsing threads (set before <see cref="Read"/>).</summary>
    internal bool WithFeatures { get; set; }

    /// <summary>The forced format, or the one detected from the first recognisable record (null until then).</summary>
    public DataFormat? Format { get; private set; }

    private DatasetReader(string path, DatasetReadOptions options)
    {
        Path = path;
        _options = options;
        Format = options.Format;
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        FileBytes = _file.Length;

        Stream stream = _file;
        Span<byte> magic = stackalloc byte[2];
        int got = _file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        _file.Position = 0;
        if (got == 2 && magic[0] == 0x1F && magic[1] == 0x8B)
        {
            Compressed = true;
            if (FileBytes >= 18)
            {
                Span<byte> trailer = stackalloc byte[4];
                _file.Position = FileBytes - 4;
                _file.ReadExactly(trailer);
                _file.Position = 0;
                _gzipSize = BitConverter.ToUInt32(trailer);
            }
            stream = _decompressed = new CountingStream(new GZipStream(_file, CompressionMode.Decompress, leaveOpen: true));
        }

        // Look at the start: BOM, binary data, the first character.
        var head = new byte[64 * 1024];
        int headLength;
        try { headLength = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false); }
        catch (InvalidDataException e)
        {
            Problem(IssueCodes.InvalidGzip, $"the file starts like gzip but cannot be decompressed ({e.Message}): re-create the .gz file");
            return;
        }
        int skip = 0;
        if (headLength >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF) skip = 3;
        else if (headLength >= 2 && ((head[0] == 0xFF && head[1] == 0xFE) || (head[0] == 0xFE && head[1] == 0xFF)))
        {
            Problem(IssueCodes.InvalidUtf8, "the file is UTF-16 (it starts with a UTF-16 byte order mark): re-save it as UTF-8");
            return;
        }
        var first = head.AsSpan(skip, headLength - skip);
        int nul = first.IndexOf((byte)0);
        if (nul >= 0)
        {
            Problem(IssueCodes.BinaryFile, $"the file holds binary data (a zero byte at offset {nul + skip}), not text: is it the right file? (UTF-16 text must be re-saved as UTF-8)");
            return;
        }
        int firstChar = 0;
        while (firstChar < first.Length && first[firstChar] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') firstChar++;
        if (firstChar == first.Length && headLength < head.Length)
        {
            Problem(IssueCodes.EmptyFile, first.Length == 0 ? "the file is empty: it holds no examples" : "the file holds only whitespace: it holds no examples");
            return;
        }

        Container = options.Container ?? ContainerFromName(path) ?? (firstChar < first.Length && first[firstChar] == (byte)'[' ? DataContainer.JsonArray : DataContainer.Jsonl);
        var body = new PrefixedStream(head, skip, headLength, stream);
        _reader = Container.Value switch
        {
            DataContainer.Jsonl => new JsonlRecordReader(body, options.MaxRecordBytes),
            DataContainer.JsonArray => new JsonArrayRecordReader(body, options.MaxRecordBytes),
            DataContainer.Csv => new CsvRecordReader(body, options.MaxRecordBytes, (byte)',', options.MaxDepth),
            DataContainer.Tsv => new CsvRecordReader(body, options.MaxRecordBytes, (byte)'\t', options.MaxDepth),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
    }

    /// <summary>
    /// The examples of a file for code that needs clean data (training): throws <see cref="DatasetException"/> at the
    /// first error, naming file, line, field and fix. Warnings are ignored; run <see cref="DataChecker"/> for those.
    /// </summary>
    public static IEnumerable<Example> ReadExamples(string path, DatasetReadOptions? options = null)
    {
        using var reader = Open(path, options);
        foreach (var record in reader.Read())
        {
            if (record.Errors.Count > 0) throw new DatasetException(record.Errors[0]);
            if (record.Example is not null) yield return record.Example;
        }
    }

    /// <summary>Opens a dataset file. Throws <see cref="FileNotFoundException"/> when it does not exist.</summary>
    public static DatasetReader Open(string path, DatasetReadOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        return new DatasetReader(path, options ?? new DatasetReadOptions());
    }

    private static DataContainer? ContainerFromName(string path)
    {
        string name = path.ToLowerInvariant();
        if (name.EndsWith(".gz", StringComparison.Ordinal)) name = name[..^3];
        if (name.EndsWith(".csv", StringComparison.Ordinal)) return DataContainer.Csv;
        if (name.EndsWith(".tsv", StringComparison.Ordinal)) return DataContainer.Tsv;
        return null;
    }

    private void Problem(string code, string message, long line = 0) =>
        _fileProblems.Add(new ParsedRecord { Line = line, IsRecord = false, Errors = [new DataIssue(Path, line, "", code, message)] });

    /// <summary>
    /// Reads every record, in file order. Records are cut from the file on one thread and parsed on
    /// <see cref="DatasetReadOptions.Parallelism"/> threads a few batches ahead (bounded, so memory stays flat); the
    /// format of the file is settled here, in order, so the result is the same as reading one record at a time.
    /// </summary>
    public IEnumerable<ParsedRecord> Read()
    {
        foreach (var p in _fileProblems) yield return p;
        if (_reader is null) yield break;
        long lastLine = 0;
        int workers = _options.Parallelism > 0 ? _options.Parallelism : Environment.ProcessorCount;
        foreach (var decoded in workers > 1 ? DecodeInParallel(workers) : DecodeInOrder())
        {
            var record = decoded;
            lastLine = record.Line;
            if (_options.Format is null && record.Format is { } detected)
            {
                if (Format is null)
                {
                    Format = detected;
                    _formatLine = record.Line;
                }
                else if (detected != Format)
                    record = new ParsedRecord
                    {
                        Line = record.Line, Format = detected, Json = record.Json,
                        Errors = [new DataIssue(Path, record.Line, "", IssueCodes.MixedFormats,
                            $"this record is {detected.Name()} but the file is {Format.Value.Name()} (from line {_formatLine}): one file must hold one format, convert or move this record")],
                    };
            }
            yield return record;
        }
        if (_gzipSize is uint size && _decompressed is not null && (uint)_decompressed.Count != size)
            yield return new ParsedRecord
            {
                Line = lastLine, IsRecord = false,
                Errors = [new DataIssue(Path, lastLine, "", IssueCodes.InvalidGzip,
                    $"the .gz file is truncated or corrupt (decompressed {_decompressed.Count} bytes, its trailer says {size} mod 2^32): re-create it; the last record may be cut")],
            };
    }

    private IEnumerable<ParsedRecord> DecodeInOrder()
    {
        var decoder = new RecordDecoder(Path, _options, WithFeatures);
        while (_reader!.TryRead(out var raw))
        {
            yield return decoder.Decode(raw);
            if (raw.Fatal) yield break;
        }
    }

    private const int BatchBytes = 1 << 20, BatchRecords = 256;

    /// <summary>A batch of raw records copied out of the reader's buffer (into a pooled array) for a worker to parse.</summary>
    private sealed class Batch
    {
        public byte[] Buffer = [];
        public int Used;
        public readonly List<RawRecord> Records = new(BatchRecords);
    }

    private IEnumerable<ParsedRecord> DecodeInParallel(int workers)
    {
        var decoders = new System.Collections.Concurrent.ConcurrentBag<RecordDecoder>();
        using var queue = new System.Collections.Concurrent.BlockingCollection<(Batch Batch, Task<ParsedRecord[]> Work)>(workers * 2);
        using var cancel = new CancellationTokenSource();
        Exception? failure = null;

        ParsedRecord[] DecodeBatch(Batch batch)
        {
            if (!decoders.TryTake(out var decoder)) decoder = new RecordDecoder(Path, _options, WithFeatures);
            var result = new ParsedRecord[batch.Records.Count];
            for (int i = 0; i < result.Length; i++) result[i] = decoder.Decode(batch.Records[i]);
            decoders.Add(decoder);
            return result;
        }

        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                var batch = new Batch { Buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BatchBytes) };
                while (_reader!.TryRead(out var raw))
                {
                    int n = raw.Json.Length;
                    if (batch.Records.Count == BatchRecords || (batch.Used + n > batch.Buffer.Length && batch.Records.Count > 0))
                    {
                        var full = batch;
                        queue.Add((full, Task.Run(() => DecodeBatch(full))), cancel.Token);
                        batch = new Batch { Buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(BatchBytes, n)) };
                    }
                    if (batch.Used + n > batch.Buffer.Length)
                    {
                        System.Buffers.ArrayPool<byte>.Shared.Return(batch.Buffer);
                        batch.Buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(n);
                    }
                    raw.Json.Span.CopyTo(batch.Buffer.AsSpan(batch.Used));
                    raw.Json = batch.Buffer.AsMemory(batch.Used, n);
                    batch.Used += n;
                    batch.Records.Add(raw);
                    if (raw.Fatal) break;
                }
                var last = batch;
                queue.Add((last, Task.Run(() => DecodeBatch(last))), cancel.Token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { failure = e; }
            finally { queue.CompleteAdding(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        try
        {
            foreach (var (batch, work) in queue.GetConsumingEnumerable())
            {
                var records = work.GetAwaiter().GetResult();   // a worker's exception surfaces here, unwrapped
                foreach (var r in records) yield return r;
                System.Buffers.ArrayPool<byte>.Shared.Return(batch.Buffer);
            }
        }
        finally
        {
            cancel.Cancel();
            foreach (var (batch, work) in queue.GetConsumingEnumerable())
            {
                try { work.Wait(); } catch (AggregateException) { }
                System.Buffers.ArrayPool<byte>.Shared.Return(batch.Buffer);
            }
            producer.Wait();
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _decompressed?.Dispose();
        _file.Dispose();
    }

    /// <summary>Counts the bytes read through it (decompressed size, for the gzip trailer check).</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = inner.Read(buffer, offset, count);
            Count += n;
            return n;
        }
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            Count += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Bytes already read from the start of a stream, then the rest of the stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, int start, int end, Stream inner) : Stream
    {
        private int _pos = start;
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_pos < end)
            {
                int n = Math.Min(buffer.Length, end - _pos);
                prefix.AsSpan(_pos, n).CopyTo(buffer);
                _pos += n;
                return n;
            }
            return inner.Read(buffer);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { }   // the owner disposes the underlying streams
    }
}

/// <summary>Turns raw records into parsed ones (UTF-8 check, JSON parse, format detection, the format's parser). One per thread.</summary>
internal sealed class RecordDecoder
{
    private readonly string _path;
    private readonly DatasetReadOptions _options;
    private readonly RecordContext _ctx;
    private readonly RecordParser _parser;
    private readonly JsonDocumentOptions _documentOptions;

    private readonly FeatureExtractor? _features;

    public RecordDecoder(string path, DatasetReadOptions options, bool withFeatures = false)
    {
        if (withFeatures) _features = new FeatureExtractor();
        _path = path;
        _options = options;
        _ctx = new RecordContext(path);
        _parser = new RecordParser(_ctx, options.MaxDepth);
        _documentOptions = new JsonDocumentOptions { MaxDepth = options.MaxDepth, AllowDuplicateProperties = false };
    }

    /// <summary>
    /// Parses a record with the forced format, or with the format it looks like (the reader then checks that every
    /// record's format is the file's). <see cref="ParsedRecord.Format"/> is the detected one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ParsedRecord Decode(RawRecord raw)
    {
        _ctx.Reset(raw.Line);
        if (raw.ProblemCode is not null)
        {
            _ctx.Error(raw.ProblemField ?? "", raw.ProblemCode, raw.ProblemMessage!);
            return Finish(raw, null, null);
        }
        var span = raw.Json.Span;
        if (!System.Text.Unicode.Utf8.IsValid(span))
        {
            _ctx.Error("", IssueCodes.InvalidUtf8, Utf8Check.Describe(span));
            return Finish(raw, null, null);
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(raw.Json, _documentOptions); }
        catch (JsonException e)
        {
            int depth = JsonErrors.MaxDepth(span);
            if (depth > _options.MaxDepth)
                _ctx.Error("", IssueCodes.TooDeep, $"the JSON nests {depth} levels deep, more than the {_options.MaxDepth} allowed: flatten the record (is it corrupt?)");
            else
            {
                string hint = span.Length <= 2 && (span[0] == (byte)'{' || span[0] == (byte)'[')
                    ? "; pretty-printed JSON? write one object per line (JSONL) or one JSON array" : "";
                _ctx.Error("", IssueCodes.InvalidJson, $"invalid JSON: {JsonErrors.Describe(e)}: each record must be one complete JSON object{hint}");
            }
            return Finish(raw, null, null);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                _ctx.Error("", IssueCodes.WrongType, $"the record is {RecordContext.Kind(root.ValueKind)}, not a JSON object: write each record as {{\"field\": ...}}");
                return Finish(raw, null, null);
            }
            var detected = RecordParser.Detect(root);
            var format = _options.Format ?? detected;
            if (format is null)
            {
                var keys = string.Join(", ", root.EnumerateObject().Select(p => p.Name).Take(6));
                _ctx.Error("", IssueCodes.UnknownFormat,
                    $"the record matches no known format (fields: {(keys.Length > 0 ? keys : "none")}): it needs {RecordParser.FormatFields}");
                return Finish(raw, null, null);
            }
            var example = _parser.Parse(root, format.Value, new SourceLocation(_path, raw.Line));
            return Finish(raw, example, detected);
        }
    }

    private ParsedRecord Finish(RawRecord raw, Example? example, DataFormat? format)
    {
        var valid = _ctx.Errors.Count == 0 ? example : null;
        return new ParsedRecord
        {
            Line = raw.Line,
            Example = valid,
            Format = format,
            Errors = _ctx.Errors.Count == 0 ? [] : _ctx.Errors.ToArray(),
            Warnings = _ctx.Warnings.Count == 0 ? [] : _ctx.Warnings.ToArray(),
            Json = raw.Json,
            Features = valid is not null && _features is not null ? _features.Extract(valid) : null,
        };
    }
}
