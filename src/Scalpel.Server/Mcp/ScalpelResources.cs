using System.ComponentModel;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>
/// A run's files as MCP resources, addressed by run id (a run this server started, or any run in the registry):
/// <c>scalpel://runs/{run_id}/metrics</c> (metrics.jsonl, one JSON object per logged step) and
/// <c>scalpel://runs/{run_id}/report</c> (report.html). The run folder is held to the roots like any path. Data check
/// reports of <c>check_dataset</c> calls are <c>scalpel://data-checks/{check_id}</c>.
/// </summary>
public sealed class ScalpelResources(McpRoots roots, McpRuns runs)
{
    [McpServerResource(UriTemplate = "scalpel://runs/{run_id}/metrics", Name = "run_metrics", MimeType = "application/jsonl")]
    [Description("Training metrics of a run, one JSON object per line (step, loss, lr, val_loss, ...), as written so far.")]
    public string Metrics([Description("Run id")] string run_id) => Read(run_id, "metrics.jsonl");

    [McpServerResource(UriTemplate = "scalpel://runs/{run_id}/report", Name = "run_report", MimeType = "text/html")]
    [Description("The run's HTML report (loss curves, validation, data summary), written when the run ends.")]
    public string Report([Description("Run id")] string run_id) => Read(run_id, "report.html");

    [McpServerResource(UriTemplate = "scalpel://data-checks/{check_id}", Name = "data_check", MimeType = "application/json")]
    [Description("A data check report from check_dataset (errors with line numbers, warnings, stats), as `scalpel data check --json` prints it.")]
    public string DataCheck([Description("check_id from check_dataset")] string check_id) =>
        runs.DataChecks.Find(check_id)?.Json ?? throw new McpException($"data check {check_id}: no such report (check_dataset returns check_id)");

    /// <summary>
    /// The concrete resources behind the templates, for resources/list: every data check report, and the metrics and
    /// report of each run this server started, once written.
    /// </summary>
    public IEnumerable<Resource> Listed()
    {
        foreach (var check in runs.DataChecks.All())
            yield return new Resource
            {
                Uri = check.Uri, Name = $"data check {Path.GetFileName(check.File)}", MimeType = "application/json",
                Description = $"check_dataset report of {check.File} ({check.CheckedUtc:u})",
            };
        foreach (var run in runs.Active())
        {
            if (File.Exists(Path.Combine(run.RunDirectory, "metrics.jsonl")))
                yield return new Resource
                {
                    Uri = $"scalpel://runs/{run.RunId}/metrics", Name = $"metrics of run {run.RunId}", MimeType = "application/jsonl",
                    Description = $"training metrics of {run.RunDirectory} ({run.State})",
                };
            if (File.Exists(Path.Combine(run.RunDirectory, "report.html")))
                yield return new Resource
                {
                    Uri = $"scalpel://runs/{run.RunId}/report", Name = $"report of run {run.RunId}", MimeType = "text/html",
                    Description = $"HTML report of {run.RunDirectory} ({run.State})",
                };
        }
    }

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
