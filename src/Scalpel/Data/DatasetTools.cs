namespace Scalpel.Data;

/// <summary>Options shared by convert, dedupe and split.</summary>
public sealed record DatasetToolOptions
{
    public DatasetReadOptions Read { get; init; } = new();
    /// <summary>Drop records with errors instead of refusing to write anything.</summary>
    public bool SkipInvalid { get; init; }
    /// <summary>Near-duplicate threshold (estimated Jaccard over word 3-shingles); outside (0, 1] only exact duplicates count.</summary>
    public double NearDuplicateThreshold { get; init; } = 0.8;
    /// <summary>Errors kept in the result (the count is the true total).</summary>
    public int MaxErrors { get; init; } = 1000;
}

/// <summary>What a tool did. When <see cref="Refused"/>, nothing was written.</summary>
public sealed class DatasetToolResult
{
    public required IssueLog Errors { get; init; }
    public DataFormat? Format { get; init; }
    public long Records { get; init; }
    public long Written { get; init; }
    public long Invalid { get; init; }
    public long ExactDuplicates { get; init; }
    public long NearDuplicates { get; init; }
    /// <summary>True when the input had errors and <see cref="DatasetToolOptions.SkipInvalid"/> was off: no file was written.</summary>
    public bool Refused { get; init; }
    /// <summary>Files written, with the records in each.</summary>
    public IReadOnlyList<(string Path, long Count)> Outputs { get; init; } = [];
    /// <summary>Split only: examples per label per output (when stratified).</summary>
    public IReadOnlyDictionary<string, long[]>? LabelCounts { get; init; }
}

/// <summary>convert, dedupe and split: streaming tools over a dataset file that write JSONL atomically.</summary>
public static class DatasetTools
{
    /// <summary>
    /// Any supported format → OpenAI chat JSONL (preference pairs → OpenAI preference JSONL; plain text stays
    /// {"text": ...} JSONL, having no conversation).
    /// </summary>
    public static DatasetToolResult Convert(string input, string output, DatasetToolOptions? options = null)
    {
        options ??= new DatasetToolOptions();
        var errors = new IssueLog(options.MaxErrors);
        long records = 0, invalid = 0;
        using var reader = DatasetReader.Open(input, options.Read);
        using var writer = new JsonlWriter(output);
        foreach (var record in reader.Read())
        {
            foreach (var e in record.Errors) errors.Add(e);
            if (!record.IsRecord) continue;
            records++;
            switch (record.Example)
            {
                case null: invalid++; break;
                case ChatExample chat: writer.Write(chat.ToJson(ChatJsonOptions.OpenAi)); break;
                case PreferenceExample pair: writer.Write(pair.ToJson(ChatJsonOptions.OpenAi)); break;
                case TextExample text: writer.Write(new System.Text.Json.Nodes.JsonObject { ["text"] = text.Text }); break;
            }
        }
        return Finish(writer, errors, reader.Format, records, invalid, options, []);
    }

    private static DatasetToolResult Finish(JsonlWriter writer, IssueLog errors, DataFormat? format, long records, long invalid,
                                            DatasetToolOptions options, IReadOnlyList<(string, long)> extra, long exact = 0, long near = 0)
    {
        bool refused = errors.Count > 0 && (!options.SkipInvalid || writer.Count == 0);
        if (!refused) writer.Commit();
        return new DatasetToolResult
        {
            Errors = errors, Format = format, Records = records, Written = refused ? 0 : writer.Count, Invalid = invalid, Refused = refused,
            ExactDuplicates = exact, NearDuplicates = near,
            Outputs = refused ? [] : [(writer.Path, writer.Count), .. extra],
        };
    }

