using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scalpel.Tests.Oracles;

/// <summary>A tensor crossing the boundary to an oracle script: F32 or I32 data with a shape.</summary>
public sealed class OracleTensor
{
    public OracleTensor(float[] data, params int[] shape) { F32 = data; Shape = shape; Check(data.Length); }
    public OracleTensor(int[] data, params int[] shape) { I32 = data; Shape = shape; Check(data.Length); }

    public int[] Shape { get; }
    public float[]? F32 { get; }
    public int[]? I32 { get; }
    public float[] Floats => F32 ?? throw new InvalidOperationException("tensor is not F32");

    private void Check(int length)
    {
        long n = 1;
        foreach (int d in Shape) n *= d;
        if (n != length) throw new ArgumentException($"shape [{string.Join(',', Shape)}] needs {n} elements, got {length}");
    }
}

/// <summary>
/// Runs a PyTorch oracle script from tests/oracles with Debian's python3 (where python3-torch lives).
/// Tensors travel as raw little-endian files plus a manifest.json; see tests/oracles/oracle_io.py.
/// A missing torch is a test failure, never a skip: the README's test command installs it.
/// </summary>
public static class TorchOracle
{
    public const string Python = "/usr/bin/python3";

    public static Dictionary<string, OracleTensor> Run(string script, IReadOnlyDictionary<string, OracleTensor> inputs,
        object? args = null, int timeoutSeconds = 300)
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalpel-oracle-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var manifest = new JsonObject();
            foreach (var (name, t) in inputs)
            {
                string file = name + ".bin";
                byte[] bytes = t.F32 is not null
                    ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.F32.AsSpan()).ToArray()
                    : System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.I32!.AsSpan()).ToArray();
                File.WriteAllBytes(Path.Combine(dir, file), bytes);
                manifest[name] = new JsonObject
                {
                    ["file"] = file,
                    ["dtype"] = t.F32 is not null ? "f32" : "i32",
                    ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                };
            }
            File.WriteAllText(Path.Combine(dir, "inputs.json"), manifest.ToJsonString());
            File.WriteAllText(Path.Combine(dir, "args.json"), JsonSerializer.Serialize(args ?? new { }));

            string scriptPath = Path.Combine(RepoPaths.Root, "tests", "oracles", script);
            var psi = new ProcessStartInfo(Python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(scriptPath);
            psi.ArgumentList.Add(dir);
            psi.Environment["PYTHONPATH"] = Path.Combine(RepoPaths.Root, "tests", "oracles");
            psi.Environment["OMP_NUM_THREADS"] = "2";
            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Python}");
            var stderr = new StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
            process.BeginErrorReadLine();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(timeoutSeconds * 1000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"oracle {script} ran over {timeoutSeconds}s");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"oracle {script} failed (exit {process.ExitCode}):\n{stdout}\n{stderr}");

            var outputs = new Dictionary<string, OracleTensor>();
            var outManifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "outputs.json")))!.AsObject();
            foreach (var (name, node) in outManifest)
            {
                int[] shape = node!["shape"]!.AsArray().Select(x => (int)x!).ToArray();
                byte[] bytes = File.ReadAllBytes(Path.Combine(dir, (string)node["file"]!));
                outputs[name] = (string)node["dtype"]! == "i32"
                    ? new OracleTensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes).ToArray(), shape)
                    : new OracleTensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray(), shape);
            }
            return outputs;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

public static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Scalpel.slnx"))) return d.FullName;
        throw new InvalidOperationException("could not find the repository root (Scalpel.slnx) above " + AppContext.BaseDirectory);
    });

    public static string Root => RootLazy.Value;

    /// <summary>../shared/fixtures beside the checkout.</summary>
    public static string Fixtures => Path.GetFullPath(Path.Combine(Root, "..", "shared", "fixtures"));
}
