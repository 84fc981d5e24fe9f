using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

/// <summary>
/// ROUGE-L and chrF against the expected scores published with their reference implementations: rouge-score's
/// rouge_scorer_test.py (google-research/google-research, rouge/; its long cases are scores from ROUGE-1.5.5 on
/// rouge/testdata/target.txt and prediction.txt) and sacreBLEU's test/test_chrf.py (mjpost/sacrebleu), plus the
/// examples on the Hugging Face chrF metric card, which runs sacreBLEU with its defaults.
/// </summary>
public class TextOverlapTests
{
    // rouge/testdata/target.txt and prediction.txt, lines 1 and 2.
    private const string Target0 = "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n";
    private const string Prediction0 = "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n";
    private const string Target1 = "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n";
    private const string Prediction1 = "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n";

    [Theory]
    [InlineData("testing one", "testing one two", 1.0, 2.0 / 3, 4.0 / 5)]   // testRougeLConsecutive
    [InlineData("testing two", "testing one two", 1.0, 2.0 / 3, 4.0 / 5)]   // testRougeLNonConsecutive
    [InlineData("", "testing one two", 0.0, 0.0, 0.0)]                      // testRougeEmpty
    [InlineData("/", "w1 w2", 0.0, 0.0, 0.0)]                               // a prediction with no tokens
    public void RougeLPublishedCases(string prediction, string reference, double precision, double recall, double f1)
    {
        var (p, r, f) = RougeLMetric.Score(prediction, reference);
        Assert.Equal(precision, p, 12);
        Assert.Equal(recall, r, 12);
        Assert.Equal(f1, f, 12);
    }

    [Fact]
    public void RougeLMatchesRouge155()
    {
        // testRougeLAgainstRouge155: recall, precision, F to 5 places
        var (p, r, f) = RougeLMetric.Score(Prediction0, Target0);
        Assert.Equal(0.68750, p, 5);
        Assert.Equal(0.40741, r, 5);
        Assert.Equal(0.51163, f, 5);
        (p, r, f) = RougeLMetric.Score(Prediction1, Target1);
        Assert.Equal(0.65385, p, 5);
        Assert.Equal(0.40476, r, 5);
        Assert.Equal(0.50000, f, 5);
    }

    [Fact]
    public void RougeTokenizesLikeRougeScore()
    {
        Assert.Equal(["hello", "world", "42", "x"], RougeLMetric.Tokenize("Hello, WORLD!! 42-x"));
        Assert.Equal(["caf", "na", "ve"], RougeLMetric.Tokenize("Café naïve"));   // only a-z and 0-9 survive
        Assert.Empty(RougeLMetric.Tokenize(" /.; "));
        Assert.Equal(3, RougeLMetric.LcsLength(["1", "2", "3", "4", "5"], ["2", "5", "3", "4"]));   // testLcsTable
    }

    [Fact]
    public void RougeLHeadlineIsTheMeanF1()
    {
        var result = new RougeLMetric().Compute([new EvalItem("testing one", "testing one two"), new EvalItem("a b", "c d")]);
        Assert.Equal([0.8, 0.0], result.PerExample);
        Assert.Equal(0.4, result.Headline.Value, 12);
        Assert.Equal(0.5, result.Values["rouge_l/precision"].Value, 12);
        Assert.Equal(1.0 / 3, result.Values["rouge_l/recall"].Value, 12);
    }

    // test_chrf.py: corpus_chrf(hypotheses, [references], char_order=6, word_order=0, beta=3, eps_smoothing=True)
    public static TheoryData<string[], string[], double> ChrfEpsCases => new()
    {
        { ["abcdefg"], ["hijklmnop"], 0.0 },
        { ["a"], ["b"], 0.0 },
        { [""], ["b"], 0.0 },
        { [""], ["ref"], 0.0 },
        { [""], ["reference"], 0.0 },
        { ["aa"], ["ab"], 8.3333 },
        { ["a", "b"], ["a", "c"], 8.3333 },
        { ["a"], ["a"], 16.6667 },
        { ["a b c"], ["a b c"], 50.0 },
        { ["a b c"], ["abc"], 50.0 },
        { [" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."],
          ["risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."], 63.361730 },
        { [" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "],
          ["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."], 64.1302698 },
        { ["Niemand hat die Absicht, eine Mauer zu errichten"], ["Niemand hat die Absicht, eine Mauer zu errichten"], 100.0 },
    };

