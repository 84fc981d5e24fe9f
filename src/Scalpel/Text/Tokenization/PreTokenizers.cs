namespace Scalpel.Text.Tokenization;

/// <summary>Reusable buffers for one encode call (components are shared between threads and keep no state).</summary>
internal sealed class Scratch
{
    public readonly List<(int Start, int End)> Matches = [];
    public readonly List<(int Start, int End, bool IsMatch)> Segments = [];
    public readonly List<Piece> PiecesA = [];
    public readonly List<Piece> PiecesB = [];
}

/// <summary>A tokenizer.json pre-tokenizer: splits pieces of normalized text into the words the model sees.</summary>
internal abstract class PreTokenizer
{
    public abstract void Split(List<Piece> input, List<Piece> output, Scratch scratch);
}

internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Split: a regex or literal pattern with Hugging Face's delimiter behaviours and invert flag.</summary>
internal sealed class SplitPreTokenizer(SplitPattern pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Split(List<Piece> input, List<Piece> output, Scratch scratch)
    {
        foreach (var piece in input)
        {
            if (piece.IsEmpty) continue;
            if (pattern is TilingScanner scanner && !invert && behavior == SplitBehavior.Isolated)
            {
                var span = piece.Span;
                for (int i = 0; i < span.Length;)
                {
                    int end = scanner.MatchEnd(span, i);
                    output.Add(new Piece(piece.Source, piece.Start + i, piece.Start + end));
                    i = end;
                }
                continue;
            }
            scratch.Matches.Clear();
            pattern.FindMatches(piece.Span, scratch.Matches);
            SplitByMatches(piece, scratch.Matches, behavior, invert, output, scratch);
        }
    }

    /// <summary>Hugging Face's NormalizedString::split over a list of matches (pattern.find_matches then the behaviour).</summary>
    public static void SplitByMatches(Piece piece, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert,
        List<Piece> output, Scratch scratch)
    {
        var segments = scratch.Segments;
        segments.Clear();
        int prev = 0, length = piece.Length;
        foreach (var (s, e) in matches)
        {
            if (prev != s) segments.Add((prev, s, invert));
            segments.Add((s, e, !invert));
            prev = e;
        }
        if (prev != length) segments.Add((prev, length, invert));

        var merged = scratch.Matches;   // reuse: the matches have been consumed
        merged.Clear();
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var (s, e, _) in segments) merged.Add((s, e));
                break;
            case SplitBehavior.Removed:
                foreach (var (s, e, isMatch) in segments) if (!isMatch) merged.Add((s, e));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previous = false;
                foreach (var (s, e, isMatch) in segments)
                {
                    if (isMatch == previous && merged.Count > 0) merged[^1] = (merged[^1].Start, e);
                    else merged.Add((s, e));
                    previous = isMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previous = false;
                foreach (var (s, e, isMatch) in segments)
                {
                    if (isMatch && !previous && merged.Count > 0) merged[^1] = (merged[^1].Start, e);
                    else merged.Add((s, e));
                    previous = isMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previous = false;
                for (int k = segments.Count - 1; k >= 0; k--)
                {
                    var (s, e, isMatch) = segments[k];
                    if (isMatch && !previous && merged.Count > 0) merged[^1] = (s, merged[^1].End);
                    else merged.Add((s, e));
                    previous = isMatch;
                }
                merged.Reverse();
                break;
            }
        }
        foreach (var (s, e) in merged)
            if (e > s) output.Add(new Piece(piece.Source, piece.Start + s, piece.Start + e));
    }
}

/// <summary>
/// ByteLevel: optionally a leading space and GPT-2's regex split. The mapping of bytes to printable characters is not
/// done here: the byte-level BPE model works on the UTF-8 bytes of each piece directly.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    private static readonly Gpt2Scanner Scanner = new();

    public override void Split(List<Piece> input, List<Piece> output, Scratch scratch)
    {
        foreach (var original in input)
        {
            var piece = original;
            if (piece.IsEmpty) continue;
            if (addPrefixSpace && piece.Source.Text[piece.Start] != ' ')
            {
                var b = new NormBuilder(piece.Length + 1, piece.Source.Track);
                var (s, e) = piece.Source.AlignmentAt(piece.Start);
                b.Append(' ', s, e);
                b.AppendFrom(piece.Source, piece.Start, piece.End);
                piece = b.Build();
            }
            if (!useRegex)
            {
                output.Add(piece);
                continue;
            }
            var span = piece.Span;
            for (int i = 0; i < span.Length;)
            {
                int end = Scanner.MatchEnd(span, i);
                output.Add(new Piece(piece.Source, piece.Start + i, piece.Start + end));
                i = end;
            }
        }
    }
}

internal enum PrependScheme { Always, First, Never }

/// <summary>Metaspace: spaces become the replacement character (▁), a leading one is added per the prepend scheme, then split before each ▁.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    public override void Split(List<Piece> input, List<Piece> output, Scratch scratch)
    {
        foreach (var piece in input)
        {
            if (piece.IsEmpty) continue;
            var src = piece.Source;
            var b = new NormBuilder(piece.Length + 1, src.Track);
            bool startsWithReplacement = src.Text[piece.Start] is ' ' || src.Text[piece.Start] == replacement;
            bool prepend = !startsWithReplacement && scheme switch
            {
                PrependScheme.Always => true,
                PrependScheme.First => src.AlignmentAt(piece.Start).Start == 0,
                _ => false,
            };
            if (prepend)
            {
                var (s, e) = src.AlignmentAt(piece.Start);
                b.Append(replacement, s, e);
            }
            for (int i = piece.Start; i < piece.End; i++)
            {
                if (src.Text[i] == ' ')
                {
                    var (s, e) = src.AlignmentAt(i);
                    b.Append(replacement, s, e);
                }
                else b.AppendFrom(src, i, i + 1);
            }
            var replaced = b.Build();
            if (!split)
            {
                output.Add(replaced);
                continue;
            }
            scratch.Matches.Clear();
            var span = replaced.Span;
            for (int i = 0; i < span.Length; i++)
                if (span[i] == replacement) scratch.Matches.Add((i, i + 1));
            SplitPreTokenizer.SplitByMatches(replaced, scratch.Matches, SplitBehavior.MergedWithNext, invert: false, output, scratch);
        }
    }
}

/// <summary>Digits: numbers (\p{N}) apart from the rest, one by one or in runs.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override void Split(List<Piece> input, List<Piece> output, Scratch scratch)
    {
        foreach (var piece in input)
        {
            if (piece.IsEmpty) continue;
            scratch.Matches.Clear();
            var span = piece.Span;
            for (int i = 0; i < span.Length;)
            {
                byte cls = CharClass.At(span, i, out int w);
                if (cls == CharClass.Number) scratch.Matches.Add((i, i + w));
                i += w;
            }
            SplitPreTokenizer.SplitByMatches(piece, scratch.Matches,
                individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, invert: false, output, scratch);
        }
    }
}

internal sealed class SequencePreTokenizer(PreTokenizer[] steps) : PreTokenizer
{
    public override void Split(List<Piece> input, List<Piece> output, Scratch scratch)
    {
        // Steps alternate between two lists; the last writes into output.
        var current = new List<Piece>(input);
        for (int k = 0; k < steps.Length; k++)
        {
            var next = k == steps.Length - 1 ? output : new List<Piece>(current.Count * 2);
            steps[k].Split(current, next, scratch);
            current = next;
        }
        if (steps.Length == 0) output.AddRange(input);
    }
}
