using System.Buffers;

namespace Scalpel.Text.Tokenization;

/// <summary>A token matched as a whole in the text before the model sees it (tokenizer.json added_tokens).</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip, bool SingleWord, bool Normalized);

/// <summary>A stretch of text: an added token (TokenIndex ≥ 0, its range including stripped white space) or plain text.</summary>
internal readonly record struct AddedSplit(int Start, int End, int TokenIndex);

/// <summary>
/// Finds added tokens in text as Hugging Face's AddedVocabulary::find_matches does: leftmost-longest matches scanned
/// left to right (a match discarded by single_word is skipped, not retried shorter), lstrip/rstrip swallowing the
/// white space around a token, the rest left as plain-text splits.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public int Token = -1;
    }

    private readonly Node _root = new();
    private readonly AddedToken[] _tokens;
    private readonly SearchValues<char> _firstChars;

    /// <param name="tokens">the tokens</param>
    /// <param name="patterns">the text matched for each token (its content, or its normalized content)</param>
    public AddedTokenMatcher(AddedToken[] tokens, string[] patterns)
    {
        _tokens = tokens;
        var first = new HashSet<char>();
        for (int t = 0; t < tokens.Length; t++)
        {
            string p = patterns[t];
            if (p.Length == 0) continue;
            first.Add(p[0]);
            var node = _root;
            foreach (char c in p)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            if (node.Token < 0) node.Token = t;
        }
        _firstChars = SearchValues.Create(first.ToArray());
        IsEmpty = first.Count == 0;
    }

    public bool IsEmpty { get; }

    public AddedToken this[int index] => _tokens[index];

    /// <summary>Splits text[lo, hi) into added tokens and plain text, appending to <paramref name="output"/>.</summary>
    public void Split(string text, int lo, int hi, List<AddedSplit> output)
    {
        if (IsEmpty)
        {
            if (hi > lo) output.Add(new AddedSplit(lo, hi, -1));
            return;
        }
        var span = text.AsSpan(0, hi);
        int startOffset = lo;
        int pos = lo;
        while (pos < hi)
        {
            int k = span[pos..].IndexOfAny(_firstChars);
            if (k < 0) break;
            int p = pos + k;
            // longest match at p
            int matchEnd = -1, token = -1;
            var node = _root;
            for (int j = p; j < hi && node.Children is not null && node.Children.TryGetValue(span[j], out node); j++)
            {
                if (node.Token >= 0)
                {
                    matchEnd = j + 1;
                    token = node.Token;
                }
            }
            if (token < 0)
            {
                pos = p + 1;
                continue;
            }
            pos = matchEnd;   // the search resumes after the match, whether it is kept or not
            var t = _tokens[token];
            int start = p, stop = matchEnd;
            if (t.SingleWord)
            {
                bool startOk = start == lo || !CharClass.IsWordChar(CharClass.CodePointBefore(span, start, out _));
                bool stopOk = stop == hi || !CharClass.IsWordChar(CharClass.CodePointAt(span, stop, out _));
                if (!startOk || !stopOk) continue;
            }
            if (t.LStrip)
            {
                int s = start;
                while (s > lo && CharClass.IsWhiteSpace(span[s - 1])) s--;
                start = Math.Max(s, startOffset);
            }
            if (t.RStrip)
            {
                while (stop < hi && CharClass.IsWhiteSpace(span[stop])) stop++;
            }
            if (start < startOffset) start = startOffset;
            if (startOffset < start) output.Add(new AddedSplit(startOffset, start, -1));
            output.Add(new AddedSplit(start, stop, token));
            startOffset = stop;
            if (pos < stop) pos = stop;
        }
        if (startOffset < hi) output.Add(new AddedSplit(startOffset, hi, -1));
    }
}