    [Theory]
    [MemberData(nameof(ChrfEpsCases))]
    public void ChrfEpsSmoothing(string[] hypotheses, string[] references, double expected) =>
        Assert.Equal(expected, new ChrfMetric(beta: 3, epsSmoothing: true).CorpusScore(hypotheses.Zip(references)), 1e-4);

    // test_chrf.py, test_cases_effective_order: beta=3, eps_smoothing=False (sacreBLEU's default averaging)
    public static TheoryData<string[], string[], double> ChrfEffectiveOrderCases => new()
    {
        { ["a"], ["a"], 100.0 },
        { [""], ["reference"], 0.0 },
        { ["a b c"], ["a b c"], 100.0 },
        { ["a b c"], ["abc"], 100.0 },
        { [""], ["c"], 0.0 },
        { ["a", "b"], ["a", "c"], 50.0 },
        { ["aa"], ["ab"], 25.0 },
    };

    [Theory]
    [MemberData(nameof(ChrfEffectiveOrderCases))]
    public void ChrfEffectiveOrder(string[] hypotheses, string[] references, double expected) =>
        Assert.Equal(expected, new ChrfMetric(beta: 3).CorpusScore(hypotheses.Zip(references)), 1e-4);

    [Theory]   // test_cases_keep_whitespace: beta=3, whitespace=True
    [InlineData("Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
        "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 67.3481606)]
    [InlineData("risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
        "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .", 65.2414427)]
    public void ChrfKeepingWhitespace(string hypothesis, string reference, double expected) =>
        Assert.Equal(expected, new ChrfMetric(beta: 3, whitespace: true).CorpusScore([(hypothesis, reference)]), 1e-4);

    [Theory]   // test_sentence_level_chrf: sentence_chrf(hypothesis, references, eps_smoothing=True), beta 2
    [InlineData("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509)]
    [InlineData("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079)]
    [InlineData("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367)]
    public void ChrfSentenceLevel(string hypothesis, string reference, double expected) =>
        Assert.Equal(expected, new ChrfMetric(epsSmoothing: true).SentenceScore(hypothesis, reference), 1e-4);

    [Fact]
    public void ChrfDefaultsMatchTheHuggingFaceMetricCard()
    {
        // datasets/metrics/chrf/README.md: sacrebleu CHRF() defaults (char_order 6, word_order 0, beta 2)
        var chrf = new ChrfMetric();
        Assert.Equal(61.576379378113785, chrf.CorpusScore([("The relationship between Obama and Netanyahu is not exactly friendly.",
            "The ties between Obama and Netanyahu are not particularly friendly.")]), 1e-9);

        (string, string)[] pairs =
        [
            ("The relationship between cats and dogs is not exactly friendly.", "The relationship between dogs and cats is not exactly friendly."),
            ("a good bookshop is just a genteel black hole that knows how to read.", "A good bookshop is just a genteel Black Hole that knows how to read."),
        ];
        Assert.Equal(84.64214891738334, chrf.CorpusScore(pairs), 1e-9);

        // Through the metric: the headline is that corpus score, the per-example scores are sentence scores.
        var result = chrf.Compute([.. pairs.Select(p => new EvalItem(p.Item1, p.Item2))]);
        Assert.Equal(84.64214891738334, result.Headline.Value, 1e-9);
        Assert.Equal(chrf.SentenceScore(pairs[0].Item1, pairs[0].Item2), result.PerExample[0]);
        Assert.Equal(result.PerExample.Average(), result.Values["chrf_sentence_mean"].Value, 12);
        Assert.NotEqual(result.Headline.Value, result.Values["chrf_sentence_mean"].Value, 6);
    }

    [Fact]
    public void ChrfHandComputed()
    {
        // "ab" vs "ab" is 100; "ab" vs "ac": order 1 P = R = 1/2, order 2 P = R = 0 → effective-order averages 1/4.
        var chrf = new ChrfMetric();
        Assert.Equal(100.0, chrf.SentenceScore("a b", "ab"), 12);
        Assert.Equal(25.0, chrf.SentenceScore("ab", "ac"), 12);
        // Code points, not UTF-16 units: one emoji is one character, so this is 1-grams only, and they match.
        Assert.Equal(100.0, chrf.SentenceScore("😀", "😀"), 12);
        Assert.Equal(new long[] { 1, 1, 1, 0, 0, 0 }, chrf.Statistics("😀", "😀")[..6]);
        Assert.Equal(100.0, new ChrfMetric(lowercase: true).SentenceScore("ABC", "abc"), 12);
        Assert.True(chrf.SentenceScore("ABC", "abc") == 0);
    }
}
