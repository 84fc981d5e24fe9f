namespace Scalpel.Server.Mcp;

/// <summary>A path argument that resolves outside every root, or a root that is not a folder.</summary>
public sealed class OutsideRootsException(string message) : Exception(message);

/// <summary>
/// The folders an MCP client may touch. Every path argument is resolved (relative to the first root, then through
/// <c>..</c> and every symbolic link on the way, existing or not yet created) and must land inside one of them.
/// </summary>
public sealed class McpRoots
{
    public IReadOnlyList<string> Folders { get; }

    public McpRoots(IEnumerable<string> folders)
    {
        var list = new List<string>();
        foreach (var folder in folders)
        {
            if (!Directory.Exists(folder)) throw new OutsideRootsException($"--root {folder}: no such folder");
            list.Add(RealPath(Path.GetFullPath(folder)));
        }
        if (list.Count == 0) throw new OutsideRootsException("at least one --root folder is needed");
        Folders = list;
    }

    /// <summary>The real, absolute path of <paramref name="path"/>, or an error naming the roots.</summary>
    public string Resolve(string path, string argument)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutsideRootsException($"{argument}: a path is needed");
        string real = RealPath(Path.GetFullPath(path, Folders[0]));
        foreach (var root in Folders)
            if (real == root || real.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal)) return real;
        throw new OutsideRootsException($"{argument}: {path} is outside the allowed roots ({string.Join(", ", Folders)})");
    }

    /// <summary>Follows every symbolic link along an absolute path, component by component; missing tails stay as written.</summary>
    internal static string RealPath(string absolute)
    {
        string current = Path.GetPathRoot(absolute)!;
        var parts = absolute[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0, hops = 0; i < parts.Length; i++)
        {
            string next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is { } target)
            {
                if (++hops > 40) throw new OutsideRootsException($"{absolute}: too many symbolic links");
                // Re-walk the link's target with the rest of the path, so links inside the target resolve too.
                string rest = string.Join('/', parts[(i + 1)..]);
                string combined = Path.GetFullPath(Path.Combine(Path.GetFullPath(target, current), rest));
                current = Path.GetPathRoot(combined)!;
                parts = combined[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
                i = -1;
                continue;
            }
            current = next;
        }
        return Path.GetFullPath(current);
    }
}
