namespace Scalpel.Text.Tokenization.Unicode;

internal enum NormalForm { Nfc, Nfd, Nfkc, Nfkd }

/// <summary>
/// Unicode normalization (UAX #15) with Scalpel's own tables (see generate_normalization_data.py): .NET built with
/// InvariantGlobalization leaves non-ASCII text unnormalized. Works chunk by chunk: a chunk starts at a code point
/// that can neither change nor interact with what precedes it, so text that is already normalized is only scanned.
/// The chunk-level entry point reports, for every output code point, how it consumes the input (see NormalizeChunk);
/// the tokenizer uses that to map token offsets back to the original text as Hugging Face does.
/// </summary>
internal static class UnicodeNormalizer
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed class Tables
    {
        public readonly byte[] CccBmp = new byte[0x10000];
        public readonly Dictionary<int, byte> CccAstral = new();
        public readonly Dictionary<int, int[]> Canonical = new();
        public readonly Dictionary<int, int[]> Compat = new();
        public readonly Dictionary<long, int> Compose = new();
        public readonly ulong[] NfcUnstableBmp = new ulong[1024];
        public readonly ulong[] NfkcUnstableBmp = new ulong[1024];
        public (int Start, int End)[] NfcUnstableAstral = [];
        public (int Start, int End)[] NfkcUnstableAstral = [];
    }

    private static readonly Lazy<Tables> Data = new(Load);

    private static Tables Load()
    {
        byte[] blob = Convert.FromBase64String(UnicodeNormalizationData.Blob);
        int pos = 0;
        int Next()
        {
            int v = 0, shift = 0;
            while (true)
            {
                byte b = blob[pos++];
                v |= (b & 0x7F) << shift;
                if (b < 0x80) return v;
                shift += 7;
            }
        }
        var t = new Tables();
        for (int n = Next(); n > 0; n--)
        {
            int start = Next(), length = Next(), ccc = Next();
            for (int cp = start; cp < start + length; cp++)
                if (cp < 0x10000) t.CccBmp[cp] = (byte)ccc; else t.CccAstral[cp] = (byte)ccc;
        }
        for (int n = Next(); n > 0; n--)
        {
            int cp = Next(), kind = Next(), length = Next();
            var seq = new int[length];
            for (int i = 0; i < length; i++) seq[i] = Next();
            (kind == 0 ? t.Canonical : t.Compat)[cp] = seq;
        }
        for (int n = Next(); n > 0; n--)
        {
            int a = Next(), b = Next(), c = Next();
            t.Compose[((long)a << 21) | (uint)b] = c;
        }
        t.NfcUnstableAstral = ReadUnstable(t.NfcUnstableBmp);
        t.NfkcUnstableAstral = ReadUnstable(t.NfkcUnstableBmp);
        return t;

        (int, int)[] ReadUnstable(ulong[] bmp)
        {
            var astral = new List<(int, int)>();
            for (int n = Next(); n > 0; n--)
            {
                int start = Next(), length = Next();
                for (int cp = start; cp < start + length && cp < 0x10000; cp++) bmp[cp >> 6] |= 1UL << (cp & 63);
                if (start + length > 0x10000) astral.Add((Math.Max(start, 0x10000), start + length));
            }
            return astral.ToArray();
        }
    }

    public static int CombiningClass(int cp)
    {
        var t = Data.Value;
        if (cp < 0x10000) return t.CccBmp[cp];
        return t.CccAstral.TryGetValue(cp, out byte c) ? c : 0;
    }

    private static bool IsComposing(NormalForm form) => form is NormalForm.Nfc or NormalForm.Nfkc;
    private static bool IsCompat(NormalForm form) => form is NormalForm.Nfkc or NormalForm.Nfkd;

    /// <summary>
    /// True when <paramref name="cp"/> starts a new chunk and is left as it is: for NFC/NFKC a starter whose
    /// quick-check is Yes; for NFD/NFKD a starter without decomposition.
    /// </summary>
    public static bool IsStable(int cp, NormalForm form)
    {
        if (cp < 0xA0) return true;
        var t = Data.Value;
        switch (form)
        {
            case NormalForm.Nfc:
            case NormalForm.Nfkc:
                bool compat = form == NormalForm.Nfkc;
                if (cp < 0x10000)
                    return ((compat ? t.NfkcUnstableBmp : t.NfcUnstableBmp)[cp >> 6] & (1UL << (cp & 63))) == 0;
                foreach (var (s, e) in compat ? t.NfkcUnstableAstral : t.NfcUnstableAstral)
                    if (cp >= s && cp < e) return false;
                return true;
            default:
                if (CombiningClass(cp) != 0) return false;
                if (cp >= SBase && cp < SBase + SCount) return false;
                return !t.Canonical.ContainsKey(cp) && !(form == NormalForm.Nfkd && t.Compat.ContainsKey(cp));
        }
    }

    /// <summary>Normalizes a whole string (no offsets); returns the same instance when nothing changes.</summary>
    public static string Normalize(string s, NormalForm form)
    {
        int i = 0;
        while (i < s.Length && IsStable(CodePointAt(s, i, out _), form)) i += char.IsSurrogatePair(s, i) ? 2 : 1;
        if (i == s.Length) return s;
        var input = new List<int>();
        var output = new List<int>();
        var changes = new List<int>();
        var sb = new System.Text.StringBuilder(s.Length + 8);
        // back up to the start of the chunk holding the first unstable code point
        int chunkStart = PreviousChunkStart(s, i, form);
        sb.Append(s, 0, chunkStart);
        int p = chunkStart;
        while (p < s.Length)
        {
            int end = ChunkEnd(s, p, form);
            int first = CodePointAt(s, p, out int firstWidth);
            if (end - p == firstWidth && IsStable(first, form))
            {
                sb.Append(s, p, end - p);
                p = end;
                continue;
            }
            input.Clear();
            for (int k = p; k < end;)
            {
                input.Add(CodePointAt(s, k, out int w));
                k += w;
            }
            NormalizeChunk(input, form, output, changes);
            foreach (int cp in output) AppendCodePoint(sb, cp);
            p = end;
        }
        string result = sb.ToString();
        return result == s ? s : result;
    }

    /// <summary>Index where the chunk containing position <paramref name="i"/> starts (the last stable code point at or before it).</summary>
    public static int PreviousChunkStart(string s, int i, NormalForm form)
    {
        int j = i;
        while (j > 0)
        {
            if (IsStable(CodePointAt(s, j, out _), form)) return j;
            j--;
            if (j > 0 && char.IsLowSurrogate(s[j]) && char.IsHighSurrogate(s[j - 1])) j--;
        }
        return 0;
    }

    /// <summary>End of the chunk starting at <paramref name="start"/>: the next stable code point after it.</summary>
    public static int ChunkEnd(string s, int start, NormalForm form)
    {
        CodePointAt(s, start, out int w);
        int k = start + w;
        while (k < s.Length)
        {
            int cp = CodePointAt(s, k, out w);
            if (IsStable(cp, form)) break;
            k += w;
        }
        return k;
    }

    /// <summary>Code point at <paramref name="i"/>; a lone surrogate reads as itself (it is stable and passes through).</summary>
    public static int CodePointAt(string s, int i, out int width)
    {
        char c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        width = 1;
        return c;
    }

    public static void AppendCodePoint(System.Text.StringBuilder sb, int cp)
    {
        if (cp < 0x10000) sb.Append((char)cp);
        else
        {
            cp -= 0x10000;
            sb.Append((char)(0xD800 + (cp >> 10)));
            sb.Append((char)(0xDC00 + (cp & 0x3FF)));
        }
    }

    /// <summary>
    /// Normalizes one chunk of code points into <paramref name="output"/>, with Hugging Face's alignment bookkeeping
    /// (the unicode-normalization-alignments crate behind NormalizedString::nfc and friends): changes[j] is 0 when
    /// output[j] stands for the next input code point, +1 when it is inserted (the 2nd, 3rd... code point of a
    /// decomposition), and -n when it also swallows the n input code points after it (a composite absorbing marks).
    /// Reordering moves code points but not the input positions they are aligned with.
    /// </summary>
    public static void NormalizeChunk(List<int> input, NormalForm form, List<int> output, List<int> changes)
    {
        output.Clear();
        changes.Clear();
        var t = Data.Value;
        bool compat = IsCompat(form);
        // 1. full decomposition
        foreach (int cp in input)
        {
            if (cp >= SBase && cp < SBase + SCount)
            {
                int sIndex = cp - SBase;
                output.Add(LBase + sIndex / NCount); changes.Add(0);
                output.Add(VBase + sIndex % NCount / TCount); changes.Add(1);
                int tIndex = sIndex % TCount;
                if (tIndex != 0) { output.Add(TBase + tIndex); changes.Add(1); }
                continue;
            }
            if ((compat && t.Compat.TryGetValue(cp, out var seq)) || t.Canonical.TryGetValue(cp, out seq))
            {
                for (int k = 0; k < seq.Length; k++) { output.Add(seq[k]); changes.Add(k == 0 ? 0 : 1); }
            }
            else
            {
                output.Add(cp);
                changes.Add(0);
            }
        }
        // 2. canonical ordering: stable sort of every run of non-starters by combining class
        for (int i = 1; i < output.Count; i++)
        {
            int cc = CombiningClass(output[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0)
            {
                int prev = CombiningClass(output[j - 1]);
                if (prev == 0 || prev <= cc) break;
                (output[j - 1], output[j]) = (output[j], output[j - 1]);
                (changes[j - 1], changes[j]) = (changes[j], changes[j - 1]);
                j--;
            }
        }
        if (!IsComposing(form) || output.Count < 2) return;
        // 3. canonical composition
        int starter = CombiningClass(output[0]) == 0 ? 0 : -1;
        int lastClass = starter == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < output.Count; read++)
        {
            int cp = output[read];
            int cc = CombiningClass(cp);
            if (starter >= 0 && (lastClass < cc || lastClass == 0) && TryCompose(t, output[starter], cp, out int composite))
            {
                output[starter] = composite;
                changes[starter] += changes[read] - 1;
                continue;
            }
            if (cc == 0) starter = write;
            lastClass = cc;
            output[write] = cp;
            changes[write] = changes[read];
            write++;
        }
        output.RemoveRange(write, output.Count - write);
        changes.RemoveRange(write, changes.Count - write);
    }

    private static bool TryCompose(Tables t, int a, int b, out int composite)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return t.Compose.TryGetValue(((long)a << 21) | (uint)b, out composite);
    }
}
