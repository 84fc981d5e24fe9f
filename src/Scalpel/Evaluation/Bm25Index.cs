namespace Scalpel.Evaluation;

/// <summary>
/// Okapi BM25 over short documents (k1 = 1.5, b = 0.75; Lucene's non-negative idf = ln(1 + (N − n + 0.5)/(n + 0.5))).
/// Terms are lowercase runs of letters and digits. Used to pick the training examples most similar to a test prompt.
/// </summary>
public sealed class Bm25Index
{
    private const double K1 = 1.5, B = 0.75;
    private readonly List<Dictionary<string, int>> _documents = [];
    private readonly int[] _lengths;
    private readonly Dictionary<string, int> _documentFrequency = new(StringComparer.Ordinal);
    private readonly double _averageLength;

    public Bm25Index(IEnumerable<string> documents)
    {
        var lengths = new List<int>();
        foreach (var text in documents)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            int length = 0;
            foreach (var term in Terms(text))
            {
                counts[term] = counts.GetValueOrDefault(term) + 1;
                length++;
            }
            foreach (var term in counts.Keys) _documentFrequency[term] = _documentFrequency.GetValueOrDefault(term) + 1;
            _documents.Add(counts);
            lengths.Add(length);
        }
        _lengths = [.. lengths];
        _averageLength = _lengths.Length == 0 ? 0 : Math.Max(_lengths.Average(), 1e-9);
    }

    public int Count => _documents.Count;

    public static IEnumerable<string> Terms(string text)
    {
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool word = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (word && start < 0) start = i;
            else if (!word && start >= 0)
            {
                yield return text[start..i].ToLowerInvariant();
                start = -1;
            }
        }
    }

    public double Idf(string term)
    {
        int n = _documentFrequency.GetValueOrDefault(term);
        return Math.Log(1 + (Count - n + 0.5) / (n + 0.5));
    }

    public double Score(string query, int document)
    {
        var counts = _documents[document];
        double score = 0;
        foreach (var term in Terms(query).Distinct())
        {
            if (!counts.TryGetValue(term, out int tf)) continue;
            score += Idf(term) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * _lengths[document] / _averageLength));
        }
        return score;
    }

    /// <summary>The k best documents for a query, best first; ties go to the earlier document.</summary>
    public IReadOnlyList<int> Top(string query, int k, Func<int, bool>? allowed = null) =>
        Enumerable.Range(0, Count)
            .Where(d => allowed?.Invoke(d) ?? true)
            .Select(d => (Document: d, Score: Score(query, d)))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Document)
            .Take(k).Select(x => x.Document).ToList();
}
