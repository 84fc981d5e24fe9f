using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// gemv-cpu: the decode products C[m, out] = X[m, in] · W[out, in]ᵀ of SmolLM2-135M (hidden 576, kv 192, MLP 1536,
/// vocabulary 49152) at m = 1 and 8 rows, F32 and BF16 weights: <see cref="Gemv"/> against the packed <see cref="Gemm"/>
/// it replaces, against the machine's memory read bandwidth, and (F32) against numpy's a @ w.T on OpenBLAS, in the
/// same run. Weights are cycled through copies totalling ≥ 128 MB, so they come from memory as when decoding a model
/// (--hot: one copy, cache-resident). The last line is the geometric mean of the gemv/gemm speedups.
/// </summary>
public static class GemvBench
{
    private sealed record Shape(string Name, int In, int Out);

    private static readonly Shape[] Shapes =
    [
        new("attn q/o", 576, 576),
        new("attn k/v", 576, 192),
        new("mlp up", 576, 1536),
        new("mlp down", 1536, 576),
        new("lm head", 576, 49152),
    ];

    private sealed record Options(double MinSeconds = 0.3, int MinRepeats = 3, int Rounds = 3, int Threads = 0, bool Hot = false);

    private const long ColdBytes = 128L << 20; // 4 × a 32 MB L3

