namespace Scalpel.Tests.Backends.Cpu.Attention;

/// <summary>One attention problem: packed sequence lengths, heads, head size, window, and random inputs for it.</summary>
public sealed record AttentionCase(int[] Lengths, int QHeads, int KvHeads, int HeadDim, int Window, float InputStd = 1f, int Seed = 1)
{
    public int Tokens => Lengths.Sum();
    public float Scale => 1f / MathF.Sqrt(HeadDim);

    public int[] SegmentStart()
    {
        var start = new int[Tokens];
        int at = 0;
        foreach (int n in Lengths)
        {
            for (int i = 0; i < n; i++) start[at + i] = at;
            at += n;
        }
        return start;
    }

    public Inputs MakeInputs()
    {
        var rng = new Random(Seed * 7919 + Tokens * 31 + HeadDim);
        int qn = Tokens * QHeads * HeadDim, kvn = Tokens * KvHeads * HeadDim;
        return new Inputs(TestData.Normal(rng, qn, InputStd), TestData.Normal(rng, kvn, InputStd), TestData.Normal(rng, kvn),
            TestData.Normal(rng, qn));
    }

    public sealed record Inputs(float[] Q, float[] K, float[] V, float[] DOut);

    public override string ToString() =>
        $"[{string.Join(',', Lengths)}] q{QHeads}/kv{KvHeads} d{HeadDim} window {Window} std {InputStd}";
}
