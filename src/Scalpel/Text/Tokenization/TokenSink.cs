namespace Scalpel.Text.Tokenization;

/// <summary>Where encoding puts its tokens: ids, and original [start, end) offsets when tracking.</summary>
internal sealed class TokenSink
{
    public int[] Ids = new int[256];
    public int[] Starts = [];
    public int[] Ends = [];
    public int Count;
    public bool Track;

    public void Reset(bool track)
    {
        Count = 0;
        Track = track;
        if (track && Starts.Length < Ids.Length)
        {
            Starts = new int[Ids.Length];
            Ends = new int[Ids.Length];
        }
    }

    private void Grow(int needed)
    {
        int size = Math.Max(Ids.Length * 2, needed);
        Array.Resize(ref Ids, size);
        if (Track)
        {
            Array.Resize(ref Starts, size);
            Array.Resize(ref Ends, size);
        }
    }

    public void Add(int id, int start, int end)
    {
        if (Count == Ids.Length) Grow(Count + 1);
        Ids[Count] = id;
        if (Track)
        {
            Starts[Count] = start;
            Ends[Count] = end;
        }
        Count++;
    }

    public void AddRange(ReadOnlySpan<int> ids)
    {
        if (Count + ids.Length > Ids.Length) Grow(Count + ids.Length);
        ids.CopyTo(Ids.AsSpan(Count));
        Count += ids.Length;
    }
}
