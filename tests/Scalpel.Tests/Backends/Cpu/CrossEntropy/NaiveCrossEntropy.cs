namespace Scalpel.Tests.Backends.Cpu.CrossEntropy;

/// <summary>
/// Reference twin of FusedCrossEntropy: the full [tokens, vocab] logits in double, the textbook softmax
/// cross-entropy and its gradient written out per element. Slow and obvious on purpose.
/// </summary>
public static class NaiveCrossEntropy
{
    public sealed record Result(double LossSum, double WeightSum, int Count, float[] DHidden, float[] DWeight);

    /// <param name="weight">[vocab, dim] as floats (a BF16 head widened first: widening is exact)</param>
    /// <param name="tokenWeights">empty means 1 for every token</param>
    public static Result Run(float[] hidden, float[] weight, int tokens, int dim, int vocab, int[] targets, float[] tokenWeights, float gradScale)
    {
        double lossSum = 0, weightSum = 0;
        int count = 0;
        var dHidden = new double[tokens * dim];
        var dWeight = new double[vocab * dim];
        var logits = new double[vocab];
        for (int t = 0; t < tokens; t++)
        {
            if (targets[t] == -100) continue;
            double w = tokenWeights.Length == 0 ? 1 : tokenWeights[t];
            count++;
            weightSum += w;
            for (int v = 0; v < vocab; v++)
            {
                double z = 0;
                for (int c = 0; c < dim; c++) z += (double)hidden[t * dim + c] * weight[v * dim + c];
                logits[v] = z;
            }
            double max = logits.Max(), sum = 0;
            foreach (double z in logits) sum += Math.Exp(z - max);
            double lse = max + Math.Log(sum);
            lossSum += w * (lse - logits[targets[t]]);
            for (int v = 0; v < vocab; v++)
            {
                double dz = gradScale * w * (Math.Exp(logits[v] - lse) - (v == targets[t] ? 1 : 0));
                for (int c = 0; c < dim; c++)
                {
                    dHidden[t * dim + c] += dz * weight[v * dim + c];
                    dWeight[v * dim + c] += dz * hidden[t * dim + c];
                }
            }
        }
        return new Result(lossSum, weightSum, count, Array.ConvertAll(dHidden, x => (float)x), Array.ConvertAll(dWeight, x => (float)x));
    }
}