    /// <summary>Drops exact duplicates (normalised text) and near-duplicates of earlier kept records; keeps the records as they were.</summary>
    public static DatasetToolResult Dedupe(string input, string output, DatasetToolOptions? options = null)
    {
        options ??= new DatasetToolOptions();
        var errors = new IssueLog(options.MaxErrors);
        var seen = new HashIntMap();
        var near = options.NearDuplicateThreshold is > 0 and <= 1 ? new NearDuplicateIndex(options.NearDuplicateThreshold) : null;
        var features = new FeatureExtractor();
        long records = 0, invalid = 0, exactDrops = 0, nearDrops = 0;
        using var reader = DatasetReader.Open(input, options.Read);
        reader.WithFeatures = true;
        using var writer = new JsonlWriter(output);
        foreach (var record in reader.Read())
        {
            foreach (var e in record.Errors) errors.Add(e);
            if (!record.IsRecord) continue;
            records++;
            if (record.Example is null) { invalid++; continue; }
            var f = record.Features ?? features.Extract(record.Example);
            seen.GetOrAdd(f.Exact, (int)record.Line, out bool duplicate);
            if (duplicate) { exactDrops++; continue; }
            if (near is not null && f.HasSignature)
            {
                if (near.TryFind(f.Signature, out _, out _)) { nearDrops++; continue; }
                near.Add(f.Signature, (int)record.Line);
            }
            writer.WriteRaw(record.Json);
        }
        return Finish(writer, errors, reader.Format, records, invalid, options, [], exactDrops, nearDrops);
    }

    /// <summary>The file names of a split with this many parts.</summary>
    public static IReadOnlyList<string> SplitNames(int parts) => parts switch
    {
        2 => ["train", "validation"],
        3 => ["train", "validation", "test"],
        _ => throw new ArgumentException("a split has 2 (train, validation) or 3 (train, validation, test) ratios"),
    };

