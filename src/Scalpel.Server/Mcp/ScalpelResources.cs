using System.ComponentModel;
using ModelContextProtocol;
using ModelContextProtocol.Server;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>
/// A run's files as MCP resources, addressed by run id (a run this server started, or any run in the registry):
/// <c>scalpel://runs/{run_id}/metrics</c> (metrics.jsonl, one JSON object per logged step) and
/// <c>scalpel://runs/{run_id}/report</c> (report.html). The run folder is held to the roots like any path.
/// </summary>
public sealed class ScalpelResources(McpRoots roots, McpRuns runs)
{
    [McpServerResource(UriTemplate = "scalpel://runs/{run_id}/metrics", Name = "run_metrics", MimeType = "application/jsonl")]
    [Description("Training metrics of a run, one JSON object per line (step, loss, lr, val_loss, ...), as written so far.")]
    public string Metrics([Description("Run id")] string run_id) => Read(run_id, "metrics.jsonl");

    [McpServerResource(UriTemplate = "scalpel://runs/{run_id}/report", Name = "run_report", MimeType = "text/html")]
    [Description("The run's HTML report (loss curves, validation, data summary), written when the run ends.")]
    public string Report([Description("Run id")] string run_id) => Read(run_id, "report.html");

    private string Read(string runId, string file)
    {
        string? directory = runs.IsKnown(runId) ? runs.Status(runId).RunDirectory : null;
        if (directory is null && runs.RegistryPath is { } path && File.Exists(path))
        {
            using var registry = RunRegistry.Open(path);
            directory = registry.Get(runId)?.RunDirectory;
        }
        if (directory is null) throw new McpException($"run {runId}: no such run (list_runs shows them)");
        string full;
        try { full = roots.Resolve(Path.Combine(directory, file), "run"); }
        catch (OutsideRootsException e) { throw new McpException(e.Message); }
        return File.Exists(full) ? File.ReadAllText(full) : throw new McpException($"{full}: not written yet");
    }
}