    public static int Run(string[] args)
    {
        var options = new Options();
        bool peer = true;
        string? only = null, openblasCore = null;
        int[] rows = [1, 8];
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": options = options with { MinSeconds = 0.1, MinRepeats = 2, Rounds = 1 }; break;
                case "--rounds" when i + 1 < args.Length: options = options with { Rounds = Int(args[++i]) }; break;
                case "--threads" when i + 1 < args.Length: options = options with { Threads = Int(args[++i]) }; break;
                case "--hot": options = options with { Hot = true }; break;
                case "--rows" when i + 1 < args.Length: rows = args[++i].Split(',').Select(Int).ToArray(); break;
                case "--no-peer": peer = false; break;
                case "--openblas-core" when i + 1 < args.Length: openblasCore = args[++i]; break;
                case "--only" when i + 1 < args.Length: only = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: Scalpel.Bench gemv-cpu [--quick] [--rounds N] [--threads N] [--hot] [--rows 1,8] [--no-peer] [--only <name substring>] [--openblas-core SkylakeX|Haswell|...]");
                    return 2;
            }
        }

        int threads = options.Threads == 0 ? Environment.ProcessorCount : options.Threads;
        Console.WriteLine($"gemv-cpu: {Environment.ProcessorCount} cores, {threads} threads, kernel {Gemm.BestPath}; " +
                          (options.Hot ? "hot weights (one copy, cache-resident)" : $"weights cycled through copies of ≥ {ColdBytes >> 20} MB in all (from memory)") +
                          $"; fastest of ≥{options.MinRepeats} products and ≥{options.MinSeconds}s per cell, {options.Rounds} interleaved rounds");
        Console.WriteLine($"sustained memory read: {ReadBandwidth(threads):F1} GB/s (vector sum over 256 MB on {threads} threads)");

        using Peer? numpy = peer ? Peer.Start(threads, openblasCore) : null;
        if (numpy is not null)
            Console.WriteLine($"peer: numpy {numpy.Version}, BLAS {numpy.Blas}" + (openblasCore is null ? "" : $", OPENBLAS_CORETYPE={openblasCore}"));

        Console.WriteLine();
        Console.WriteLine($"{"shape",-24} {"m",3} {"dtype",5} | {"read µs",8} {"GB/s",6} | {"gemv µs",8} {"GB/s",6} {"of read",7} | {"gemm µs",8} {"GB/s",6} | {"speedup",7} | {"openblas µs",11} {"GB/s",6} {"gemv/openblas",13}");
        var speedups = new List<double>();
        var peerRatios = new List<double>();
        foreach (Shape s in Shapes.Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)))
        {
            foreach (bool bf16 in new[] { false, true })
            {
                using var w = new Weights(s, bf16, options.Hot);
                foreach (int m in rows)
                {
                    using var xBuffer = new NativeBuffer((long)m * s.In * 4);
                    using var cBuffer = new NativeBuffer((long)m * s.Out * 4);
                    RandomFloats(new Random(m), (long)m * s.In).CopyTo(xBuffer.AsSpan<float>());
                    double read = double.MaxValue, gemv = double.MaxValue, gemm = double.MaxValue, theirs = double.MaxValue;
                    for (int round = 0; round < options.Rounds; round++)
                    {
                        read = Math.Min(read, Measure(w, i => w.Read(i, threads), options));
                        gemv = Math.Min(gemv, Measure(w, i => w.Gemv(i, m, xBuffer.AsSpan<float>(), cBuffer.AsSpan<float>(), options.Threads), options));
                        gemm = Math.Min(gemm, Measure(w, i => w.Gemm(i, m, xBuffer.AsSpan<float>(), cBuffer.AsSpan<float>(), options.Threads), options));
                        if (numpy is not null && !bf16) theirs = Math.Min(theirs, numpy.Measure(m, s.Out, s.In, w.Copies, options));
                    }
                    double gb(double seconds) => w.Bytes / seconds / 1e9;
                    string name = $"{s.Name} {s.In}→{s.Out}";
                    string line = $"{name,-24} {m,3} {(bf16 ? "bf16" : "f32"),5} | {read * 1e6,8:F1} {gb(read),6:F1} | {gemv * 1e6,8:F1} {gb(gemv),6:F1} {read / gemv,7:P0} | " +
                                  $"{gemm * 1e6,8:F1} {gb(gemm),6:F1} | {gemm / gemv,7:F2} |";
                    speedups.Add(gemm / gemv);
                    if (theirs < double.MaxValue)
                    {
                        line += $" {theirs * 1e6,11:F1} {gb(theirs),6:F1} {theirs / gemv,13:F2}";
                        peerRatios.Add(theirs / gemv);
                    }
                    Console.WriteLine(line);
                }
            }
        }
        Console.WriteLine("GB/s: weight bytes per second (out·in·4 for f32, ·2 for bf16); read: summing the same weight copy, the bound for " +
                          "streaming it once; of read: read time / gemv time; " +
                          "speedup: gemm time / gemv time; gemv/openblas: numpy a @ w.T time (f32; sgemv at m = 1, sgemm above) / gemv time.");
        if (peerRatios.Count > 0)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gemv-cpu gemv/openblas speedup={GeoMean(peerRatios):F2} (f32 rows)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gemv-cpu gemv/gemm speedup={GeoMean(speedups):F2}"));
        return 0;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static double GeoMean(List<double> xs) => Math.Exp(xs.Average(Math.Log));

    /// <summary>
    /// Copies of one weight [out, in], enough of them to total ≥ 128 MB unless hot; products cycle through them. Like
    /// CpuTensor storage they are 64-byte aligned native memory (a 576-float row is then whole cache lines).
    /// </summary>
    private sealed class Weights : IDisposable
    {
        private readonly Shape _shape;
        private readonly bool _bf16;
        private readonly NativeBuffer[] _copies;

        public Weights(Shape s, bool bf16, bool hot)
        {
            (_shape, _bf16) = (s, bf16);
            Bytes = (long)s.Out * s.In * (bf16 ? 2 : 4);
            Copies = hot ? 1 : (int)Math.Max(1, (ColdBytes + Bytes - 1) / Bytes);
            var rng = new Random(42);
            _copies = new NativeBuffer[Copies];
            for (int i = 0; i < Copies; i++)
            {
                _copies[i] = new NativeBuffer(Bytes, zero: false);
                float[] values = RandomFloats(rng, (long)s.Out * s.In);
                if (bf16) BFloat16Bits.Narrow(values, _copies[i].AsSpan<ushort>());
                else values.CopyTo(_copies[i].AsSpan<float>());
            }
        }

        public long Bytes { get; }
        public int Copies { get; }

        /// <summary>Streams the next copy once (a vector sum of its bytes as floats), split over threads as Gemv splits it.</summary>
        public unsafe void Read(int call, int threads)
        {
            float* p = (float*)_copies[call % Copies].Pointer;
            long floats = Bytes / 4;
            int workers = (int)Math.Clamp(Bytes / Scalpel.Backends.Cpu.Kernels.Gemv.MinBytesPerThread, 1, threads);
            GemmParallel.Run(workers, t =>
            {
                long from = floats * t / workers, to = floats * (t + 1) / workers;
                Sink[t & 15] = Sum(p + from, to - from);
            });
        }

        public void Gemv(int call, int m, Span<float> x, Span<float> c, int threads)
        {
            NativeBuffer w = _copies[call % Copies];
            if (_bf16) Scalpel.Backends.Cpu.Kernels.Gemv.Multiply(m, _shape.Out, _shape.In, 1f, x, _shape.In, w.AsSpan<ushort>(), _shape.In, 0f, c, _shape.Out, threads);
            else Scalpel.Backends.Cpu.Kernels.Gemv.Multiply(m, _shape.Out, _shape.In, 1f, x, _shape.In, w.AsSpan<float>(), _shape.In, 0f, c, _shape.Out, threads);
        }

        public void Gemm(int call, int m, Span<float> x, Span<float> c, int threads)
        {
            NativeBuffer w = _copies[call % Copies];
            if (_bf16) Scalpel.Backends.Cpu.Kernels.Gemm.Multiply(false, true, m, _shape.Out, _shape.In, 1f, x, _shape.In, w.AsSpan<ushort>(), _shape.In, 0f, c, _shape.Out, threads);
            else Scalpel.Backends.Cpu.Kernels.Gemm.Multiply(false, true, m, _shape.Out, _shape.In, 1f, x, _shape.In, w.AsSpan<float>(), _shape.In, 0f, c, _shape.Out, threads);
        }

        public void Dispose()
        {
            foreach (NativeBuffer b in _copies) b.Dispose();
        }
    }

    /// <summary>
    /// Seconds per product: warm-up, then the fastest of the timed products (each on the next copy of the weight).
    /// The fastest rather than the mean because the machine may be shared: it is the least disturbed run.
    /// </summary>
    private static double Measure(Weights w, Action<int> product, Options options)
    {
        int call = 0;
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 2 * w.Copies || warm.Elapsed.TotalSeconds < Math.Min(0.2, options.MinSeconds); i++) product(call++);
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int runs = 0; (runs < Math.Max(options.MinRepeats, w.Copies) || total.Elapsed.TotalSeconds < options.MinSeconds) && runs < 5000; runs++)
        {
            long t0 = Stopwatch.GetTimestamp();
            product(call++);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return best;
    }

    /// <summary>GB/s of summing 256 MB of floats split over the threads: sustained memory read bandwidth.</summary>
    private static unsafe double ReadBandwidth(int threads)
    {
        const int Floats = 64 << 20;
        using var data = new NativeBuffer(Floats * 4L, zero: false);
        RandomFloats(new Random(1), Floats).CopyTo(data.AsSpan<float>());
        float* start = (float*)data.Pointer;
        double best = double.MaxValue;
        for (int run = 0; run < 8; run++)
        {
            long t0 = Stopwatch.GetTimestamp();
            GemmParallel.Run(threads, t =>
            {
                long from = (long)Floats * t / threads, to = (long)Floats * (t + 1) / threads;
                Sink[t & 15] = Sum(start + from, to - from);
            });
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return Floats * 4.0 / best / 1e9;
    }

    private static readonly float[] Sink = new float[16];

    /// <summary>Σ p[0..count) with eight independent vector sums, so the adds never wait on each other: a pure memory stream.</summary>
    private static unsafe float Sum(float* p, long count)
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        long i = 0;
        for (; i + 128 <= count; i += 128)
        {
            s0 += Vector512.Load(p + i); s1 += Vector512.Load(p + i + 16); s2 += Vector512.Load(p + i + 32); s3 += Vector512.Load(p + i + 48);
            s4 += Vector512.Load(p + i + 64); s5 += Vector512.Load(p + i + 80); s6 += Vector512.Load(p + i + 96); s7 += Vector512.Load(p + i + 112);
        }
        float sum = Vector512.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7);
        for (; i < count; i++) sum += p[i];
        return sum;
    }

    private static float[] RandomFloats(Random rng, long count)
    {
        var data = new float[count];
        for (long i = 0; i < count; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    /// <summary>bench/peers/gemv_numpy.py under Debian's python3, answering one timing request per line.</summary>
    private sealed class Peer : IDisposable
    {
        private readonly Process _process;

        private Peer(Process process, string version, string blas) => (_process, Version, Blas) = (process, version, blas);

        public string Version { get; }
        public string Blas { get; }

        public static Peer Start(int threads, string? openblasCore)
        {
            string script = Path.Combine(RepoRoot(), "bench", "peers", "gemv_numpy.py");
            var psi = new ProcessStartInfo("/usr/bin/python3")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add(script);
            psi.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
            if (openblasCore is not null) psi.Environment["OPENBLAS_CORETYPE"] = openblasCore;
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            string hello = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"peer {script} exited at start");
            using var doc = JsonDocument.Parse(hello);
            return new Peer(process, doc.RootElement.GetProperty("numpy").GetString() ?? "?",
                doc.RootElement.GetProperty("blas").GetString() ?? "none found");
        }

        public double Measure(int m, int n, int k, int copies, Options options)
        {
            _process.StandardInput.WriteLine(JsonSerializer.Serialize(new
            {
                m, n, k, copies, min_seconds = options.MinSeconds, min_repeats = options.MinRepeats,
            }));
            _process.StandardInput.Flush();
            string answer = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the numpy peer exited");
            using var doc = JsonDocument.Parse(answer);
            return doc.RootElement.GetProperty("seconds").GetDouble();
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
