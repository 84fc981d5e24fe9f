using System.Text.Json.Nodes;

namespace Scalpel.Server.Dashboard;

/// <summary>One report file under the data folder: its path relative to the folder ('/'-separated) is its id.</summary>
public sealed record ReportFile(string Path, string FullPath, string Format, long Bytes, long ModifiedAt)
{
    public string Directory => Path.Contains('/') ? Path[..Path.LastIndexOf('/')] : "";

    public string ContentType => Format switch
    {
        "html" => "text/html; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        _ => "application/json; charset=utf-8",
    };

    public JsonObject ToJson() => new()
    {
        ["object"] = "report",
        ["id"] = Path,
        ["directory"] = Directory,
        ["kind"] = "compare",
        ["format"] = Format,
        ["bytes"] = Bytes,
        ["modified_at"] = ModifiedAt,
    };
}

/// <summary>
/// The eval/compare reports under the data folder (<c>compare.html</c>, <c>compare.md</c>, <c>compare.json</c> that
/// <c>scalpel compare</c> writes, in any folder, e.g. <c>DATA/reports/NAME/</c>). A path from a client is never
/// joined to the folder and opened: it is looked up among the files a walk of the folder found, and that walk skips
/// symbolic links and hidden entries, so nothing outside the folder can be named.
/// </summary>
public sealed class ReportFiles(ServerOptions options)
{
    private static readonly Dictionary<string, string> Names = new(StringComparer.Ordinal)
    {
        ["compare.html"] = "html", ["compare.md"] = "md", ["compare.json"] = "json",
    };

    /// <summary>Folders deeper than this below the data folder are not searched.</summary>
    public const int MaxDepth = 8;
    /// <summary>At most this many report files are listed (newest first).</summary>
    public const int MaxReports = 1000;

    public string Root { get; } = System.IO.Path.GetFullPath(options.DataDirectory);

    /// <summary>Every report file, newest first.</summary>
    public IReadOnlyList<ReportFile> List()
    {
        if (!System.IO.Directory.Exists(Root)) return [];
        var walk = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            MaxRecursionDepth = MaxDepth,
            IgnoreInaccessible = true,
            // Symbolic links (to files or folders) could lead out of the data folder: neither listed nor followed.
            AttributesToSkip = FileAttributes.ReparsePoint | FileAttributes.Hidden,
            MatchType = MatchType.Simple,
        };
        var found = new List<ReportFile>();
        foreach (string full in System.IO.Directory.EnumerateFiles(Root, "compare.*", walk))
        {
            if (!Names.TryGetValue(System.IO.Path.GetFileName(full), out string? format)) continue;
            string relative = System.IO.Path.GetRelativePath(Root, full).Replace('\\', '/');
            if (Refuse(relative) is not null) continue;
            var info = new FileInfo(full);
            found.Add(new ReportFile(relative, full, format, info.Length, new DateTimeOffset(info.LastWriteTimeUtc).ToUnixTimeSeconds()));
        }
        return [.. found.OrderByDescending(r => r.ModifiedAt).ThenBy(r => r.Path, StringComparer.Ordinal).Take(MaxReports)];
    }

    /// <summary>The report with this id (its relative path), or null: only a file <see cref="List"/> finds.</summary>
    public ReportFile? Find(string path)
    {
        if (Refuse(path) is not null) return null;
        var file = List().FirstOrDefault(r => r.Path == path);
        if (file is null) return null;
        // Belt and braces: the walk stayed inside the folder and skipped links, and the file is still not a link.
        string full = System.IO.Path.GetFullPath(file.FullPath);
        if (!full.StartsWith(Root + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal) || new FileInfo(full).LinkTarget is not null) return null;
        return file;
    }

    /// <summary>Why a client's path is not even looked up (absolute, '..', backslashes, control characters, too long), or null.</summary>
    public static string? Refuse(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "give the report's path relative to the data folder, as GET /v1/reports lists it: ?path=reports/NAME/compare.html";
        if (path.Length > 1024) return "the path is longer than 1024 characters";
        if (path.Any(char.IsControl) || path.Contains('\\') || path.Contains(':')) return "the path has a control character, a backslash or a colon";
        if (path.StartsWith('/')) return "the path must be relative to the data folder";
        if (path.Split('/').Any(s => s is "" or "." or "..")) return "the path has an empty, '.' or '..' segment: it must stay inside the data folder";
        return null;
    }
}
