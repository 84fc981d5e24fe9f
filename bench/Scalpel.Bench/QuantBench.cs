using System.Diagnostics;
using Scalpel.Backends.Cpu.Kernels;
using Scalpel.Tensors;

namespace Scalpel.Bench;

/// <summary>
/// quant-cpu: products with NF4 and Q8_0 weights against the same products with BF16 weights, one thread, on the
/// shapes of LoRA training a ~135M model on 2048 tokens (GEMM, dequantizing while packing) and of decoding 4
/// sequences (GEMV, dequantizing four weight rows at a time). Best of 7 after a warm-up. No peer: the question
/// is what quantized storage costs against our own BF16 path. Last line: the geometric mean of BF16 time / NF4 time.
/// </summary>
public static class QuantBench
{
    public static unsafe int Run(string[] args)
    {
        var rng = new Random(1);
        double logSum = 0;
        int count = 0;
        foreach (var (name, transB, m, n, k) in new[]
        {
            ("mlp up      X·Wᵀ", true, 2048, 1536, 576), ("mlp down dX dY·W", false, 2048, 576, 1536), ("decode 4    X·Wᵀ", true, 4, 1536, 576),
        })
        {
            var a = Random(rng, m * k, 1f);
            var w = Random(rng, n * k, 0.05f);
            var bf16 = w.Select(BFloat16Bits.FromSingle).ToArray();
            var nf4 = new byte[Nf4.StorageBytes(w.Length)];
            Nf4.Quantize(w, nf4);
            var q8 = new byte[Q8_0.StorageBytes(w.Length)];
            Q8_0.Quantize(w, q8);
            var c = new float[m * n];
            int rows = transB ? n : k, cols = transB ? k : n;
            bool gemv = transB && m <= Gemv.MaxRows; // as CpuBackend.MatMul routes them

            double tb = Time(() =>
            {
                if (gemv) Gemv.Multiply(m, n, k, 1f, a, k, bf16, cols, 0f, c, n, 1);
                else Gemm.Multiply(false, transB, m, n, k, 1f, a, k, bf16, cols, 0f, c, n, 1);
            });
            double tn, tq;
            fixed (byte* p = nf4) tn = Time(Quantized(new QuantizedMatrix(DType.NF4, p, rows, cols)));
            fixed (byte* p = q8) tq = Time(Quantized(new QuantizedMatrix(DType.Q8_0, p, rows, cols)));
            double gflop = 2.0 * m * n * k / 1e6;
            Console.WriteLine($"{name} {m}×{n}×{k} {(gemv ? "GEMV" : "GEMM")}: BF16 {tb:F3} ms ({gflop / tb:F0} GFLOP/s)  NF4 {tn:F3} ms ({tb / tn:F2}×)  Q8_0 {tq:F3} ms ({tb / tq:F2}×)");
            logSum += Math.Log(tb / tn);
            count++;

            Action Quantized(QuantizedMatrix q) => () =>
            {
                if (gemv) Gemv.Multiply(m, n, k, 1f, a, k, q, 0f, c, n, 1);
                else Gemm.Multiply(false, transB, m, n, k, 1f, a, k, q, 0f, c, n, 1);
            };
        }
        Console.WriteLine($"quant-cpu nf4/bf16 speed={Math.Exp(logSum / count):F2}");
        return 0;
    }

    private static float[] Random(Random rng, int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

    private static double Time(Action f)
    {
        f();
        double best = double.MaxValue;
        for (int r = 0; r < 7; r++)
        {
            var sw = Stopwatch.StartNew();
            f();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }
        return best;
    }
}