    /// <summary>
    /// Splits into train/validation(/test) JSONL files in <paramref name="outDir"/> by <paramref name="ratios"/>, deterministic
    /// from <paramref name="seed"/>. Exact duplicates are dropped; near-duplicates are kept together in one split (so
    /// no example leaks across splits); when the answers form labels, each label is split by the ratios (stratified).
    /// Records are written as they were read, in file order within each split.
    /// </summary>
    public static DatasetToolResult Split(string input, string outDir, IReadOnlyList<double> ratios, ulong seed, DatasetToolOptions? options = null)
    {
        options ??= new DatasetToolOptions();
        var names = SplitNames(ratios.Count);
        if (ratios.Any(r => !(r >= 0)) || Math.Abs(ratios.Sum() - 1) > 1e-6 || ratios[0] <= 0)
            throw new ArgumentException($"split ratios must be ≥ 0, sum to 1 and give train a share; got {string.Join(",", ratios)}");

        // Pass 1: which records are kept, their near-duplicate group and label.
        var errors = new IssueLog(options.MaxErrors);
        var seen = new HashIntMap();
        var near = options.NearDuplicateThreshold is > 0 and <= 1 ? new NearDuplicateIndex(options.NearDuplicateThreshold) : null;
        var features = new FeatureExtractor();
        var groupOf = new List<int>();       // per record: group id, -1 when dropped or invalid
        var groupSize = new List<int>();
        var groupLabel = new List<int>();    // per group: label id of its first member (-1: none)
        var labelIds = new Dictionary<string, int>(StringComparer.Ordinal);
        bool labelsPossible = true;
        long records = 0, invalid = 0, exactDrops = 0, nearJoins = 0;
        DataFormat? format;
        using (var reader = DatasetReader.Open(input, options.Read))
        {
            reader.WithFeatures = true;
            foreach (var record in reader.Read())
            {
                foreach (var e in record.Errors) errors.Add(e);
                if (!record.IsRecord) continue;
                records++;
                if (record.Example is null) { invalid++; groupOf.Add(-1); continue; }
                var f = record.Features ?? features.Extract(record.Example);
                int index = groupOf.Count;
                seen.GetOrAdd(f.Exact, index, out bool duplicate);
                if (duplicate) { exactDrops++; groupOf.Add(-1); continue; }
                int group = -1;
                if (near is not null && f.HasSignature)
                {
                    if (near.TryFind(f.Signature, out int other, out _)) { group = groupOf[other]; nearJoins++; }
                    else near.Add(f.Signature, index);
                }
                if (group < 0)
                {
                    group = groupSize.Count;
                    groupSize.Add(0);
                    int label = -1;
                    if (labelsPossible && f.Answer is not null)
                    {
                        string key = TextFingerprinter.Normalize(f.Answer);
                        if (key.Length > 40) labelsPossible = false;
                        else if (!labelIds.TryGetValue(key, out label))
                        {
                            label = labelIds.Count;
                            labelIds[key] = label;
                            if (labelIds.Count > 50) labelsPossible = false;
                        }
                    }
                    else labelsPossible = false;
                    groupLabel.Add(label);
                }
                groupSize[group]++;
                groupOf.Add(group);
            }
            format = reader.Format;
        }
        bool refused = errors.Count > 0 && (!options.SkipInvalid || records == invalid);
        if (refused)
            return new DatasetToolResult { Errors = errors, Format = format, Records = records, Invalid = invalid, Refused = true, ExactDuplicates = exactDrops };

        long kept = groupSize.Sum(s => (long)s);
        bool stratified = labelsPossible && labelIds.Count >= 2 && labelIds.Count <= Math.Max(2, kept / 4);

        // Assign groups to splits: per stratum, shuffled from the seed, each to the split furthest below its share.
        var splitOfGroup = new int[groupSize.Count];
        var strata = new Dictionary<int, List<int>>();
        for (int g = 0; g < groupSize.Count; g++)
        {
            int key = stratified ? groupLabel[g] : 0;
            if (!strata.TryGetValue(key, out var list)) strata[key] = list = [];
            list.Add(g);
        }
        ulong state = seed ^ 0x5DEECE66DUL;
        foreach (var key in strata.Keys.Order())
        {
            var groups = strata[key];
            for (int i = groups.Count - 1; i > 0; i--)
            {
                int j = (int)(Next(ref state) % (ulong)(i + 1));
                (groups[i], groups[j]) = (groups[j], groups[i]);
            }
            long total = groups.Sum(g => (long)groupSize[g]);
            var filled = new long[ratios.Count];
            foreach (int g in groups)
            {
                int best = 0;
                double bestDeficit = double.NegativeInfinity;
                for (int s = 0; s < ratios.Count; s++)
                {
                    double deficit = ratios[s] * total - filled[s];
                    if (deficit > bestDeficit + 1e-9) { bestDeficit = deficit; best = s; }
                }
                splitOfGroup[g] = best;
                filled[best] += groupSize[g];
            }
        }

        // Pass 2: write each kept record to its split.
        Directory.CreateDirectory(outDir);
        var writers = names.Select(n => new JsonlWriter(Path.Combine(outDir, n + ".jsonl"))).ToArray();
        Dictionary<string, long[]>? labelCounts = stratified ? labelIds.ToDictionary(kv => kv.Key, _ => new long[ratios.Count], StringComparer.Ordinal) : null;
        var labelNames = labelIds.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
        try
        {
            using (var reader = DatasetReader.Open(input, options.Read))
            {
                int index = 0;
                foreach (var record in reader.Read())
                {
                    if (!record.IsRecord) continue;
                    int group = index < groupOf.Count ? groupOf[index] : -1;
                    index++;
                    if (group < 0) continue;
                    int split = splitOfGroup[group];
                    writers[split].WriteRaw(record.Json);
                    if (labelCounts is not null) labelCounts[labelNames[groupLabel[group]]][split]++;
                }
            }
            foreach (var w in writers) w.Commit();
            return new DatasetToolResult
            {
                Errors = errors, Format = format, Records = records, Invalid = invalid, Written = writers.Sum(w => w.Count),
                ExactDuplicates = exactDrops, NearDuplicates = nearJoins, Outputs = writers.Select(w => (w.Path, w.Count)).ToArray(),
                LabelCounts = labelCounts,
            };
        }
        finally
        {
            foreach (var w in writers) w.Dispose();
        }
    }

    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
