using System.Text.Json;

namespace Scalpel.Data;

/// <summary>
/// A histogram of non-negative lengths in constant memory: exact below 16, then 8 buckets per power of two
/// (≤ 12.5 % wide), so percentiles are within one bucket. Min, max and mean are exact.
/// </summary>
public sealed class LengthHistogram
{
    private const int Fine = 16 + 60 * 8;
    private readonly long[] _counts = new long[Fine];

    public long Count { get; private set; }
    public long Min { get; private set; } = long.MaxValue;
    public long Max { get; private set; }
    public double Sum { get; private set; }
    public double Mean => Count == 0 ? 0 : Sum / Count;

    public void Add(long value)
    {
        if (value < 0) value = 0;
        _counts[Index(value)]++;
        Count++;
        Sum += value;
        if (value < Min) Min = value;
        if (value > Max) Max = value;
    }

    private static int Index(long v)
    {
        if (v < 16) return (int)v;
        int octave = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)v);   // ≥ 4
        int sub = (int)(v >> (octave - 3)) & 7;
        return Math.Min(16 + (octave - 4) * 8 + sub, Fine - 1);
    }

    private static (long Low, long High) Range(int index)
    {
        if (index < 16) return (index, index);
        int octave = (index - 16) / 8 + 4, sub = (index - 16) % 8;
        long low = (8L + sub) << (octave - 3);
        return (low, ((9L + sub) << (octave - 3)) - 1);
    }

    /// <summary>The value at quantile q (0..1): exact below 16, else the middle of its bucket, clamped to [min, max].</summary>
    public long Percentile(double q)
    {
        if (Count == 0) return 0;
        long rank = (long)Math.Ceiling(q * Count);
        if (rank < 1) rank = 1;
        long seen = 0;
        for (int i = 0; i < Fine; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                var (lo, hi) = Range(i);
                return Math.Clamp((lo + hi) / 2, Min, Max);
            }
        }
        return Max;
    }

    /// <summary>Counts per power-of-two range: [0], [1], [2,3], [4,7], ... (only non-empty ranges).</summary>
    public IReadOnlyList<(long Low, long High, long Count)> Buckets()
    {
        var result = new List<(long, long, long)>();
        long zero = _counts[0];
        if (zero > 0) result.Add((0, 0, zero));
        for (int octave = 0; octave < 63; octave++)
        {
            long low = 1L << octave, high = (low << 1) - 1, count = 0;
            for (long v = low; v <= Math.Min(high, 15); v++) count += _counts[v];
            if (high >= 16)
                for (int i = 16; i < Fine; i++)
                {
                    var (lo, _) = Range(i);
                    if (lo >= low && lo <= high) count += _counts[i];
                }
            if (count > 0) result.Add((low, high, count));
            if (low > Max) break;
        }
        return result;
    }

    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("count", Count);
        w.WriteNumber("min", Count == 0 ? 0 : Min);
        w.WriteNumber("max", Max);
        w.WriteNumber("mean", Math.Round(Mean, 2));
        w.WriteNumber("p50", Percentile(0.5));
        w.WriteNumber("p90", Percentile(0.9));
        w.WriteNumber("p99", Percentile(0.99));
        w.WriteStartArray("histogram");
        foreach (var (low, high, count) in Buckets())
        {
            w.WriteStartObject();
            w.WriteNumber("from", low);
            w.WriteNumber("to", high);
            w.WriteNumber("count", count);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

/// <summary>Counts and length distributions of a dataset (lengths in characters and words; tokens come with a tokenizer).</summary>
public sealed class DatasetStats
{
    public long Bytes { get; internal set; }
    public long Records { get; internal set; }
    public long ValidExamples { get; internal set; }
    public long ExamplesWithErrors { get; internal set; }
    public long ChatExamples { get; internal set; }
    public long PreferenceExamples { get; internal set; }
    public long TextExamples { get; internal set; }
    public long Messages { get; internal set; }
    public Dictionary<string, long> Roles { get; } = new(StringComparer.Ordinal);
    /// <summary>Assistant messages trained on (weight absent or 1) and those with weight 0.</summary>
    public long TrainedAssistantMessages { get; internal set; }
    public long UntrainedAssistantMessages { get; internal set; }
    public long ToolCalls { get; internal set; }
    public long ExamplesWithTools { get; internal set; }
    public long ExamplesWithSystemPrompt { get; internal set; }

    public LengthHistogram MessagesPerExample { get; } = new();
    public LengthHistogram ExampleChars { get; } = new();
    public LengthHistogram ExampleWords { get; } = new();
    /// <summary>The answer: the last trained assistant message (the chosen one for preference pairs).</summary>
    public LengthHistogram AnswerChars { get; } = new();
    public LengthHistogram AnswerWords { get; } = new();

    public long Duplicates { get; internal set; }
    public long NearDuplicates { get; internal set; }
    public long LeakedExamples { get; internal set; }
    public long NearLeakedExamples { get; internal set; }
    /// <summary>When the answers form a small set of labels: count per label; otherwise null.</summary>
    public IReadOnlyDictionary<string, long>? Labels { get; internal set; }
    /// <summary>The LSH parameters used for near-duplicates (null when off).</summary>
    public (double Threshold, int Bands, int Rows)? NearDuplicateSearch { get; internal set; }
    /// <summary>Token counts when a tokenizer was given (check --model); null otherwise.</summary>
    public TokenStats? Tokens { get; internal set; }

    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("bytes", Bytes);
        w.WriteNumber("records", Records);
        w.WriteNumber("valid_examples", ValidExamples);
        w.WriteNumber("examples_with_errors", ExamplesWithErrors);
        w.WriteNumber("chat_examples", ChatExamples);
        w.WriteNumber("preference_examples", PreferenceExamples);
        w.WriteNumber("text_examples", TextExamples);
        w.WriteNumber("messages", Messages);
        w.WriteStartObject("roles");
        foreach (var (role, count) in Roles.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteNumber(role, count);
        w.WriteEndObject();
        w.WriteNumber("trained_assistant_messages", TrainedAssistantMessages);
        w.WriteNumber("untrained_assistant_messages", UntrainedAssistantMessages);
        w.WriteNumber("tool_calls", ToolCalls);
        w.WriteNumber("examples_with_tools", ExamplesWithTools);
        w.WriteNumber("examples_with_system_prompt", ExamplesWithSystemPrompt);
        w.WritePropertyName("messages_per_example"); MessagesPerExample.WriteJson(w);
        w.WritePropertyName("example_chars"); ExampleChars.WriteJson(w);
        w.WritePropertyName("example_words"); ExampleWords.WriteJson(w);
        w.WritePropertyName("answer_chars"); AnswerChars.WriteJson(w);
        w.WritePropertyName("answer_words"); AnswerWords.WriteJson(w);
        w.WriteNumber("duplicates", Duplicates);
        w.WriteNumber("near_duplicates", NearDuplicates);
        w.WriteNumber("leaked_examples", LeakedExamples);
        w.WriteNumber("near_leaked_examples", NearLeakedExamples);
        if (NearDuplicateSearch is var (t, b, r))
        {
            w.WriteStartObject("near_duplicate_search");
            w.WriteNumber("threshold", t);
            w.WriteNumber("bands", b);
            w.WriteNumber("rows", r);
            w.WriteNumber("num_hashes", TextFingerprinter.NumHashes);
            w.WriteEndObject();
        }
        else w.WriteNull("near_duplicate_search");
        if (Labels is null) w.WriteNull("labels");
        else
        {
            w.WriteStartObject("labels");
            foreach (var (label, count) in Labels.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteNumber(label, count);
            w.WriteEndObject();
        }
        if (Tokens is null) w.WriteNull("tokens");
        else { w.WritePropertyName("tokens"); Tokens.WriteJson(w); }
        w.WriteEndObject();
    }
}
