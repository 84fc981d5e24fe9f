using System.Collections.Concurrent;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>A data check report kept for the client: which file, when, and the report's JSON (as <c>scalpel data check --json</c> prints it).</summary>
public sealed record McpDataCheck(string Id, string File, DateTime CheckedUtc, string Json)
{
    public string Uri => $"scalpel://data-checks/{Id}";
}

/// <summary>
/// The reports of <c>check_dataset</c> calls, served as MCP resources (<c>scalpel://data-checks/{id}</c>) so an agent
/// can read a full report again, or hand it on, without re-running the check. Kept for the life of the server.
/// </summary>
public sealed class McpDataChecks
{
    private readonly ConcurrentDictionary<string, McpDataCheck> _checks = new(StringComparer.Ordinal);

    public McpDataCheck Add(string file, string json)
    {
        var check = new McpDataCheck(RunRecord.NewId(), file, DateTime.UtcNow, json);
        _checks[check.Id] = check;
        return check;
    }

    public McpDataCheck? Find(string id) => _checks.GetValueOrDefault(id);

    public IReadOnlyList<McpDataCheck> All() => _checks.Values.OrderBy(c => c.CheckedUtc).ToList();
}
