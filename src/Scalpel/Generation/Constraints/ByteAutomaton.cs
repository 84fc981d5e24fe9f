namespace Scalpel.Generation.Constraints;

/// <summary>A piece of an <see cref="Nfa"/> with one way in and one way out; <see cref="End"/> has no edges of its own yet.</summary>
internal readonly record struct Fragment(int Start, int End);

/// <summary>
/// A nondeterministic automaton over bytes, built from fragments (Thompson's construction): states joined by byte-range
/// edges and empty (ε) edges. Grammars are written as this and compiled to a <see cref="ByteDfa"/>.
/// </summary>
internal sealed class Nfa(int maxStates)
{
    private readonly List<List<(byte Lo, byte Hi, int To)>> _edges = [];
    private readonly List<List<int>> _empty = [];

    public int StateCount => _edges.Count;
    public List<(byte Lo, byte Hi, int To)> Edges(int state) => _edges[state];
    public List<int> EmptyEdges(int state) => _empty[state];

    public int NewState()
    {
        if (_edges.Count >= maxStates)
            throw new NotSupportedException($"the grammar needs more than {maxStates} automaton states; use smaller maxItems or less nesting");
        _edges.Add([]);
        _empty.Add([]);
        return _edges.Count - 1;
    }

    public void Edge(int from, byte lo, byte hi, int to) => _edges[from].Add((lo, hi, to));
    public void Edge(int from, char c, int to) => Edge(from, (byte)c, (byte)c, to);
    public void Empty(int from, int to) => _empty[from].Add(to);

    public Fragment Literal(ReadOnlySpan<byte> bytes)
    {
        int start = NewState(), at = start;
        foreach (byte b in bytes)
        {
            int next = NewState();
            Edge(at, b, b, next);
            at = next;
        }
        return new Fragment(start, at);
    }

    public Fragment Literal(string ascii) => Literal(System.Text.Encoding.UTF8.GetBytes(ascii));

    /// <summary>One byte from any of the inclusive ranges.</summary>
    public Fragment Bytes(params (byte Lo, byte Hi)[] ranges)
    {
        int start = NewState(), end = NewState();
        foreach (var (lo, hi) in ranges) Edge(start, lo, hi, end);
        return new Fragment(start, end);
    }

    public Fragment Sequence(params Fragment[] parts)
    {
        for (int i = 1; i < parts.Length; i++) Empty(parts[i - 1].End, parts[i].Start);
        return new Fragment(parts[0].Start, parts[^1].End);
    }

    public Fragment Choice(IEnumerable<Fragment> options)
    {
        int start = NewState(), end = NewState();
        foreach (var o in options)
        {
            Empty(start, o.Start);
            Empty(o.End, end);
        }
        return new Fragment(start, end);
    }

    public Fragment Optional(Fragment f)
    {
        Empty(f.Start, f.End);
        return f;
    }

    /// <summary>Between <paramref name="min"/> and <paramref name="max"/> copies of what <paramref name="make"/> builds, one after another.</summary>
    public Fragment Repeat(Func<Fragment> make, int min, int max)
    {
        int start = NewState(), at = start;
        var exits = new List<int>();
        for (int i = 0; i < max; i++)
        {
            if (i >= min) exits.Add(at);
            var f = make();
            Empty(at, f.Start);
            at = f.End;
        }
        int end = NewState();
        Empty(at, end);
        foreach (int e in exits) Empty(e, end);
        return new Fragment(start, end);
    }
}

/// <summary>
/// A deterministic automaton over bytes with every state able to reach acceptance (dead states removed, so a walk that
/// stays inside the automaton can always be finished). Bytes that no state tells apart share a class, so the table is
/// states × classes. State 0 is the start.
/// </summary>
internal sealed class ByteDfa
{
    public const int Reject = -1;

    /// <summary>Byte → class (0 .. ClassCount-1).</summary>
    public readonly byte[] ClassOf;
    public readonly int ClassCount;
    /// <summary>[state * ClassCount + class] → next state, or <see cref="Reject"/>.</summary>
    public readonly int[] Next;
    public readonly bool[] Accepting;
    /// <summary>The state has at least one byte to go on with.</summary>
    public readonly bool[] HasNext;

    private ByteDfa(byte[] classOf, int classCount, int[] next, bool[] accepting)
    {
        ClassOf = classOf;
        ClassCount = classCount;
        Next = next;
        Accepting = accepting;
        HasNext = new bool[accepting.Length];
        for (int s = 0; s < accepting.Length; s++)
        {
            for (int c = 0; c < classCount; c++)
            {
                if (next[s * classCount + c] != Reject) { HasNext[s] = true; break; }
            }
        }
    }

    public int StateCount => Accepting.Length;

    public int Step(int state, byte b) => Next[state * ClassCount + ClassOf[b]];

