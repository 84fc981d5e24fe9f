using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// gemm-cpu: Scalpel's <see cref="Gemm"/> against torch.matmul (fp32 on OpenBLAS) on the shapes of LoRA training
/// a ~135M model on 2048 tokens, one thread and all cores, in the same run. The last line is the geometric
/// mean over the fp32 shapes of the all-core GFLOP/s ratio.
/// </summary>
public static class GemmBench
{
    /// <summary>A product C[m,n] = op(A)[m,k]·op(B)[k,n]; a transposed operand is stored the other way round.</summary>
    private sealed record Shape(string Name, bool TransA, bool TransB, int M, int N, int K, bool Bf16 = false)
    {
        public double Flops => 2.0 * M * N * K;
    }

    private const int Tokens = 2048, Hidden = 576, Mlp = 1536, Vocab = 49152, Rank = 16;

    private static readonly Shape[] Shapes =
    [
        new("attn proj   X·Wᵀ", false, true, Tokens, Hidden, Hidden),
        new("mlp up      X·Wᵀ", false, true, Tokens, Mlp, Hidden),
        new("mlp down dX dY·W", false, false, Tokens, Hidden, Mlp),
        new("mlp dW      dYᵀ·X", true, false, Mlp, Hidden, Tokens),
        new("lm head     X·Eᵀ", false, true, Tokens, Vocab, Hidden),
        new("lora A      X·Aᵀ", false, true, Tokens, Rank, Hidden),
        new("lora B      H·Bᵀ", false, true, Tokens, Hidden, Rank),
        new("lora dH     dY·B", false, false, Tokens, Rank, Hidden),
        new("lora dA     dHᵀ·X", true, false, Rank, Hidden, Tokens),
    ];

    // Scalpel only: the same products with BF16 weights, compared with OpenBLAS on the fp32 shape.
    private static readonly Shape[] Bf16Shapes =
    [
        new("mlp up      X·Wᵀ bf16", false, true, Tokens, Mlp, Hidden, Bf16: true),
        new("lm head     X·Eᵀ bf16", false, true, Tokens, Vocab, Hidden, Bf16: true),
    ];

    public static int Run(string[] args)
    {
        double minSeconds = 0.5;
        int minRepeats = 5;
        bool peer = true;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": minSeconds = 0.15; minRepeats = 3; break;
                case "--no-peer": peer = false; break;
                case "--only" when i + 1 < args.Length: only = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: Scalpel.Bench gemm-cpu [--quick] [--no-peer] [--only <name substring>]");
                    return 2;
            }
        }

        Shape[] shapes = Shapes.Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)).ToArray();
        Shape[] bf16 = Bf16Shapes.Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)).ToArray();
        int cores = Environment.ProcessorCount;
        int[] threadCounts = [1, 0];
        Console.WriteLine($"gemm-cpu: {cores} cores, kernel path {Gemm.BestPath}, median of ≥{minRepeats} runs and ≥{minSeconds}s per cell");

        var ours = new Dictionary<(string, int), double>();
        foreach (int threads in threadCounts)
            foreach (Shape s in shapes.Concat(bf16))
                ours[(s.Name, threads)] = Measure(s, threads, minSeconds, minRepeats);

        var theirs = peer ? RunPeer(shapes, threadCounts, minSeconds, minRepeats) : [];

        Console.WriteLine();
        Console.WriteLine($"{"shape",-24} {"m",6} {"n",6} {"k",6}  | {"1 thread GFLOP/s",-27} | {$"{cores} threads GFLOP/s",-27}");
        Console.WriteLine($"{"",-24} {"",6} {"",6} {"",6}  | {"scalpel",8} {"openblas",8} {"ratio",7}  | {"scalpel",8} {"openblas",8} {"ratio",7}");
        var ratios = new List<double>();
        foreach (Shape s in shapes.Concat(bf16))
        {
            string fp32Name = s.Bf16 ? s.Name[..^" bf16".Length] : s.Name;
            var line = $"{s.Name,-24} {s.M,6} {s.N,6} {s.K,6}  |";
            foreach (int threads in threadCounts)
            {
                double us = ours[(s.Name, threads)];
                double them = theirs.GetValueOrDefault((fp32Name, threads), double.NaN);
                line += $" {us,8:F1} {them,8:F1} {us / them,7:F2}  |";
                if (threads == 0 && !s.Bf16 && double.IsFinite(us / them)) ratios.Add(us / them);
            }
            Console.WriteLine(line.TrimEnd('|', ' '));
        }
        Console.WriteLine("(bf16 rows: Scalpel with BF16 B widened while packing, against OpenBLAS fp32 on the same shape; not in the mean)");
        if (!peer) return 0;
        double geomean = Math.Exp(ratios.Average(Math.Log));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gemm-cpu scalpel/openblas gflops={geomean:F2}"));
        return 0;
    }

    /// <summary>GFLOP/s of Scalpel's GEMM on one shape: warm-up, then the median of timed runs.</summary>
    private static double Measure(Shape s, int threads, double minSeconds, int minRepeats)
    {
        var rng = new Random(42);
        float[] a = Random(rng, (long)s.M * s.K);
        float[] bF32 = Random(rng, (long)s.K * s.N);
        ushort[] bBf16 = s.Bf16 ? bF32.Select(BFloat16Bits.FromSingle).ToArray() : [];
        if (s.Bf16) bF32 = [];
        float[] c = new float[(long)s.M * s.N];
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;

        void Once()
        {
            if (s.Bf16) Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, lda, bBf16, ldb, 0f, c, s.N, threads);
            else Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, lda, bF32, ldb, 0f, c, s.N, threads);
        }

        // Warm-up: lets tiered JIT reach its optimised code and the pack buffers grow to size.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < Math.Min(0.3, minSeconds); i++) Once();

        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while ((times.Count < minRepeats || total.Elapsed.TotalSeconds < minSeconds) && times.Count < 500)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        times.Sort();
        double gflops = s.Flops / times[times.Count / 2] / 1e9;
        Console.Error.WriteLine($"  scalpel {s.Name,-24} threads={threads} {gflops,8:F1} GFLOP/s ({times.Count} runs)");
        return gflops;
    }

    private static float[] Random(Random rng, long count)
    {
        var data = new float[count];
        for (long i = 0; i < count; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    /// <summary>Runs bench/peers/gemm_torch.py with Debian's python3 and reads one JSON line per cell.</summary>
    private static Dictionary<(string, int), double> RunPeer(Shape[] shapes, int[] threads, double minSeconds, int minRepeats)
    {
        string script = Path.Combine(RepoRoot(), "bench", "peers", "gemm_torch.py");
        string spec = JsonSerializer.Serialize(new
        {
            threads,
            shapes = shapes.Select(s => new { name = s.Name, transA = s.TransA, transB = s.TransB, m = s.M, n = s.N, k = s.K }),
            min_seconds = minSeconds,
            min_repeats = minRepeats,
        });
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(spec);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var results = new Dictionary<(string, int), double>();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            string name = root.GetProperty("name").GetString()!;
            int t = root.GetProperty("threads").GetInt32();
            double gflops = root.GetProperty("gflops").GetDouble();
            results[(name, t)] = gflops;
            Console.Error.WriteLine($"  openblas {name,-24} threads={t} {gflops,8:F1} GFLOP/s");
        }
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"peer {script} failed with exit code {process.ExitCode}");
        return results;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Scalpel.slnx"))) return d.FullName;
        throw new InvalidOperationException("could not find the repository root (Scalpel.slnx) above " + AppContext.BaseDirectory);
    }
}
