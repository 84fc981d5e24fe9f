using Scalpel.Text.Tokenization.Unicode;

namespace Scalpel.Text.Tokenization;

/// <summary>A tokenizer.json normalizer: rewrites a piece of text, keeping track of where each character came from.</summary>
internal abstract class Normalizer
{
    /// <summary>Normalized text of <paramref name="piece"/>; the same piece when nothing changes. Alignment is kept when the piece's text tracks it.</summary>
    public abstract Piece Apply(Piece piece);

    /// <summary>Normalizes a plain string (the normalized form of added tokens marked "normalized").</summary>
    public string Apply(string text)
    {
        var p = Apply(new Piece(NormText.Untracked(text), 0, text.Length));
        return p.Span.ToString();
    }
}

internal sealed class SequenceNormalizer(Normalizer[] steps) : Normalizer
{
    public override Piece Apply(Piece piece)
    {
        foreach (var step in steps) piece = step.Apply(piece);
        return piece;
    }
}

/// <summary>Prepend: puts a string before non-empty text; the new characters stand for the first original character.</summary>
internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override Piece Apply(Piece piece)
    {
        if (piece.IsEmpty || prefix.Length == 0) return piece;
        var b = new NormBuilder(piece.Length + prefix.Length, piece.Source.Track);
        var (s, e) = piece.Source.AlignmentAt(piece.Start);
        b.Append(prefix, s, e);
        b.AppendFrom(piece.Source, piece.Start, piece.End);
        return b.Build();
    }
}

/// <summary>Replace: every match of a literal or regex becomes the content, which stands for the last matched character.</summary>
internal sealed class ReplaceNormalizer(SplitPattern pattern, string content) : Normalizer
{
    public override Piece Apply(Piece piece)
    {
        if (piece.IsEmpty) return piece;
        List<(int Start, int End)> matches = [];
        pattern.FindMatches(piece.Span, matches);
        if (matches.Count == 0) return piece;
        var src = piece.Source;
        var b = new NormBuilder(piece.Length + matches.Count * content.Length, src.Track);
        int last = piece.Start;
        foreach (var (ms, me) in matches)
        {
            int start = piece.Start + ms, end = piece.Start + me;
            b.AppendFrom(src, last, start);
            if (content.Length > 0)
            {
                var (os, oe) = end > start ? src.AlignmentAt(end - 1) : start > 0 ? src.AlignmentAt(start - 1) : (0, 0);
                b.Append(content, os, oe);
            }
            last = end;
        }
        b.AppendFrom(src, last, piece.End);
        return b.Build();
    }
}

/// <summary>NFC / NFD / NFKC / NFKD with Scalpel's own tables (see Unicode/UnicodeNormalizer).</summary>
internal sealed class UnicodeFormNormalizer(NormalForm form) : Normalizer
{
    public override Piece Apply(Piece piece)
    {
        var src = piece.Source;
        string s = src.Text;
        int i = piece.Start;
        while (i < piece.End)
        {
            char c = s[i];
            if (c < 0xA0) { i++; continue; }
            int cp = UnicodeNormalizer.CodePointAt(s, i, out int w);
            if (!UnicodeNormalizer.IsStable(cp, form)) break;
            i += w;
        }
        if (i >= piece.End) return piece;

        int chunkStart = Math.Max(piece.Start, UnicodeNormalizer.PreviousChunkStart(s, i, form));
        var b = new NormBuilder(piece.Length + 8, src.Track);
        b.AppendFrom(src, piece.Start, chunkStart);
        var input = new List<int>();
        var inputPos = new List<int>();
        var output = new List<int>();
        var changes = new List<int>();
        bool changed = false;
        int p = chunkStart;
        while (p < piece.End)
        {
            int end = Math.Min(UnicodeNormalizer.ChunkEnd(s, p, form), piece.End);
            int first = UnicodeNormalizer.CodePointAt(s, p, out int firstWidth);
            if (end - p == firstWidth && UnicodeNormalizer.IsStable(first, form))
            {
                b.AppendFrom(src, p, end);
                p = end;
                continue;
            }
            input.Clear();
            inputPos.Clear();
            for (int k = p; k < end;)
            {
                inputPos.Add(k);
                input.Add(UnicodeNormalizer.CodePointAt(s, k, out int w));
                k += w;
            }
            UnicodeNormalizer.NormalizeChunk(input, form, output, changes);
            if (output.SequenceEqual(input))
            {
                b.AppendFrom(src, p, end);
            }
            else
            {
                // Hugging Face's NormalizedString::transform: a code point with change ≤ 0 stands for the input code
                // point under the cursor (and a negative change skips that many more); an inserted one (+1) stands
                // for the input code point before the cursor.
                changed = true;
                int cursor = 0;
                for (int j = 0; j < output.Count; j++)
                {
                    int at = changes[j] > 0 ? Math.Max(cursor - 1, 0) : Math.Min(cursor, input.Count - 1);
                    var (os, oe) = src.AlignmentAt(inputPos[at]);
                    b.AppendCodePoint(output[j], os, oe);
                    if (changes[j] <= 0) cursor += 1 - changes[j];
                }
            }
            p = end;
        }
        return changed ? b.Build() : piece;
    }
}
