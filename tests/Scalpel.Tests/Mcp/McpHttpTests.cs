using System.Diagnostics;
using System.Text.Json.Nodes;
using Scalpel.Server;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Mcp;

/// <summary>
/// MCP over Streamable HTTP at /mcp of an in-process <c>scalpel serve</c>, driven by the official MCP TypeScript SDK's
/// StreamableHTTPClientTransport (tests/oracles/js/mcp_http_client.mjs): refused with 401 without the API key or with a
/// wrong one; with it, the same tools as stdio, held to the --mcp-root folders, a run followed with progress
/// notifications, a compare job to its verdict, and a session that ends on DELETE while the server's runs outlive it.
/// </summary>
public sealed class McpHttpTests : IDisposable
{
    private const string Key = "mcp-test-key-0123";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scalpel-mcp-http-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task AnMcpClientOverHttpNeedsTheKeyAndGetsTheSameTools()
    {
        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        Assert.True(Directory.Exists(Path.Combine(scriptDir, "node_modules", "@modelcontextprotocol", "sdk")), "npm packages missing: run ./run-tests");
        string root = Path.Combine(_dir, "root");
        string work = Path.Combine(root, "work");
        Directory.CreateDirectory(work);
        PipelineCheck.WriteTinyModel(Path.Combine(work, "model"), seed: 1234);
        PipelineCheck.WriteData(Path.Combine(work, "train.jsonl"), 200, seed: 1);
        PipelineCheck.WriteData(Path.Combine(work, "val.jsonl"), 32, seed: 2);
        File.Copy(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "config.yaml"), Path.Combine(work, "config.yaml"));
        File.Copy(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "suite.yaml"), Path.Combine(work, "suite.yaml"));
        // Inside the server's data folder but outside --mcp-root: the data folder is the root only when none is given.
        string dataDir = Path.Combine(_dir, "data");
        Directory.CreateDirectory(dataDir);
        string outside = Path.Combine(dataDir, "outside.jsonl");
        File.Copy(Path.Combine(work, "val.jsonl"), outside);

        await using var server = ScalpelServer.Create(new ServerOptions
        {
            ModelDirectory = Path.Combine(work, "model"), Port = 0, DataDirectory = dataDir, ApiKeys = [Key],
            McpRoots = [root], McpHome = Path.Combine(_dir, "home"),
        }, ServerFeatures.All());
        await server.StartAsync();

        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = scriptDir };
        psi.ArgumentList.Add(Path.Combine(scriptDir, "mcp_http_client.mjs"));
        psi.ArgumentList.Add(new Uri(server.Address!, "mcp").ToString());
        psi.ArgumentList.Add(Key);
        psi.ArgumentList.Add(work);
        psi.ArgumentList.Add(outside);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150)))
        {
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
        }
        Assert.True(process.ExitCode == 0, $"mcp_http_client.mjs failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        var r = JsonNode.Parse(await stdout)!;

        // No key, a wrong key: 401 with a Bearer challenge; the SDK does not get a session.
        Assert.Equal(401, (int)r["rawNoKey"]!["status"]!);
        Assert.Equal("Bearer", (string?)r["rawNoKey"]!["challenge"]);
        foreach (var name in new[] { "noKey", "wrongKey" })
        {
            Assert.False((bool)r[name]!["connected"]!, name);
            Assert.True((int?)r[name]!["code"] == 401, r[name]!.ToJsonString());
            Assert.Contains("Incorrect API key", (string?)r[name]!["message"]);
        }

        Assert.False(string.IsNullOrEmpty((string?)r["sessionId"]));
        foreach (var tool in new[] { "inspect_model", "check_dataset", "start_training", "wait_for_run", "compare", "job_status", "export" })
            Assert.Contains(tool, r["tools"]!.AsArray().Select(t => (string?)t));
        Assert.Equal(2, (int)r["inspect"]!["structured"]!["layers"]!);
        Assert.Equal(200, (long)r["check"]!["structured"]!["examples"]!);
        Assert.Equal(200, (long)JsonNode.Parse((string)r["checkReport"]!)!["examples"]!);
        Assert.True((bool)r["outside"]!["isError"]!);
        Assert.Equal($"file: {outside} is outside the allowed roots ({root})", (string?)r["outside"]!["text"]);
        Assert.Equal($"{work}/no-such.jsonl: no such file", (string?)r["missing"]!["text"]);

        Assert.False((bool)r["start"]!["isError"]!, (string?)r["start"]!["text"]);
        Assert.True((string?)r["final"]!["state"] is "completed" or "stopped", r["final"]!.ToJsonString());
        Assert.Equal(20, (int)r["final"]!["step"]!);
        Assert.NotEmpty(r["progress"]!.AsArray());
        Assert.Equal(20, (double)r["progress"]!.AsArray()[^1]!["total"]!);

        Assert.Equal("completed", (string?)r["compare"]!["state"]);
        Assert.True(File.Exists((string)r["compare"]!["result"]!["report_path"]!));
        Assert.NotEmpty(r["compareProgress"]!.AsArray());

        // DELETE ended the session; a new one is another session over the same server, which still knows the run.
        Assert.Equal(404, (int)r["staleStatus"]!);
        Assert.NotEqual((string?)r["sessionId"], (string?)r["secondSessionId"]);
        Assert.Equal((string?)r["final"]!["run_id"], (string?)r["statusFromSecondSession"]!["run_id"]);
    }

    [Fact]
    public async Task WithoutMcpRootsTheDataFolderIsTheRoot()
    {
        string data = Path.Combine(_dir, "data-root");
        await using var sessions = new Scalpel.Server.Mcp.McpHttpSessions(new ServerOptions { ModelDirectory = _dir, DataDirectory = data });
        Assert.Equal([data], sessions.Roots);
        Assert.True(Directory.Exists(data));
    }
}
