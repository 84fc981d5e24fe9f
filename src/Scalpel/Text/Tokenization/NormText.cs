using System.Text;

namespace Scalpel.Text.Tokenization;

/// <summary>
/// Text on its way through the tokenizer (Hugging Face's NormalizedString): the current characters and, when offsets
/// are wanted, for every UTF-16 unit the [start, end) range of the original input it stands for (both units of a
/// surrogate pair carry the whole code point's range). Without alignment arrays the text IS the original string
/// (indices are original indices), so the common path (no normalizer, or a normalizer that changes nothing)
/// never copies the input.
/// </summary>
internal sealed class NormText
{
    public readonly string Text;
    private readonly int[]? _alignStart, _alignEnd;
    /// <summary>True when this is the original input (index = original index).</summary>
    private readonly bool _identity;

    private NormText(string text, int[]? alignStart, int[]? alignEnd, bool identity, bool track)
    {
        Text = text;
        _alignStart = alignStart;
        _alignEnd = alignEnd;
        _identity = identity;
        Track = track;
    }

    /// <summary>The original input itself; <paramref name="track"/>: whether texts derived from it keep alignment.</summary>
    public static NormText Original(string text, bool track) => new(text, null, null, identity: true, track);

    /// <summary>Transformed text without offsets (the fast path: nobody will ask where a token came from).</summary>
    public static NormText Untracked(string text) => new(text, null, null, identity: false, track: false);

    public static NormText Tracked(string text, int[] alignStart, int[] alignEnd) => new(text, alignStart, alignEnd, identity: false, track: true);

    /// <summary>Whether offsets are wanted: transformations of this text must carry alignment.</summary>
    public bool Track { get; }

    /// <summary>Original range of the code point at unit <paramref name="i"/>.</summary>
    public (int Start, int End) AlignmentAt(int i)
    {
        if (_alignStart is not null) return (_alignStart[i], _alignEnd![i]);
        if (_identity)
        {
            int start = i, end = i + 1;
            if (char.IsHighSurrogate(Text[i]) && i + 1 < Text.Length && char.IsLowSurrogate(Text[i + 1])) end = i + 2;
            else if (char.IsLowSurrogate(Text[i]) && i > 0 && char.IsHighSurrogate(Text[i - 1])) start = i - 1;
            return (start, end);
        }
        return (0, 0);
    }

    /// <summary>Original [start, end) of the normalized units [from, to) (the first unit's start, the last unit's end).</summary>
    public (int Start, int End) OriginalRange(int from, int to)
    {
        if (to <= from)
        {
            if (from < Text.Length) { var a = AlignmentAt(from); return (a.Start, a.Start); }
            if (from > 0) { var a = AlignmentAt(from - 1); return (a.End, a.End); }
            return (0, 0);
        }
        return (AlignmentAt(from).Start, AlignmentAt(to - 1).End);
    }
}

/// <summary>A slice [Start, End) of a <see cref="NormText"/>: what normalizers, pre-tokenizers and the model pass along.</summary>
internal readonly record struct Piece(NormText Source, int Start, int End)
{
    public int Length => End - Start;
    public ReadOnlySpan<char> Span => Source.Text.AsSpan(Start, End - Start);
    public bool IsEmpty => End <= Start;
}

/// <summary>Builds a new <see cref="NormText"/>, carrying alignment when the source has it.</summary>
internal sealed class NormBuilder
{
    private readonly StringBuilder _text;
    private readonly List<int>? _start, _end;

    public NormBuilder(int capacity, bool track)
    {
        _text = new StringBuilder(capacity);
        if (track)
        {
            _start = new List<int>(capacity);
            _end = new List<int>(capacity);
        }
    }

    public int Length => _text.Length;

    /// <summary>Copies source units [from, to) with their alignment.</summary>
    public void AppendFrom(NormText source, int from, int to)
    {
        _text.Append(source.Text, from, to - from);
        if (_start is null) return;
        for (int i = from; i < to; i++)
        {
            var (s, e) = source.AlignmentAt(i);
            _start.Add(s);
            _end!.Add(e);
        }
    }

    /// <summary>Appends text that stands for the original range [origStart, origEnd).</summary>
    public void Append(ReadOnlySpan<char> text, int origStart, int origEnd)
    {
        _text.Append(text);
        if (_start is null) return;
        for (int i = 0; i < text.Length; i++)
        {
            _start.Add(origStart);
            _end!.Add(origEnd);
        }
    }

    public void Append(char c, int origStart, int origEnd)
    {
        _text.Append(c);
        if (_start is null) return;
        _start.Add(origStart);
        _end!.Add(origEnd);
    }

    public void AppendCodePoint(int cp, int origStart, int origEnd)
    {
        if (cp < 0x10000) Append((char)cp, origStart, origEnd);
        else
        {
            int v = cp - 0x10000;
            Append((char)(0xD800 + (v >> 10)), origStart, origEnd);
            Append((char)(0xDC00 + (v & 0x3FF)), origStart, origEnd);
        }
    }

    public Piece Build()
    {
        string text = _text.ToString();
        var nt = _start is null ? NormText.Untracked(text) : NormText.Tracked(text, _start.ToArray(), _end!.ToArray());
        return new Piece(nt, 0, text.Length);
    }
}
