using Scalpel.Server.Mcp;
using Xunit;

namespace Scalpel.Tests.Mcp;

/// <summary>The path guard of scalpel mcp: what resolves inside a root, and what only looks like it does.</summary>
public sealed class McpRootsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scalpel-roots-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _root;

    public McpRootsTests()
    {
        _root = Path.Combine(_dir, "root");
        Directory.CreateDirectory(Path.Combine(_root, "data"));
        Directory.CreateDirectory(Path.Combine(_dir, "root-other"));
        Directory.CreateDirectory(Path.Combine(_dir, "elsewhere"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PathsInsideTheRootResolveToTheirRealPath()
    {
        var roots = new McpRoots([_root]);
        Assert.Equal(Path.Combine(_root, "data", "a.jsonl"), roots.Resolve(Path.Combine(_root, "data", "x", "..", "a.jsonl"), "file"));
        Assert.Equal(Path.Combine(_root, "data", "a.jsonl"), roots.Resolve("data/a.jsonl", "file"));   // relative: to the first root
        Assert.Equal(_root, roots.Resolve(_root, "dir"));
        // A link that stays inside is fine, and resolves to where it points.
        Directory.CreateSymbolicLink(Path.Combine(_root, "alias"), Path.Combine(_root, "data"));
        Assert.Equal(Path.Combine(_root, "data", "new", "b.jsonl"), roots.Resolve(Path.Combine(_root, "alias", "new", "b.jsonl"), "file"));
    }

    [Fact]
    public void NeighboursDotDotAndLinksOutAreRefused()
    {
        var roots = new McpRoots([_root]);
        // A sibling whose name starts with the root's name is not inside it.
        var e = Assert.Throws<OutsideRootsException>(() => roots.Resolve(Path.Combine(_dir, "root-other", "a.jsonl"), "file"));
        Assert.Equal($"file: {Path.Combine(_dir, "root-other", "a.jsonl")} is outside the allowed roots ({_root})", e.Message);
        Assert.Throws<OutsideRootsException>(() => roots.Resolve(Path.Combine(_root, "..", "elsewhere"), "dir"));
        Assert.Throws<OutsideRootsException>(() => roots.Resolve("/etc/passwd", "file"));
        // Links out: to a folder (then a path not yet created below it), to a file, and a link to a link.
        Directory.CreateSymbolicLink(Path.Combine(_root, "out"), Path.Combine(_dir, "elsewhere"));
        Assert.Throws<OutsideRootsException>(() => roots.Resolve(Path.Combine(_root, "out", "not", "yet.gguf"), "output"));
        File.WriteAllText(Path.Combine(_dir, "elsewhere", "secret.jsonl"), "{}");
        File.CreateSymbolicLink(Path.Combine(_root, "data", "s.jsonl"), Path.Combine(_dir, "elsewhere", "secret.jsonl"));
        Assert.Throws<OutsideRootsException>(() => roots.Resolve(Path.Combine(_root, "data", "s.jsonl"), "file"));
        File.CreateSymbolicLink(Path.Combine(_root, "data", "s2.jsonl"), "s.jsonl");   // relative link to the link above
        Assert.Throws<OutsideRootsException>(() => roots.Resolve(Path.Combine(_root, "data", "s2.jsonl"), "file"));
        Assert.Throws<OutsideRootsException>(() => roots.Resolve("", "file"));
    }

    [Fact]
    public void SeveralRootsAndAMissingRoot()
    {
        var roots = new McpRoots([_root, Path.Combine(_dir, "elsewhere")]);
        Assert.Equal(Path.Combine(_dir, "elsewhere", "x"), roots.Resolve(Path.Combine(_dir, "elsewhere", "x"), "file"));
        var e = Assert.Throws<OutsideRootsException>(() => new McpRoots([Path.Combine(_dir, "nope")]));
        Assert.Equal($"--root {Path.Combine(_dir, "nope")}: no such folder", e.Message);
    }
}