    /// <summary>The state after <paramref name="bytes"/>, or <see cref="Reject"/>.</summary>
    public int Walk(int state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = Step(state, b);
            if (state < 0) return Reject;
        }
        return state;
    }

    /// <summary>
    /// Subset construction from <paramref name="start"/> (accepting where <paramref name="accept"/> is reached), then
    /// removal of states that cannot reach acceptance. Throws when nothing is accepted or the table would pass the limits.
    /// </summary>
    public static ByteDfa Build(Nfa nfa, int start, int accept, int maxStates = 200_000, long maxTableEntries = 16_000_000)
    {
        // Byte classes: intervals between the edges' range boundaries.
        var cut = new bool[257];
        cut[0] = cut[256] = true;
        for (int s = 0; s < nfa.StateCount; s++)
        {
            foreach (var (lo, hi, _) in nfa.Edges(s))
            {
                cut[lo] = true;
                cut[hi + 1] = true;
            }
        }
        var classOf = new byte[256];
        int classes = 0;
        for (int b = 0; b < 256; b++)
        {
            if (cut[b] && b > 0) classes++;
            classOf[b] = (byte)classes;
        }
        classes++;

        var ids = new Dictionary<StateSet, int>();
        var sets = new List<int[]>();
        var rows = new List<int[]>();
        var mark = new int[nfa.StateCount];
        int markStamp = 0;
        var stack = new Stack<int>();

        int[] Closure(IEnumerable<int> seeds)
        {
            markStamp++;
            var result = new List<int>();
            foreach (int s in seeds)
            {
                if (mark[s] == markStamp) continue;
                mark[s] = markStamp;
                stack.Push(s);
            }
            while (stack.Count > 0)
            {
                int s = stack.Pop();
                result.Add(s);
                foreach (int t in nfa.EmptyEdges(s))
                {
                    if (mark[t] == markStamp) continue;
                    mark[t] = markStamp;
                    stack.Push(t);
                }
            }
            var arr = result.ToArray();
            Array.Sort(arr);
            return arr;
        }

        int Intern(int[] set)
        {
            var key = new StateSet(set);
            if (ids.TryGetValue(key, out int id)) return id;
            if (sets.Count >= maxStates || (long)(sets.Count + 1) * classes > maxTableEntries)
                throw new NotSupportedException($"the grammar compiles to more than {sets.Count} automaton states; use smaller maxItems or less nesting");
            id = sets.Count;
            ids.Add(key, id);
            sets.Add(set);
            return id;
        }

        Intern(Closure([start]));
        var byClass = new List<int>[classes];
        for (int c = 0; c < classes; c++) byClass[c] = [];
        for (int d = 0; d < sets.Count; d++)
        {
            foreach (var list in byClass) list.Clear();
            foreach (int s in sets[d])
            {
                foreach (var (lo, hi, to) in nfa.Edges(s))
                {
                    for (int c = classOf[lo]; c <= classOf[hi]; c++) byClass[c].Add(to);
                }
            }
            var row = new int[classes];
            for (int c = 0; c < classes; c++) row[c] = byClass[c].Count == 0 ? Reject : Intern(Closure(byClass[c]));
            rows.Add(row);
        }

        // Keep the states from which acceptance can be reached.
        int n = sets.Count;
        var accepting = new bool[n];
        for (int d = 0; d < n; d++) accepting[d] = Array.BinarySearch(sets[d], accept) >= 0;
        var incoming = new List<int>[n];
        for (int d = 0; d < n; d++) incoming[d] = [];
        for (int d = 0; d < n; d++)
        {
            foreach (int t in rows[d])
            {
                if (t != Reject) incoming[t].Add(d);
            }
        }
        var live = new bool[n];
        var work = new Stack<int>();
        for (int d = 0; d < n; d++)
        {
            if (accepting[d]) { live[d] = true; work.Push(d); }
        }
        while (work.Count > 0)
        {
            foreach (int p in incoming[work.Pop()])
            {
                if (live[p]) continue;
                live[p] = true;
                work.Push(p);
            }
        }
        if (!live[0]) throw new NotSupportedException("the grammar accepts no output at all");

        var renumber = new int[n];
        int m = 0;
        for (int d = 0; d < n; d++) renumber[d] = live[d] ? m++ : Reject;
        var next = new int[m * classes];
        var acc = new bool[m];
        for (int d = 0; d < n; d++)
        {
            if (!live[d]) continue;
            int r = renumber[d];
            acc[r] = accepting[d];
            for (int c = 0; c < classes; c++)
            {
                int t = rows[d][c];
                next[r * classes + c] = t == Reject ? Reject : renumber[t];
            }
        }
        return new ByteDfa(classOf, classes, next, acc);
    }

    /// <summary>A sorted set of NFA states as a dictionary key.</summary>
    private readonly struct StateSet(int[] states) : IEquatable<StateSet>
    {
        private readonly int[] _states = states;
        private readonly int _hash = HashOf(states);

        private static int HashOf(int[] states)
        {
            var h = new HashCode();
            foreach (int s in states) h.Add(s);
            return h.ToHashCode();
        }

        public bool Equals(StateSet other) => _hash == other._hash && _states.AsSpan().SequenceEqual(other._states);
        public override bool Equals(object? obj) => obj is StateSet o && Equals(o);
        public override int GetHashCode() => _hash;
    }
}
