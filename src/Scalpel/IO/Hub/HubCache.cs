using System.Text.Json;
using System.Text.RegularExpressions;

namespace Scalpel.IO.Hub;

/// <summary>
/// One model's folder in the Hugging Face hub cache, laid out exactly as huggingface_hub lays it out so the files are
/// shared with the Python tools:
/// <code>
/// models--{org}--{name}/
///   blobs/{etag}                      file contents, named by ETag (the SHA-256 for LFS files, the git blob id otherwise)
///   blobs/{etag}.incomplete           a transfer in progress (resumed from its length)
///   snapshots/{commit}/{path}         symlinks to ../../blobs/{etag} (copies where symlinks are not allowed)
///   refs/{revision}                   the commit a branch or tag pointed to when last pulled
///   .scalpel/{commit}.json            Scalpel's own note of every file of that commit, to tell a complete snapshot offline
/// </code>
/// </summary>
public sealed partial class HubCache
{
    public HubCache(string cacheRoot, string repoId)
    {
        RepoId = repoId;
        RepoFolder = Path.Combine(cacheRoot, FolderName(repoId));
    }

    public string RepoId { get; }
    public string RepoFolder { get; }
    public string BlobsFolder => Path.Combine(RepoFolder, "blobs");

    /// <summary><c>models--org--name</c>.</summary>
    public static string FolderName(string repoId) => "models--" + repoId.Replace("/", "--");

    public static bool IsCommitHash(string revision) => CommitHash().IsMatch(revision);

    public string BlobPath(string etag) => Path.Combine(BlobsFolder, etag);
    public string SnapshotFolder(string commit) => Path.Combine(RepoFolder, "snapshots", commit);
    public string SnapshotFile(string commit, string repoPath) =>
        Path.Combine(SnapshotFolder(commit), repoPath.Replace('/', Path.DirectorySeparatorChar));
    private string RefPath(string revision) => Path.Combine(RepoFolder, "refs", revision.Replace('/', Path.DirectorySeparatorChar));
    private string ManifestPath(string commit) => Path.Combine(RepoFolder, ".scalpel", commit + ".json");

    /// <summary>The snapshot holds this file and, for a symlink, its blob exists.</summary>
    public bool HasFile(string commit, string repoPath) => Resolves(SnapshotFile(commit, repoPath));

    /// <summary>A regular file, or a symlink whose final target is one (File.Exists is true for dangling links).</summary>
    internal static bool Resolves(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        if (info.LinkTarget is null) return true;
        try { return info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true }; }
        catch (IOException) { return false; }
    }

    /// <summary>The commit refs/{revision} names, or null.</summary>
    public string? ReadRef(string revision)
    {
        try
        {
            string path = RefPath(revision);
            if (!File.Exists(path)) return null;
            string commit = File.ReadAllText(path).Trim();
            return IsCommitHash(commit) ? commit : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public void WriteRef(string revision, string commit)
    {
        if (ReadRef(revision) == commit) return;
        WriteAtomically(RefPath(revision), commit);   // no newline, as huggingface_hub writes it
    }

    /// <summary>Records every file the commit holds (the whole repository, not just what was selected).</summary>
    public void WriteManifest(string commit, IReadOnlyList<string> files)
    {
        if (ReadManifest(commit) is { } old && old.SequenceEqual(files)) return;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("commit", commit);
            json.WriteStartArray("files");
            foreach (var f in files) json.WriteStringValue(f);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        WriteAtomically(ManifestPath(commit), System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public IReadOnlyList<string>? ReadManifest(string commit)
    {
        try
        {
            string path = ManifestPath(commit);
            if (!File.Exists(path)) return null;
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (!doc.RootElement.TryGetProperty("files", out var files) || files.ValueKind != JsonValueKind.Array) return null;
            var list = new List<string>();
            foreach (var f in files.EnumerateArray())
                if (f.GetString() is { } s) list.Add(s);
            return list;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return null; }
    }

    /// <summary>
    /// The snapshot folder for <paramref name="revision"/> (a ref pulled before, or a commit hash) when every selected
    /// file is in it; otherwise null and the reason. Snapshots written by other tools (no Scalpel manifest) count as
    /// complete when they hold at least one file, no dangling link, and a file for each include pattern.
    /// </summary>
    public (string? Folder, string Reason) FindCompleteSnapshot(string revision, HubPatterns include)
    {
        string? commit = IsCommitHash(revision) ? revision : ReadRef(revision);
        if (commit is null) return (null, $"revision '{revision}' was never pulled");
        string folder = SnapshotFolder(commit);
        if (!Directory.Exists(folder)) return (null, $"no snapshot of commit {commit}");

        if (ReadManifest(commit) is { } manifest)
        {
            var wanted = manifest.Where(include.Matches).ToList();
            if (wanted.Count == 0) return (null, "no file of the snapshot matches the include patterns");
            int missing = wanted.Count(f => !HasFile(commit, f));
            return missing == 0 ? (folder, "") : (null, $"the snapshot of commit {commit} lacks {missing} of {wanted.Count} files");
        }

        var present = new List<string>();
        foreach (var entry in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            if (!Resolves(entry)) return (null, $"the snapshot of commit {commit} has a dangling link {entry}");
            present.Add(Path.GetRelativePath(folder, entry).Replace(Path.DirectorySeparatorChar, '/'));
        }
        var selected = present.Where(include.Matches).ToList();
        return selected.Count > 0 ? (folder, "") : (null, $"the snapshot of commit {commit} holds no file matching the include patterns");
    }

    /// <summary>
    /// Puts the blob at snapshots/{commit}/{path}: a relative symlink where allowed, else a copy. Replaces an older
    /// entry atomically (a temporary name, then a rename).
    /// </summary>
    public void Link(string commit, string repoPath, string etag, bool? useSymlinks)
    {
        string blob = BlobPath(etag);
        string target = SnapshotFile(commit, repoPath);
        string folder = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(folder);
        string relative = Path.GetRelativePath(folder, blob);
        var existing = new FileInfo(target);
        if (existing.LinkTarget == relative && Resolves(target)) return;

        string temp = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (useSymlinks != false)
            {
                try
                {
                    File.CreateSymbolicLink(temp, relative);
                    File.Move(temp, target, overwrite: true);
                    return;
                }
                catch (Exception e) when (useSymlinks is null && e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
                {
                    TryDelete(temp);   // no symlinks here (Windows without developer mode): copy instead
                }
            }
            File.Copy(blob, temp, overwrite: true);
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    private static void WriteAtomically(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + $".{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllText(temp, text);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    internal static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    [GeneratedRegex("^(?:[0-9a-f]{40}|[0-9a-f]{64})$")]
    private static partial Regex CommitHash();
}
