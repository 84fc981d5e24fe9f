using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// gemm-cpu: Scalpel's <see cref="Gemm"/> against torch.matmul (fp32 on OpenBLAS) on the shapes of LoRA training
/// a ~135M model (hidden 576, MLP 1536, vocabulary 49152, LoRA rank 16) on 2048 tokens, one thread and all
/// cores, in the same run. The last line is the geometric mean over the fp32 shapes of the all-core GFLOP/s ratio.
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
        var options = new Options();
        bool peer = true;
        string? only = null, openblasCore = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": options = new Options(MinSeconds: 0.1, MinRepeats: 2, Rounds: 1); break;
                case "--rounds" when i + 1 < args.Length: options = options with { Rounds = int.Parse(args[++i], CultureInfo.InvariantCulture) }; break;
                case "--no-peer": peer = false; break;
                case "--openblas-core" when i + 1 < args.Length: openblasCore = args[++i]; break;
                case "--path" when i + 1 < args.Length: options = options with { Path = Enum.Parse<GemmPath>(args[++i]) }; break;
                case "--blocking" when i + 1 < args.Length: // Kc,Mc,Nc: for tuning
                    int[] kmn = args[++i].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                    options = options with { Blocking = new GemmBlocking(kmn[0], kmn[1], kmn[2]) };
                    break;
                case "--only" when i + 1 < args.Length: only = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: Scalpel.Bench gemm-cpu [--quick] [--rounds N] [--no-peer] [--only <name substring>] [--openblas-core SkylakeX|Haswell|...] [--path Avx512|Avx512Narrow|Avx2|Scalar] [--blocking Kc,Mc,Nc]");
                    return 2;
            }
        }

        Shape[] shapes = Shapes.Concat(Bf16Shapes).Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)).ToArray();
        int cores = Environment.ProcessorCount;
        int[] threadCounts = [1, 0];
        Console.WriteLine($"gemm-cpu: {cores} cores, Scalpel kernel {Gemm.BestPath}; best of ≥{options.MinRepeats} runs " +
                          $"and ≥{options.MinSeconds}s per cell, {options.Rounds} interleaved rounds");

        using Peer? torch = peer ? Peer.Start(openblasCore) : null;
        if (torch is not null)
            Console.WriteLine($"peer: torch {torch.Version}, BLAS {torch.Blas}" + (openblasCore is null ? "" : $", OPENBLAS_CORETYPE={openblasCore}"));

        // Shape by shape, Scalpel then OpenBLAS, alternating for a few rounds and keeping the best of each: both
        // see the same background load (this machine may be shared), and the best run is the least disturbed.
        var ours = new Dictionary<(string, int), double>();
        var theirs = new Dictionary<(string, int), double>();
        foreach (Shape s in shapes)
        {
            var operands = new Operands(s);
            for (int round = 0; round < options.Rounds; round++)
            {
                foreach (int threads in threadCounts)
                {
                    Keep(ours, (s.Name, threads), Measure(s, operands, threads, options));
                    if (torch is not null && !s.Bf16) Keep(theirs, (s.Name, threads), torch.Measure(s, threads, options));
                    Console.Error.WriteLine($"  {s.Name,-24} threads={threads} round {round}: scalpel {ours[(s.Name, threads)],7:F1}" +
                        (theirs.TryGetValue((s.Name, threads), out double t) ? $"  openblas {t,7:F1}" : ""));
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"GFLOP/s",-24} {"m",6} {"n",6} {"k",6}  | {"1 thread",-26} | {$"{cores} threads",-26}");
        Console.WriteLine($"{"shape",-24} {"",6} {"",6} {"",6}  | {"scalpel",8} {"openblas",8} {"ratio",6}  | {"scalpel",8} {"openblas",8} {"ratio",6}");
        var ratios = new List<double>();
        foreach (Shape s in shapes)
        {
            string fp32Name = s.Bf16 ? s.Name[..^" bf16".Length] : s.Name;
            var line = $"{s.Name,-24} {s.M,6} {s.N,6} {s.K,6}  |";
            foreach (int threads in threadCounts)
            {
                double us = ours[(s.Name, threads)];
                double them = theirs.GetValueOrDefault((fp32Name, threads), double.NaN);
                line += $" {us,8:F1} {them,8:F1} {us / them,6:F2}  |";
                if (threads == 0 && !s.Bf16 && double.IsFinite(us / them)) ratios.Add(us / them);
            }
            Console.WriteLine(line.TrimEnd('|', ' '));
        }
        Console.WriteLine("bf16 rows: Scalpel with BF16 B (widened while packing) against OpenBLAS fp32 on the same shape; not in the mean.");
        if (torch is null || ratios.Count == 0) return 0;
        double geomean = Math.Exp(ratios.Average(Math.Log));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gemm-cpu scalpel/openblas gflops={geomean:F2}"));
        return 0;
    }

    /// <summary>Path and Blocking force a kernel and block sizes (for tuning); by default the bench measures Gemm.Multiply as is.</summary>
    private sealed record Options(double MinSeconds = 0.3, int MinRepeats = 3, int Rounds = 3, GemmPath Path = GemmPath.Auto,
        GemmBlocking? Blocking = null);

    private static void Keep(Dictionary<(string, int), double> best, (string, int) key, double gflops) =>
        best[key] = Math.Max(best.GetValueOrDefault(key), gflops);

    /// <summary>Operands of one shape, uniform in [-1, 1); a transposed operand is stored transposed.</summary>
    private sealed class Operands
    {
        public Operands(Shape s)
        {
            var rng = new Random(42);
            A = RandomFloats(rng, (long)s.M * s.K);
            float[] b = RandomFloats(rng, (long)s.K * s.N);
            if (s.Bf16) BBf16 = b.Select(BFloat16Bits.FromSingle).ToArray();
            else BF32 = b;
            C = new float[(long)s.M * s.N];
        }

        public float[] A { get; }
        public float[] BF32 { get; } = [];
        public ushort[] BBf16 { get; } = [];
        public float[] C { get; }
    }

    /// <summary>GFLOP/s of Scalpel's GEMM: warm-up, then the best of timed runs.</summary>
    private static double Measure(Shape s, Operands o, int threads, Options options)
    {
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;

        void Once()
        {
            if (options.Path != GemmPath.Auto || options.Blocking is not null)
                Forced(s, o, lda, ldb, threads, options.Path == GemmPath.Auto ? Gemm.ChoosePath(s.M, s.N) : options.Path,
                    options.Blocking ?? GemmBlocking.Default);
            else if (s.Bf16)
                Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1f, o.A, lda, o.BBf16, ldb, 0f, o.C, s.N, threads);
            else
                Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1f, o.A, lda, o.BF32, ldb, 0f, o.C, s.N, threads);
        }

        // Warm-up: tiered JIT reaches its optimised code, pack buffers and the thread pool grow to size.
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < Math.Min(0.3, options.MinSeconds); i++) Once();

        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int runs = 0; (runs < options.MinRepeats || total.Elapsed.TotalSeconds < options.MinSeconds) && runs < 500; runs++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return s.Flops / best / 1e9;
    }

    private static void Forced(Shape s, Operands o, int lda, int ldb, int threads, GemmPath path, GemmBlocking blocking)
    {
        if (s.Bf16)
            Gemm.Multiply<ushort, Bf16Element>(s.TransA, s.TransB, s.M, s.N, s.K, 1f, o.A, lda, o.BBf16, ldb, 0f, o.C, s.N,
                threads, path, blocking, Gemm.MinFlopsPerThread);
        else
            Gemm.Multiply<float, F32Element>(s.TransA, s.TransB, s.M, s.N, s.K, 1f, o.A, lda, o.BF32, ldb, 0f, o.C, s.N,
                threads, path, blocking, Gemm.MinFlopsPerThread);
    }

    private static float[] RandomFloats(Random rng, long count)
    {
        var data = new float[count];
        for (long i = 0; i < count; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    /// <summary>bench/peers/gemm_torch.py under Debian's python3, answering one timing request per line.</summary>
    private sealed class Peer : IDisposable
    {
        private readonly Process _process;

        private Peer(Process process, string version, string blas) => (_process, Version, Blas) = (process, version, blas);

        public string Version { get; }
        public string Blas { get; }

        /// <param name="openblasCore">OPENBLAS_CORETYPE for the peer: OpenBLAS picks its kernels from the CPU model and
        /// may not know a new one (0.3.21 takes Zen 5 for Haswell, AVX2 only); "SkylakeX" forces its AVX-512 kernels.</param>
        public static Peer Start(string? openblasCore)
        {
            string script = Path.Combine(RepoRoot(), "bench", "peers", "gemm_torch.py");
            var psi = new ProcessStartInfo("/usr/bin/python3")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(script);
            if (openblasCore is not null) psi.Environment["OPENBLAS_CORETYPE"] = openblasCore;
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            string hello = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"peer {script} exited at start");
            using var doc = JsonDocument.Parse(hello);
            return new Peer(process, doc.RootElement.GetProperty("torch").GetString() ?? "?",
                doc.RootElement.GetProperty("blas").GetString() ?? "none found (OpenBLAS thread count not set)");
        }

        public double Measure(Shape s, int threads, Options options)
        {
            _process.StandardInput.WriteLine(JsonSerializer.Serialize(new
            {
                transA = s.TransA, transB = s.TransB, m = s.M, n = s.N, k = s.K, threads,
                min_seconds = options.MinSeconds, min_repeats = options.MinRepeats,
            }));
            _process.StandardInput.Flush();
            string answer = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the torch peer exited");
            using var doc = JsonDocument.Parse(answer);
            return doc.RootElement.GetProperty("gflops").GetDouble();
        }

        public void Dispose()
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(10_000)) _process.Kill();
            _process.Dispose();
        }
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Scalpel.slnx"))) return d.FullName;
        throw new InvalidOperationException("could not find the repository root (Scalpel.slnx) above " + AppContext.BaseDirectory);
    }
}
