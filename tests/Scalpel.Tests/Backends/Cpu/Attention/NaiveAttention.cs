namespace Scalpel.Tests.Backends.Cpu.Attention;

/// <summary>
/// Reference twin of CausalAttention: the textbook formulas in double precision, one head at a time, with the whole
/// masked [tokens, tokens] score matrix in memory. Slow and obvious on purpose.
/// </summary>
public static class NaiveAttention
{
    public sealed record Result(float[] Output, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    /// <summary>May token t see token s? Same rule as the kernel's contract, written out directly.</summary>
    public static bool Visible(int[] segmentStart, int window, int t, int s) =>
        s >= segmentStart[t] && s <= t && (window <= 0 || t - s < window);

    /// <summary>Forward (output, lse) and, when dOut is given, the gradients of Σ dOut·output.</summary>
    public static Result Run(float[] q, float[] k, float[] v, float[]? dOut, int[] segmentStart,
        int tokens, int qHeads, int kvHeads, int d, float scale, int window)
    {
        var output = new double[tokens * qHeads * d];
        var lse = new double[qHeads * tokens];
        var dq = new double[tokens * qHeads * d];
        var dk = new double[tokens * kvHeads * d];
        var dv = new double[tokens * kvHeads * d];
        int group = qHeads / kvHeads;
        double Q(int t, int h, int c) => q[(t * qHeads + h) * d + c];
        double K(int s, int g, int c) => k[(s * kvHeads + g) * d + c];
        double V(int s, int g, int c) => v[(s * kvHeads + g) * d + c];

        for (int h = 0; h < qHeads; h++)
        {
            int g = h / group;
            var p = new double[tokens, tokens]; // softmax probabilities, 0 where masked
            for (int t = 0; t < tokens; t++)
            {
                double max = double.NegativeInfinity;
                var scores = new double[tokens];
                for (int s = 0; s < tokens; s++)
                {
                    if (!Visible(segmentStart, window, t, s)) { scores[s] = double.NegativeInfinity; continue; }
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += Q(t, h, c) * K(s, g, c);
                    scores[s] = scale * dot;
                    max = Math.Max(max, scores[s]);
                }
                double sum = 0;
                for (int s = 0; s < tokens; s++) sum += scores[s] == double.NegativeInfinity ? 0 : Math.Exp(scores[s] - max);
                for (int s = 0; s < tokens; s++) p[t, s] = scores[s] == double.NegativeInfinity ? 0 : Math.Exp(scores[s] - max) / sum;
                lse[h * tokens + t] = max + Math.Log(sum);
                for (int c = 0; c < d; c++)
                {
                    double o = 0;
                    for (int s = 0; s < tokens; s++) o += p[t, s] * V(s, g, c);
                    output[(t * qHeads + h) * d + c] = o;
                }
            }
            if (dOut is null) continue;

            // dP = dOut·Vᵀ; dS = P ∘ (dP − Σ_s P·dP); dQ = scale·dS·K; dK = scale·dSᵀ·Q; dV = Pᵀ·dOut
            for (int t = 0; t < tokens; t++)
            {
                var dp = new double[tokens];
                double rowDot = 0;
                for (int s = 0; s < tokens; s++)
                {
                    if (p[t, s] == 0) continue;
                    for (int c = 0; c < d; c++) dp[s] += dOut[(t * qHeads + h) * d + c] * V(s, g, c);
                    rowDot += p[t, s] * dp[s];
                }
                for (int s = 0; s < tokens; s++)
                {
                    if (!Visible(segmentStart, window, t, s)) continue;
                    double ds = p[t, s] * (dp[s] - rowDot);
                    for (int c = 0; c < d; c++)
                    {
                        dq[(t * qHeads + h) * d + c] += scale * ds * K(s, g, c);
                        dk[(s * kvHeads + g) * d + c] += scale * ds * Q(t, h, c);
                        dv[(s * kvHeads + g) * d + c] += p[t, s] * dOut[(t * qHeads + h) * d + c];
                    }
                }
            }
        }
        return new Result(ToFloat(output), ToFloat(lse), ToFloat(dq), ToFloat(dk), ToFloat(dv));
    }

    private static float[] ToFloat(double[] x) => Array.ConvertAll(x, e => (float)e);
}
