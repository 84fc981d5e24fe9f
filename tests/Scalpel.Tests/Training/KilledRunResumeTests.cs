using System.Diagnostics;
using Scalpel.IO;
using Scalpel.Training.Recipes;
using Scalpel.Training.Runs;
using Xunit;

namespace Scalpel.Tests.Training;

/// <summary>A training process killed outright (no chance to clean up) resumes from its last checkpoint to the same weights.</summary>
public class KilledRunResumeTests
{
    [Fact]
    public void KilledProcessResumesToIdenticalWeights()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string[] settings = ["data.validation=", "training.max_steps=60", "checkpoints.interval=5", "lora.dropout=0.1"];
        var straight = FineTuneRecipe.Run(ws.Config("straight", settings), resume: false, ws.Registry);

        string configPath = Path.Combine(ws.Root, "killed.yaml");
        File.WriteAllText(configPath, ws.Config("killed", settings).ToYaml());
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "Scalpel.Cli.dll"), "train", configPath, "--home", ws.Root })
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var store = new CheckpointStore(Path.Combine(ws.Root, "killed"), 3);
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (store.Latest is not { Step: >= 10 } && !process.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.False(process.HasExited, "the run finished before it could be killed");
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        int killedAt = store.Latest!.Value.Step;
        Assert.InRange(killedAt, 10, 55);

        var resumed = FineTuneRecipe.Run(ws.Config("killed", settings), resume: true, ws.Registry);
        Assert.Equal(RunStatus.Completed, resumed.Status);
        Assert.Equal(60, resumed.Steps);
        using var a = SafeTensorsFile.Open(Path.Combine(straight.OutputPath, "adapter_model.safetensors"));
        using var b = SafeTensorsFile.Open(Path.Combine(resumed.OutputPath, "adapter_model.safetensors"));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        foreach (var name in a.Tensors.Keys)
        {
            var x = new float[a.Tensors[name].ElementCount];
            var y = new float[x.Length];
            a.ReadAsF32(name, x);
            b.ReadAsF32(name, y);
            Assert.Equal(x, y);
        }
    }

    /// <summary>SIGTERM (or Ctrl-C) finishes the step, writes a checkpoint and exits 130; resuming completes the run.</summary>
    [Fact]
    public void SigtermCheckpointsAndExitsCleanly()
    {
        using var ws = new FineTuneRecipeTests.Workspace();
        string[] settings = ["data.validation=", "training.max_steps=400", "checkpoints.interval=1000"];
        string configPath = Path.Combine(ws.Root, "term.yaml");
        File.WriteAllText(configPath, ws.Config("term", settings).ToYaml());
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "Scalpel.Cli.dll"), "train", configPath, "--home", ws.Root })
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string metrics = Path.Combine(ws.Root, "term", "metrics.jsonl");
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while ((!File.Exists(metrics) || File.ReadLines(metrics).Count() < 5) && !process.HasExited && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.False(process.HasExited, "the run finished before the signal");
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.True(process.WaitForExit(60_000));
        process.WaitForExit();
        Assert.Equal(130, process.ExitCode);
        lock (output) Assert.Contains("resume with", output.ToString());
        var latest = new CheckpointStore(Path.Combine(ws.Root, "term"), 3).Latest;
        Assert.NotNull(latest);
        Assert.InRange(latest!.Value.Step, 5, 399);

        var resumed = FineTuneRecipe.Run(ws.Config("term", settings), resume: true, ws.Registry);
        Assert.Equal(RunStatus.Completed, resumed.Status);
        Assert.Equal(400, resumed.Steps);
    }
}
