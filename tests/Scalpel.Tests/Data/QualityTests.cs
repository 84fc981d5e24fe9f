using Scalpel.Data;
using Xunit;

namespace Scalpel.Tests.Data;

/// <summary>Duplicates, near-duplicates (on pairs of known Jaccard similarity), leakage, labels, short and templated answers.</summary>
public class QualityTests : IDisposable
{
    private readonly DataFiles _files = new();
    public void Dispose() => _files.Dispose();

    /// <summary>n distinct random words.</summary>
    internal static string[] Words(Random rng, int n) =>
        Enumerable.Range(0, n).Select(_ => new string(Enumerable.Range(0, rng.Next(4, 9)).Select(_ => (char)('a' + rng.Next(26))).ToArray())).ToArray();

    /// <summary>The words with the last k replaced by fresh ones: Jaccard over 3-shingles = (n-k-2)/(n+k-2).</summary>
    internal static string[] ReplaceTail(Random rng, string[] words, int k) => [.. words[..^k], .. Words(rng, k).Select(w => w + "q")];

    /// <summary>The reference: exact Jaccard similarity of the word 3-shingle sets.</summary>
    internal static double TrueJaccard(string[] a, string[] b)
    {
        static HashSet<string> Shingles(string[] w) => Enumerable.Range(0, w.Length - 2).Select(i => $"{w[i]} {w[i + 1]} {w[i + 2]}").ToHashSet();
        var sa = Shingles(a);
        var sb = Shingles(b);
        return (double)sa.Intersect(sb).Count() / sa.Union(sb).Count();
    }

    private static uint[] Signature(string text)
    {
        var fp = new TextFingerprinter();
        fp.Begin();
        fp.Add("text", text, nearDuplicate: true);
        fp.End();
        return fp.Signature.ToArray();
    }

    [Fact]
    public void MinHashEstimatesKnownJaccardSimilarity()
    {
        var rng = new Random(11);
        double totalError = 0;
        int pairs = 0;
        foreach (int k in new[] { 2, 5, 10, 20, 40, 80, 150 })
            for (int trial = 0; trial < 6; trial++)
            {
                var a = Words(rng, 200);
                var b = ReplaceTail(rng, a, k);
                double truth = TrueJaccard(a, b);
                Assert.Equal((200.0 - k - 2) / (200 + k - 2), truth, 9);
                double estimate = NearDuplicateIndex.Estimate(Signature(string.Join(' ', a)), Signature(string.Join(' ', b)));
                Assert.InRange(estimate, truth - 0.2, truth + 0.2);   // K = 64: σ ≤ 0.0625, so ±0.2 is > 3σ
                totalError += Math.Abs(estimate - truth);
                pairs++;
            }
        Assert.True(totalError / pairs < 0.06, $"mean absolute error {totalError / pairs:F3}");
    }

    [Fact]
    public void SignatureIgnoresCaseAndWhitespaceButNotWords()
    {
        Assert.Equal(Signature("The quick brown fox"), Signature("  the QUICK\n\tbrown   fox "));
        Assert.NotEqual(Signature("the quick brown fox"), Signature("the quick brown cat"));
    }

    [Fact]
    public void BandsAreChosenFromTheThreshold()
    {
        foreach (double t in new[] { 0.5, 0.7, 0.8, 0.9, 0.95 })
        {
            var index = new NearDuplicateIndex(t);
            double p = 1 - Math.Pow(1 - Math.Pow(t, index.Rows), index.Bands);
            Assert.True(p >= 0.97, $"threshold {t}: {index.Bands}×{index.Rows} finds a pair at the threshold with p={p:F3}");
            Assert.True(index.Bands * index.Rows <= TextFingerprinter.NumHashes);
        }
    }

    [Fact]
    public void NearDuplicatesAreFoundAboveTheThresholdOnly()
    {
        var rng = new Random(5);
        var lines = new List<string>();
        var expectNear = new List<int>();
        for (int i = 0; i < 60; i++) lines.Add(Text(Words(rng, 200)));
        for (int i = 0; i < 10; i++)
        {
            var original = Words(rng, 200);
            lines.Add(Text(original));
            lines.Add(Text(ReplaceTail(rng, original, 8)));   // J = 190/206 ≈ 0.92
            expectNear.Add(lines.Count);
            lines.Add(Text(ReplaceTail(rng, original, 70)));  // J = 128/268 ≈ 0.48 to the original; less to the other
        }
        var report = DataChecker.Check(_files.WriteLines("near.jsonl", [.. lines]));
        var near = report.Warnings.Items.Where(w => w.Code == IssueCodes.NearDuplicate).ToList();
        Assert.Equal(expectNear, near.Select(w => (int)w.Line));
        Assert.All(near, w => Assert.Contains($"line {w.Line - 1}", w.Message));
        Assert.Equal(10, report.Stats.NearDuplicates);
        Assert.Equal(0, report.Stats.Duplicates);

        // A lower threshold also catches the 0.48 pairs (3σ of the estimate above 0.3).
        var loose = DataChecker.Check(_files.WriteLines("near2.jsonl", [.. lines]), new DataCheckOptions { Quality = new QualityOptions { NearDuplicateThreshold = 0.3 } });
        Assert.Equal(20, loose.Stats.NearDuplicates);
        // Off.
        var off = DataChecker.Check(_files.WriteLines("near3.jsonl", [.. lines]), new DataCheckOptions { Quality = new QualityOptions { NearDuplicateThreshold = 0 } });
        Assert.Equal(0, off.Stats.NearDuplicates);
        Assert.Null(off.Stats.NearDuplicateSearch);
    }

