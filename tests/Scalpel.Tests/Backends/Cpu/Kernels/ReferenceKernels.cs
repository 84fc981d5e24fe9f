using Scalpel.Models;
using Scalpel.Tensors;

namespace Scalpel.Tests.Backends.Cpu.Kernels;

// Plain reference twins of the CPU kernels: naive loops, straight from the formulas, everything in double.
// They share no code with the kernels (not even the RoPE frequency formula), so a fast path that drifts shows up.

internal static class RmsNormReference
{
    public static void Forward(float[] x, float[] w, float offset, float eps, int rows, int dim, float[] y, float[] rstd)
    {
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double)x[r * dim + j] * x[r * dim + j];
            double rs = 1.0 / Math.Sqrt(ss / dim + eps);
            rstd[r] = (float)rs;
            for (int j = 0; j < dim; j++) y[r * dim + j] = (float)(x[r * dim + j] * rs * ((double)w[j] + offset));
        }
    }

    /// <summary>dx overwritten, dw accumulated (skipped when null). rstd is recomputed in double from x.</summary>
    public static void Backward(float[] dy, float[] x, float[] w, float offset, float eps, int rows, int dim, float[] dx, float[]? dw)
    {
        var dwAcc = new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int j = 0; j < dim; j++) ss += (double)x[r * dim + j] * x[r * dim + j];
            double rs = 1.0 / Math.Sqrt(ss / dim + eps);
            // y_j = x_j·rs·w'_j with rs = (mean(x²)+eps)^(-1/2): ∂y_j/∂x_k = w'_j·(rs·δ_jk − x_j·x_k·rs³/dim).
            double gx = 0;
            for (int j = 0; j < dim; j++) gx += dy[r * dim + j] * ((double)w[j] + offset) * x[r * dim + j];
            for (int k = 0; k < dim; k++)
            {
                double g = dy[r * dim + k] * ((double)w[k] + offset);
                dx[r * dim + k] = (float)(rs * g - x[r * dim + k] * rs * rs * rs * gx / dim);
                dwAcc[k] += (double)dy[r * dim + k] * x[r * dim + k] * rs;
            }
        }
        if (dw is not null)
            for (int j = 0; j < dim; j++) dw[j] = (float)(dw[j] + dwAcc[j]);
    }
}

internal static class RopeReference
{
    /// <summary>inv_freq in double: default, linear (÷factor) or Llama 3.1's wavelength bands.</summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling scaling)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            double f = Math.Exp(-Math.Log(theta) * (2.0 * i) / headDim);
            if (scaling.Type == RopeType.Linear) f /= scaling.Factor;
            else if (scaling.Type == RopeType.Llama3)
            {
                double lowWavelen = scaling.OriginalMaxPositions / scaling.LowFreqFactor;
                double highWavelen = scaling.OriginalMaxPositions / scaling.HighFreqFactor;
                double wavelen = 2 * Math.PI / f;
                if (wavelen > lowWavelen) f /= scaling.Factor;
                else if (wavelen >= highWavelen)
                {
                    double smooth = (scaling.OriginalMaxPositions / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                    f = (1 - smooth) * f / scaling.Factor + smooth * f;
                }
            }
            inv[i] = f;
        }
        return inv;
    }

    /// <summary>Rotates x [tokens, heads, headDim] by +angle (sign 1) or −angle (sign −1, the backward pass).</summary>
    public static float[] Rotate(float[] x, int tokens, int heads, int headDim, int[] positions, double[] invFreq, int sign)
    {
        int half = headDim / 2;
        var y = new float[x.Length];
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    int b = (t * heads + h) * headDim;
                    double angle = positions[t] * invFreq[i];
                    double c = Math.Cos(angle), s = sign * Math.Sin(angle);
                    double x1 = x[b + i], x2 = x[b + half + i];
                    y[b + i] = (float)(x1 * c - x2 * s);
                    y[b + half + i] = (float)(x2 * c + x1 * s);
                }
        return y;
    }
}

internal static class GatedActivationReference
{
    private static readonly double K = Math.Sqrt(2 / Math.PI);

    /// <summary>act(g) and act'(g) in double, tanh form for GELU (PyTorch's formula, not the kernel's sigmoid form).</summary>
    public static (double Value, double Slope) Act(Activation a, double g)
    {
        if (a == Activation.Silu)
        {
            double s = 1 / (1 + Math.Exp(-g));
            return (g * s, s + g * s * (1 - s));
        }
        double u = K * (g + 0.044715 * g * g * g), th = Math.Tanh(u);
        return (0.5 * g * (1 + th), 0.5 * (1 + th) + 0.5 * g * (1 - th * th) * K * (1 + 3 * 0.044715 * g * g));
    }

    public static float[] Forward(Activation a, float[] gate, float[] up)
    {
        var o = new float[gate.Length];
        for (int i = 0; i < o.Length; i++) o[i] = (float)(Act(a, gate[i]).Value * up[i]);
        return o;
    }

    public static (float[] DGate, float[] DUp) Backward(Activation a, float[] dOut, float[] gate, float[] up)
    {
        var dg = new float[gate.Length];
        var du = new float[gate.Length];
        for (int i = 0; i < dg.Length; i++)
        {
            var (v, slope) = Act(a, gate[i]);
            dg[i] = (float)((double)dOut[i] * up[i] * slope);
            du[i] = (float)(dOut[i] * v);
        }
        return (dg, du);
    }
}

internal static class EmbeddingReference
{
    public static float[] Forward(int[] ids, float[] table, int dim)
    {
        var o = new float[ids.Length * dim];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < dim; j++) o[t * dim + j] = table[ids[t] * dim + j];
        return o;
    }

    public static float[] Forward(int[] ids, ushort[] tableBf16, int dim)
    {
        var o = new float[ids.Length * dim];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < dim; j++) o[t * dim + j] = BFloat16Bits.ToSingle(tableBf16[ids[t] * dim + j]);
        return o;
    }

    /// <summary>dTable += scatter-add of dOutput, each row summed in double over its tokens.</summary>
    public static void Backward(int[] ids, float[] dOutput, int dim, float[] dTable)
    {
        var acc = new double[dTable.Length];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < dim; j++) acc[ids[t] * dim + j] += dOutput[t * dim + j];
        for (int i = 0; i < dTable.Length; i++) dTable[i] = (float)(dTable[i] + acc[i]);
    }
}

internal static class AdamWReference
{
    /// <summary>torch.optim.AdamW's single-tensor update in double, state kept in double across steps.</summary>
    public static void Step(double[] p, float[] g, double[] m, double[] v, double lr, double beta1, double beta2, double eps,
        double weightDecay, int step)
    {
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * weightDecay;
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * (double)g[i] * g[i];
            p[i] -= lr / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
        }
    }
}
