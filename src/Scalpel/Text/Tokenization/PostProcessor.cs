namespace Scalpel.Text.Tokenization;

/// <summary>
/// What tokenizer.json's post_processor does to a single sequence: TemplateProcessing's special tokens before and
/// after it (only with add_special_tokens), and ByteLevel's trim_offsets. Sequence processors compose.
/// </summary>
internal sealed class PostProcessor
{
    public static readonly PostProcessor None = new([], [], trimOffsets: false, addPrefixSpace: false);

    public PostProcessor(int[] prefix, int[] suffix, bool trimOffsets, bool addPrefixSpace)
    {
        Prefix = prefix;
        Suffix = suffix;
        TrimOffsets = trimOffsets;
        AddPrefixSpace = addPrefixSpace;
    }

    /// <summary>Special token ids before the sequence.</summary>
    public int[] Prefix { get; }
    /// <summary>Special token ids after the sequence.</summary>
    public int[] Suffix { get; }
    public bool TrimOffsets { get; }
    public bool AddPrefixSpace { get; }

    /// <summary>This processor, then <paramref name="outer"/> around its result.</summary>
    public PostProcessor Then(PostProcessor outer) =>
        new([.. outer.Prefix, .. Prefix], [.. Suffix, .. outer.Suffix], TrimOffsets || outer.TrimOffsets, TrimOffsets ? AddPrefixSpace : outer.AddPrefixSpace);

    /// <summary>ByteLevel's process_offsets: leading and trailing spaces of each token leave its offsets.</summary>
    public static void TrimSpaces(TokenSink sink, Func<int, (int Leading, int Trailing)> spaces, bool addPrefixSpace)
    {
        for (int i = 0; i < sink.Count; i++)
        {
            var (leading, trailing) = spaces(sink.Ids[i]);
            int start = sink.Starts[i], end = sink.Ends[i];
            if (leading > 0)
            {
                bool isFirst = i == 0 || start == 0;
                if (isFirst && addPrefixSpace && leading == 1) leading = 0;
                start = Math.Min(start + leading, end);
            }
            if (trailing > 0 && end >= trailing) end = Math.Max(end - trailing, start);
            sink.Starts[i] = start;
            sink.Ends[i] = end;
        }
    }
}