    private static string Text(string[] words) => $$"""{"text": "{{string.Join(' ', words)}}"}""";

    [Fact]
    public void ExactDuplicatesIgnoreCaseAndWhitespace()
    {
        var report = _files.Check("d.jsonl", string.Join("\n",
            DataFiles.Chat("Hello   World", "Hi there."),
            DataFiles.Chat("Something else", "Entirely different."),
            DataFiles.Chat("hello world", "HI  THERE."),
            DataFiles.Chat("hello world", "Hi there!")) + "\n");
        var dup = Assert.Single(report.Warnings.Items, w => w.Code == IssueCodes.Duplicate);
        Assert.Equal(3, dup.Line);
        Assert.Contains("line 1", dup.Message);
        Assert.Equal(1, report.Stats.Duplicates);
    }

    [Fact]
    public void LeakagePromptsAndNearDuplicatesAcrossFiles()
    {
        var rng = new Random(3);
        var shared = Words(rng, 120);
        var train = _files.WriteLines("train.jsonl",
            DataFiles.Chat("What is the boiling point of water?", "100 C at sea level."),
            DataFiles.Chat("Unrelated question about trains", "Trains run on rails."),
            DataFiles.Chat(string.Join(' ', shared), "ok"));
        var val = _files.WriteLines("val.jsonl",
            DataFiles.Chat("what is the boiling point of WATER?", "Depends on the pressure."),
            DataFiles.Chat(string.Join(' ', ReplaceTail(rng, shared, 3)), "ok"));
        var report = DataChecker.Check(train, new DataCheckOptions { ValidationFile = val });
        var leak = Assert.Single(report.Warnings.Items, w => w.Code == IssueCodes.Leakage);
        Assert.Equal(1, leak.Line);
        Assert.Contains("same prompt", leak.Message);
        var near = Assert.Single(report.Warnings.Items, w => w.Code == IssueCodes.NearLeakage);
        Assert.Equal(3, near.Line);
        Assert.Contains("val.jsonl:2", near.Message);
    }

    [Fact]
    public void UnbalancedLabelsAreWarnedBalancedOnesAreNot()
    {
        string Lines(int pos, int neg) => string.Join("\n", Enumerable.Range(0, pos + neg)
            .Select(i => DataFiles.Chat($"Review {i}: the film was {(i < pos ? "great" : "dull")} in part {i}", i < pos ? "positive" : "Negative "))) + "\n";
        var unbalanced = _files.Check("u.jsonl", Lines(90, 10));
        Assert.Equal(new Dictionary<string, long> { ["positive"] = 90, ["negative"] = 10 }, unbalanced.Stats.Labels);
        var w = Assert.Single(unbalanced.Warnings.Items, x => x.Code == IssueCodes.LabelImbalance);
        Assert.Contains("'positive' 90 (90.0%)", w.Message);
        Assert.DoesNotContain(unbalanced.Warnings.Items, x => x.Code is IssueCodes.ShortAnswer or IssueCodes.TemplatedAnswer);

        var balanced = _files.Check("b.jsonl", Lines(50, 50));
        Assert.Equal(2, balanced.Stats.Labels!.Count);
        Assert.DoesNotContain(balanced.Warnings.Items, x => x.Code == IssueCodes.LabelImbalance);
    }

    [Fact]
    public void ShortAndTemplatedAnswersInALongFormDataset()
    {
        var rng = new Random(9);
        var lines = new List<string>();
        for (int i = 0; i < 100; i++)
        {
            string answer = i % 10 == 3 ? "I am sorry, but I cannot help with that request today."
                          : i is 50 or 77 ? "ok"
                          : string.Join(' ', Words(rng, 40));
            lines.Add(DataFiles.Chat($"question {i}: " + string.Join(' ', Words(rng, 10)), answer));
        }
        var report = _files.Check("long.jsonl", string.Join("\n", lines) + "\n");
        Assert.Null(report.Stats.Labels);
        var templated = Assert.Single(report.Warnings.Items, w => w.Code == IssueCodes.TemplatedAnswer);
        Assert.Equal(4, templated.Line);
        Assert.Contains("10 times", templated.Message);
        Assert.Contains("I am sorry", templated.Message);
        Assert.Equal([51, 78], report.Warnings.Items.Where(w => w.Code == IssueCodes.ShortAnswer).Select(w => w.Line));
        Assert.Equal(0, report.Errors.Count);
    }
}
