using System.Text.Json.Nodes;
using Scalpel.Data;
using Scalpel.Server.Jobs;
using Scalpel.Text;

namespace Scalpel.Server.Files;

/// <summary>An upload that cannot be accepted; <see cref="Status"/> is the HTTP status to answer with.</summary>
public sealed class FileUploadException(int status, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
}

/// <summary>
/// Uploaded files on disk: <c>DATA/files/ID.EXT</c>. An upload streams into a temp file in the same folder and is
/// renamed into place only once complete, so no reader ever sees half a file; its id is random and checked against the
/// id pattern before it names anything on disk. Fine-tune files are checked by <see cref="DataChecker"/> (with the
/// base model's tokenizer when it has one) and the report is kept with the file's row.
/// </summary>
public sealed class FileStorage
{
    /// <summary>Purposes OpenAI accepts for uploads; only fine-tune files are checked.</summary>
    public static readonly string[] Purposes = [StoredFile.FineTunePurpose, "assistants", "batch", "vision", "user_data", "evals"];

    private static readonly string[] Containers = [".jsonl", ".json", ".csv", ".tsv"];

    private readonly IJobStore _store;
    private readonly string _modelDirectory;
    private readonly Lazy<TokenCheckOptions?> _tokens;

    public FileStorage(ServerOptions options, IJobStore store)
    {
        _store = store;
        _modelDirectory = Path.GetFullPath(options.ModelDirectory);
        Root = Path.Combine(Path.GetFullPath(options.DataDirectory), "files");
        MaxBytes = options.MaxBodyBytes;
        Directory.CreateDirectory(Root);
        // Temp files of uploads cut off by a crash.
        foreach (var temp in Directory.EnumerateFiles(Root, ".upload-*.tmp")) File.Delete(temp);
        _tokens = new Lazy<TokenCheckOptions?>(TokenOptions);
    }

    public string Root { get; }
    public long MaxBytes { get; }

    /// <summary>Where the file's bytes are. Only ids of the right shape get here (<see cref="ObjectIds.IsValid"/>).</summary>
    public string PathOf(StoredFile file)
    {
        if (!ObjectIds.IsValid(file.Id, StoredFile.IdPrefix) || (file.Extension.Length > 0 && ExtensionFor("x" + file.Extension) != file.Extension))
            throw new InvalidOperationException($"refusing to build a path from file id '{file.Id}' / extension '{file.Extension}'");
        return Path.Combine(Root, file.Id + file.Extension);
    }

    /// <summary>The storage extension for an upload name: a known container (optionally .gz), else none (the reader sniffs the bytes).</summary>
    public static string ExtensionFor(string filename)
    {
        string name = filename.ToLowerInvariant();
        string gz = "";
        if (name.EndsWith(".gz", StringComparison.Ordinal)) { gz = ".gz"; name = name[..^3]; }
        foreach (var c in Containers)
            if (name.EndsWith(c, StringComparison.Ordinal)) return c + gz;
        return gz;
    }

    /// <summary>A client-given file name made safe to store and show: its last path segment, no control characters, at most 255 characters.</summary>
    public static string CleanName(string? filename)
    {
        string name = (filename ?? "").Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        name = new string(name.Where(ch => !char.IsControl(ch)).ToArray()).Trim();
        if (name.Length > 255) name = name[^255..];
        return name.Length == 0 ? "upload" : name;
    }

    /// <summary>Copies <paramref name="content"/> into a temp file in the files folder, at most <see cref="MaxBytes"/> bytes.</summary>
    /// <returns>the temp file's path and size</returns>
    public async Task<(string TempPath, long Bytes)> ReceiveAsync(Stream content, CancellationToken cancellationToken)
    {
        string temp = Path.Combine(Root, $".upload-{Guid.NewGuid():N}.tmp");
        long total = 0;
        try
        {
            await using var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += read;
                if (total > MaxBytes)
                    throw new FileUploadException(413, $"the file is larger than the server's limit of {MaxBytes:N0} bytes (scalpel serve --max-body-mb)", "file");
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
            await output.FlushAsync(cancellationToken);
            return (temp, total);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Moves a received temp file into place under a new id, checks it (fine-tune files) and records it.</summary>
    public StoredFile Commit(string tempPath, long bytes, string filename, string purpose)
    {
        var file = new StoredFile
        {
            Id = ObjectIds.New(StoredFile.IdPrefix), Filename = CleanName(filename), Purpose = purpose, Bytes = bytes,
            CreatedAt = ObjectIds.Now(), Status = "processed", Extension = ExtensionFor(CleanName(filename)),
        };
        string path = PathOf(file);
        File.Move(tempPath, path);
        try
        {
            if (purpose == StoredFile.FineTunePurpose) file = Check(file);
            _store.AddFile(file);
            return file;
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Runs the data check and returns the file with its report, error count and first error (named by upload name and line).</summary>
    public StoredFile Check(StoredFile file)
    {
        string path = PathOf(file);
        DataReport report;
        try
        {
            report = DataChecker.Check(path, new DataCheckOptions { Tokens = _tokens.Value });
        }
        catch (Exception e) when (e is IOException or FormatException or InvalidDataException)
        {
            string reason = $"{file.Filename} ({file.Id}): the data check could not read the file: {e.Message.Replace(path, file.Filename, StringComparison.Ordinal)}";
            return file with { Status = "error", StatusDetails = reason, CheckErrors = 1, FirstError = reason };
        }
        var json = JsonNode.Parse(report.ToJson())!.AsObject();
        // The report names the file by its upload name: the storage path is the server's business.
        json["file"] = file.Filename;
        foreach (var list in new[] { "errors", "warnings" })
            foreach (var item in json[list]!.AsArray())
                item!["file"] = file.Filename;
        string? first = report.Errors.Items.Count > 0 ? Describe(file, report.Errors.Items[0]) : null;
        return file with
        {
            CheckReport = json.ToJsonString(),
            CheckErrors = report.Errors.Count,
            FirstError = first,
            StatusDetails = first is null ? null : $"{report.Errors.Count} error(s) in the data check; the first: {first}",
        };
    }

    /// <summary>"train.jsonl (file-…), line 3, messages[1].content: reason [code]".</summary>
    public static string Describe(StoredFile file, DataIssue issue) =>
        $"{file.Filename} ({file.Id}){(issue.Line > 0 ? $", line {issue.Line}" : "")}{(issue.Field.Length > 0 ? $", {issue.Field}" : "")}: {issue.Message} [{issue.Code}]";

    public void Delete(StoredFile file)
    {
        string path = PathOf(file);
        if (File.Exists(path)) File.Delete(path);
    }

    private TokenCheckOptions? TokenOptions()
    {
        if (!File.Exists(Path.Combine(_modelDirectory, "tokenizer.json"))) return null;
        var tokenizer = Tokenizer.FromDirectory(_modelDirectory);
        ChatTemplate? template = null;
        try { template = ChatTemplate.FromDirectory(_modelDirectory); }
        catch (Exception e) when (e is TemplateException or IOException) { }
        return new TokenCheckOptions(tokenizer, template) { Source = "the base model" };
    }
}
