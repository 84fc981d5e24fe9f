using System.Text;
using System.Text.Json.Nodes;
using Scalpel.Evaluation.Metrics;
using Xunit;

namespace Scalpel.Tests.Evaluation.Metrics;

public class MatchMetricTests
{
    [Theory]
    [InlineData("Paris", "Paris", true)]
    [InlineData("  Paris\n", "Paris", true)]
    [InlineData("paris", "Paris", false)]
    [InlineData("Paris.", "Paris", false)]
    [InlineData("Par is", "Paris", false)]
    public void ExactMatchTrimsOnly(string prediction, string reference, bool expected) =>
        Assert.Equal(expected, ExactMatchMetric.Matches(prediction, reference));

    [Theory]
    [InlineData("The Eiffel Tower!", "eiffel tower")]
    [InlineData("an apple a day", "apple day")]
    [InlineData("  The\t\tcat,  sat. ", "cat sat")]
    [InlineData("theory anathema", "theory anathema")]   // articles only as whole words
    [InlineData("don't", "dont")]
    [InlineData("the_cat", "thecat")]                    // '_' is punctuation: removed before articles
    [InlineData("a-the-an", "athean")]                   // punctuation goes first and joins the words
    [InlineData("Ünïcode — dash", "ünïcode — dash")]     // only ASCII punctuation is removed
    public void SquadNormalizationHandCases(string text, string expected) =>
        Assert.Equal(expected, TextNormalization.Squad(text));

    [Fact]
    public void NormalizedMatchScoresPerItem()
    {
        var items = new[]
        {
            new EvalItem("The answer is 42.", "answer is 42"),
            new EvalItem("42", "forty-two"),
            new EvalItem("A Paris", "paris"),
        };
        var result = new NormalizedMatchMetric().Compute(items);
        Assert.Equal([1.0, 0.0, 1.0], result.PerExample);
        Assert.Equal(2.0 / 3, result.Headline.Value, 12);
        Assert.Equal(MetricDirection.HigherIsBetter, result.Direction);
    }

    /// <summary>
    /// Differential test against SQuAD v1.1's normalize_answer written out in Python (lower; drop string.punctuation;
    /// re.sub(r'\b(a|an|the)\b', ' ', ...); ' '.join(split())) on random strings of articles, punctuation, several
    /// kinds of whitespace, accented and combining letters, digits and an emoji.
    /// </summary>
    [Fact]
    public void SquadNormalizationMatchesPython()
    {
        string[] pieces =
        [
            "a", "an", "the", "The", "A", "AN", "apple", "x", "thé", "e\u0301", "an\u0301", "the\u0301", "_", "-", "'", ".",
            ",", "!", "?", "\"", "(", ")", "—", "«", "»", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u001c", "\u3000",
            "42", "٣", "½", "Ⅻ", "😀", "日本", "İstanbul"[1..], "ß", "Ça", "_the_", "a_b",
        ];
        var rng = new Random(5);
        var texts = new List<string>();
        for (int t = 0; t < 2000; t++)
        {
            var sb = new StringBuilder();
            int count = rng.Next(0, 12);
            for (int i = 0; i < count; i++) sb.Append(pieces[rng.Next(pieces.Length)]);
            texts.Add(sb.ToString());
        }
        const string script = """
            import json, re, string, sys
            def normalize_answer(s):
                s = s.lower()
                s = ''.join(ch for ch in s if ch not in set(string.punctuation))
                s = re.sub(r'\b(a|an|the)\b', ' ', s)
                return ' '.join(s.split())
            print(json.dumps([normalize_answer(t) for t in json.load(sys.stdin)]))
            """;
        var expected = PythonOracle.Run(script, new JsonArray([.. texts.Select(t => (JsonNode)t)])).AsArray();
        for (int i = 0; i < texts.Count; i++)
            Assert.True((string)expected[i]! == TextNormalization.Squad(texts[i]),
                $"'{texts[i]}': python '{expected[i]}', ours '{TextNormalization.Squad(texts[i])}'");
    }
}
