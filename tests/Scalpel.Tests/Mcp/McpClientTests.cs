using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Scalpel.Tests.Oracles;
using Scalpel.Training;
using Xunit;

namespace Scalpel.Tests.Mcp;

/// <summary>
/// `scalpel mcp` in its own process, driven by the official MCP TypeScript SDK (tests/oracles/js/mcp_client.mjs) over
/// stdio: tools are listed with documented inputs, inspect/check/stats answer structured content on a tiny model and
/// data, a keyword-task run starts at once and is followed to completion with progress notifications, and paths
/// outside the roots (directly or through .. and a symlink) are tool errors. A missing node or package is a failure.
/// </summary>
[Collection("console")]   // CliRunner swaps Console.Out to compare the CLI's messages
public sealed class McpClientTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scalpel-mcp-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task AnMcpClientInspectsChecksTrainsAndIsKeptInsideTheRoots()
    {
        string scriptDir = Path.Combine(RepoPaths.Root, "tests", "oracles", "js");
        string package = Path.Combine(scriptDir, "node_modules", "@modelcontextprotocol", "sdk");
        Assert.True(Directory.Exists(package), $"{package} is missing: run ./run-tests (it runs npm install in tests/oracles/js)");

        string work = Path.Combine(_dir, "root", "work");
        Directory.CreateDirectory(work);
        PipelineCheck.WriteTinyModel(Path.Combine(work, "model"), seed: 1234);
        PipelineCheck.WriteData(Path.Combine(work, "train.jsonl"), 400, seed: 1);
        PipelineCheck.WriteData(Path.Combine(work, "val.jsonl"), 64, seed: 2);
        File.Copy(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "config.yaml"), Path.Combine(work, "config.yaml"));
        File.Copy(Path.Combine(RepoPaths.Root, "examples", "keyword-task", "suite.yaml"), Path.Combine(work, "suite.yaml"));
        // Long enough to cancel in flight: every training example, answered by several tasks.
        File.WriteAllText(Path.Combine(work, "long-suite.yaml"), "name: long\ntasks:\n" + string.Concat(Enumerable.Range(0, 8).Select(i =>
            $"  - name: t{i}\n    data: train.jsonl\n    generation: {{max_tokens: 4, temperature: 0}}\n    metrics: [exact_match]\n")));
        string outside = Path.Combine(_dir, "outside.jsonl");
        File.Copy(Path.Combine(work, "val.jsonl"), outside);
        // A link inside the root that points out of it must not let a tool through.
        File.CreateSymbolicLink(Path.Combine(work, "sneaky.jsonl"), outside);
        Directory.CreateSymbolicLink(Path.Combine(work, "escape"), _dir);

        string cli = typeof(Scalpel.Cli.Program).Assembly.Location;
        string[] serverArgs = [cli, "mcp", "--root", Path.Combine(_dir, "root"), "--home", Path.Combine(_dir, "home")];
        var psi = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = scriptDir,
        };
        psi.ArgumentList.Add(Path.Combine(scriptDir, "mcp_client.mjs"));
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add(JsonSerializer.Serialize(serverArgs));
        psi.ArgumentList.Add(work);
        psi.ArgumentList.Add(Path.Combine(work, "sneaky.jsonl"));
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150)))
        {
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
        }
        Assert.True(process.ExitCode == 0, $"mcp_client.mjs failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        var r = JsonNode.Parse(await stdout)!;

        var tools = r["tools"]!.AsArray().Select(t => (string)t!["name"]!).ToHashSet();
        foreach (var name in new[] { "inspect_model", "check_dataset", "dataset_stats", "split_dataset", "convert_dataset", "create_config",
                     "start_training", "run_status", "wait_for_run", "cancel_run", "list_runs", "evaluate", "compare", "export",
                     "job_status", "wait_for_job", "cancel_job" })
            Assert.Contains(name, tools);
        var inspectTool = r["tools"]!.AsArray().First(t => (string)t!["name"]! == "inspect_model")!;
        Assert.False(string.IsNullOrWhiteSpace((string?)inspectTool["description"]));
        Assert.Equal("string", (string?)inspectTool["input"]!["properties"]!["model_dir"]!["type"]);
        foreach (var tool in r["tools"]!.AsArray())   // progress and cancellation come from the protocol, not from the agent
            Assert.True(tool!["input"]!["properties"] is not JsonObject p || !p.Any(kv => kv.Key is "progress" or "cancellationToken"), tool.ToJsonString());
        var compareTool = r["tools"]!.AsArray().First(t => (string)t!["name"]! == "compare")!;
        Assert.Equal(["model_dir", "out_dir", "suite"], compareTool["input"]!["required"]!.AsArray().Select(n => (string)n!).Order());

        var inspect = r["inspect"]!;
        Assert.False((bool)inspect["isError"]!, (string?)inspect["text"]);
        Assert.Equal(2, (int)inspect["structured"]!["layers"]!);
        Assert.Equal(64, (int)inspect["structured"]!["hidden_size"]!);
        Assert.True((long)inspect["structured"]!["parameters"]! > 0);

        var check = r["check"]!;
        Assert.False((bool)check["isError"]!, (string?)check["text"]);
        Assert.Equal(400, (long)check["structured"]!["examples"]!);
        Assert.False((bool)check["structured"]!["has_errors"]!);
        Assert.Equal(400, (long)r["stats"]!["structured"]!["examples"]!);

        // Outside the roots: through a symlink, and through .. ; a missing file: the CLI's own message.
        Assert.True((bool)r["outside"]!["isError"]!);
        Assert.Contains("outside the allowed roots", (string?)r["outside"]!["text"]);
        Assert.True((bool)r["dotdot"]!["isError"]!);
        Assert.Contains("outside the allowed roots", (string?)r["dotdot"]!["text"]);
        Assert.True((bool)r["missing"]!["isError"]!);
        Assert.Equal($"{work}/no-such.jsonl: no such file", (string?)r["missing"]!["text"]);   // the CLI's line after "scalpel: "

        // estimate_training: the plan scalpel train --dry-run --json prints, from the same library call.
        var estimate = r["estimate"]!;
        Assert.False((bool)estimate["isError"]!, (string?)estimate["text"]);
        Assert.True((bool)estimate["structured"]!["fits"]!);
        Assert.True((long)estimate["structured"]!["peak_bytes"]! > 0);
        Assert.Equal(60, (int)estimate["structured"]!["time"]!["steps"]!);
        Assert.Contains("peak", (string?)estimate["structured"]!["summary"]);
        var tight = r["estimateTight"]!["structured"]!;
        Assert.False((bool)tight["fits"]!);
        Assert.NotEmpty(tight["advice"]!.AsArray());
        var cliPlan = Scalpel.Tests.Cli.CliRunner.Run("train", Path.Combine(work, "config.yaml"), "--dry-run", "--json", "--memory-limit", "1M");
        Assert.Equal(3, cliPlan.Code);
        var cliJson = JsonNode.Parse(cliPlan.Out)!;
        foreach (var key in new[] { "items", "peak_bytes", "load_peak_bytes", "available_bytes", "fits", "advice" })
            Assert.True(JsonNode.DeepEquals(cliJson[key], tight[key]), $"{key}: CLI {cliJson[key]?.ToJsonString()} vs MCP {tight[key]?.ToJsonString()}");
        Assert.Equal(cliJson["time"]!["steps"]!.GetValue<int>(), (int)tight["time"]!["steps"]!);
        Assert.True((bool)r["estimateBadLimit"]!["isError"]!);
        Assert.Equal("memory_limit: 'lots' is not a size (e.g. 8G, 512M, 1073741824)", (string?)r["estimateBadLimit"]!["text"]);

        // start_training answers before the run ends; the run is followed to its end.
        Assert.False((bool)r["start"]!["isError"]!, (string?)r["start"]!["text"]);
        Assert.True((double)r["startMs"]! < 5000, $"start_training took {r["startMs"]} ms");
        Assert.Equal("running", (string?)r["firstStatus"]!["structured"]!["state"]);
        var final = r["final"]!["structured"]!;
        Assert.True((string?)final["state"] is "completed" or "stopped", final.ToJsonString());
        Assert.True((double?)final["val_loss"] is > 0, final.ToJsonString());
        Assert.True((double?)final["loss"] is > 0, final.ToJsonString());
        Assert.Equal(60, (int)final["step"]!);
        Assert.True(Directory.Exists((string)final["output_path"]!), final.ToJsonString());
        var progress = r["progress"]!.AsArray();
        Assert.NotEmpty(progress);
        Assert.Equal(60, (double)progress[^1]!["total"]!);
        Assert.Contains(r["list"]!["structured"]!["registered"]!.AsArray(), run => (string?)run!["status"] is "completed" or "stopped");

        // The run's metrics and report as resources.
        Assert.Contains("scalpel://runs/{run_id}/metrics", r["resourceTemplates"]!.AsArray().Select(t => (string?)t));
        var metricLines = ((string)r["metrics"]!).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(metricLines, l => JsonNode.Parse(l)!["val_loss"] is not null);
        Assert.Equal("text/html", (string?)r["report"]![0]!["mime"]);
        // The data check report as a resource: listed, and read back as the same report the tool answered with.
        Assert.Contains("scalpel://data-checks/{check_id}", r["resourceTemplates"]!.AsArray().Select(t => (string?)t));
        string checkUri = (string)check["structured"]!["resource_uri"]!;
        Assert.Equal($"scalpel://data-checks/{(string)check["structured"]!["check_id"]!}", checkUri);
        var listed = r["resources"]!.AsArray();
        Assert.Contains(listed, x => (string?)x!["uri"] == checkUri && (string?)x["mime"] == "application/json");
        Assert.Contains(listed, x => (string?)x!["uri"] == $"scalpel://runs/{(string)final["run_id"]!}/report");
        var checkReport = JsonNode.Parse((string)r["checkReport"]![0]!["text"]!)!;
        Assert.Equal(400, (long)checkReport["examples"]!);
        Assert.Equal((string?)check["structured"]!["file"], (string?)checkReport["file"]);
        Assert.Contains("data check nosuchcheck: no such report", (string?)r["checkMissing"]);
        Assert.True((int)r["report"]![0]!["length"]! > 100);

        // The rest of the tools, once each.
        var split = r["split"]!;
        Assert.False((bool)split["isError"]!, (string?)split["text"]);
        Assert.Equal(2, split["structured"]!["outputs"]!.AsArray().Count);
        Assert.All(split["structured"]!["outputs"]!.AsArray(), o => Assert.True(File.Exists((string)o!["path"]!)));
        Assert.False((bool)r["convert"]!["isError"]!, (string?)r["convert"]!["text"]);
        Assert.Equal(64, (long)r["convert"]!["structured"]!["written"]!);
        Assert.False((bool)r["init"]!["isError"]!, (string?)r["init"]!["text"]);
        Assert.True(File.Exists(Path.Combine(work, "init.yaml")));
        Assert.NotEmpty(r["init"]!["structured"]!["reasons"]!.AsArray());
        Assert.True((bool)r["initAgain"]!["isError"]!);
        Assert.Equal($"{work}/init.yaml already exists; pass force to overwrite it", (string?)r["initAgain"]!["text"]);
        // Evaluate, compare and export start jobs and answer at once; the jobs are followed to their results.
        foreach (var key in new[] { "compareStart", "evaluateStart", "exportStart", "ggufStart", "longEvalStart" })
        {
            Assert.False((bool)r[key]!["isError"]!, $"{key}: {r[key]!["text"]}");
            Assert.False(string.IsNullOrEmpty((string?)r[key]!["structured"]!["job_id"]), key);
        }
        Assert.True((double)r["compareStartMs"]! < 2000, $"compare took {r["compareStartMs"]} ms to answer");
        var compare = r["compare"]!;
        Assert.Equal("completed", (string?)compare["state"]);
        Assert.Equal("compare", (string?)compare["kind"]);
        Assert.False(string.IsNullOrEmpty((string?)compare["result"]!["winner"]));
        Assert.NotNull(compare["result"]!["fine_tuning_worth_it"]);
        Assert.True(File.Exists((string)compare["result"]!["report_path"]!));
        Assert.NotEmpty(r["compareProgress"]!.AsArray());   // the library's progress lines, as notifications
        Assert.Contains(r["compareProgress"]!.AsArray(), p => ((string?)p!["message"])?.Contains("answered") == true);
        var evaluate = r["evaluate"]!;
        Assert.Equal("completed", (string?)evaluate["state"]);
        Assert.True(File.Exists((string)evaluate["result"]!["results_path"]!));
        Assert.Equal("completed", (string?)r["export"]!["state"]);
        Assert.True(File.Exists(Path.Combine(work, "merged", "config.json")));

        // The GGUF export, read by @huggingface/gguf and by Scalpel's reader: llama, both layers, every weight of the
        // merged folder (adapter folded in) as the same F32 values (token_embd and ffn_down need no row permutation).
        var gguf = r["gguf"]!;
        Assert.Equal("completed", (string?)gguf["state"]);
        Assert.Equal(Path.Combine(work, "model.gguf"), (string?)gguf["result"]!["output"]);
        var parsed = r["ggufParsed"]!;
        Assert.Null(parsed["error"]);
        Assert.Equal("llama", (string?)parsed["architecture"]);
        Assert.Equal(2, (int)parsed["blockCount"]!);
        Assert.Contains(parsed["tensors"]!.AsArray(), t => (string?)t!["name"] == "blk.1.ffn_down.weight");
        var ggufFile = Scalpel.IO.Gguf.GgufReader.Open(Path.Combine(work, "model.gguf"));
        using (var merged = Scalpel.IO.CheckpointReader.Open(Path.Combine(work, "merged")))
        {
            Assert.Equal(merged.TensorNames.Count(), parsed["tensors"]!.AsArray().Count);
            foreach (var (hf, gg) in new[] { ("model.embed_tokens.weight", "token_embd.weight"), ("model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight") })
            {
                var expected = new float[merged.Info(hf).ElementCount];
                merged.ReadAsF32(hf, expected);
                Assert.Equal(expected, ggufFile.ReadF32(gg));
            }
        }

        // gguf-adapter with a Modelfile: a LoRA GGUF as @huggingface/gguf reads it, and FROM the base, ADAPTER the adapter.
        Assert.Equal("completed", (string?)r["baseGguf"]!["state"]);
        var adapterJob = r["ggufAdapter"]!;
        Assert.Equal("completed", (string?)adapterJob["state"]);
        var adapterParsed = r["ggufAdapterParsed"]!;
        Assert.Null(adapterParsed["error"]);
        Assert.Equal("adapter", (string?)adapterParsed["type"]);
        Assert.Equal("lora", (string?)adapterParsed["adapterType"]);
        Assert.Contains(adapterParsed["tensors"]!.AsArray(), t => ((string?)t)!.EndsWith(".lora_a", StringComparison.Ordinal));
        string modelfile = File.ReadAllText((string?)adapterJob["result"]!["modelfile_path"] ?? throw new Xunit.Sdk.XunitException("no modelfile_path"));
        Assert.Contains("FROM ./base.gguf\n", modelfile);          // relative to the Modelfile, which sits beside both
        Assert.Contains("ADAPTER ./adapter.gguf\n", modelfile);

        // Bad input is refused before a job starts, with the CLI's message.
        Assert.True((bool)r["exportBadType"]!["isError"]!);
        Assert.Equal("type: 'q2_k' is not a GGUF type: f32, f16, bf16, q8_0 or q4_0", (string?)r["exportBadType"]!["text"]);
        var cliBadType = Scalpel.Tests.Cli.CliRunner.Run("export", "gguf", "--model", Path.Combine(work, "model"), "--out", Path.Combine(work, "bad.gguf"), "--type", "q2_k");
        Assert.Equal($"scalpel: {(string?)r["exportBadType"]!["text"]}", cliBadType.Err.Split('\n')[0]);
        Assert.True((bool)r["exportBadKind"]!["isError"]!);
        Assert.Equal("kind must be merged, gguf or gguf-adapter, not 'onnx'", (string?)r["exportBadKind"]!["text"]);
        Assert.True((bool)r["exportOutside"]!["isError"]!);
        Assert.Contains("outside the allowed roots", (string?)r["exportOutside"]!["text"]);
        Assert.False(Directory.Exists(Path.Combine(_dir, "merged")));
        Assert.True((bool)r["compareMissingAdapter"]!["isError"]!);
        Assert.Equal($"{work}/no-such-adapter: no such adapter folder", (string?)r["compareMissingAdapter"]!["text"]);
        Assert.True((bool)r["jobStatusUnknown"]!["isError"]!);

        // A long evaluation, cancelled: it ends cancelled, with no result and no results.json.
        Assert.Equal("running", (string?)r["longEvalStatus"]!["state"]);
        Assert.Equal("cancelled", (string?)r["cancelledJob"]!["state"]);
        Assert.Null(r["cancelledJob"]!["result"]);
        Assert.False(File.Exists(Path.Combine(work, "eval-long", "results.json")));
        var jobs = r["listAfterJobs"]!["structured"]!["jobs"]!.AsArray();
        Assert.Equal(["compare", "evaluate", "evaluate", "export", "export", "export", "export"], jobs.Select(j => (string)j!["kind"]!).Order());
        Assert.False((bool)r["longStart"]!["isError"]!, (string?)r["longStart"]!["text"]);
        Assert.Equal("running", (string?)r["duringWait"]!["structured"]!["state"]);
        Assert.True((double)r["duringWaitMs"]! < 2000, $"run_status waited {r["duringWaitMs"]} ms behind wait_for_run");
        Assert.Equal("running", (string?)r["waited"]!["state"]);   // wait_for_run gave up at its timeout, the run goes on
        Assert.Equal("interrupted", (string?)r["cancelled"]!["state"]);
        using (var registry = Scalpel.Training.Runs.RunRegistry.Open(Scalpel.Training.Runs.RunRegistry.DefaultPath(Path.Combine(_dir, "home"))))
        {
            var orphan = registry.List().SingleOrDefault(run => run.RunDirectory == (string)r["orphan"]!["run_directory"]!);
            Assert.NotNull(orphan);
            // Left training when the client closed: stopped with a checkpoint (resumable), not abandoned as "running".
            Assert.Equal(Scalpel.Training.Runs.RunStatus.Interrupted, orphan.Status);
        }
        // Its checkpoint interval is out of reach, so a checkpoint exists only if the server stopped it on the way out.
        string orphanCheckpoints = Path.Combine(work, "runs", "orphan", "checkpoints");
        Assert.True(Directory.Exists(orphanCheckpoints) && Directory.EnumerateFileSystemEntries(orphanCheckpoints).Any(),
            "a run left training when the client closed should have stopped with a checkpoint");
    }
}
