namespace Scalpel.Training.Config;

/// <summary>
/// Every section and field the config accepts, by dotted YAML path (the keys of <c>--set</c>). Used to reject
/// unknown fields (with a near-miss suggestion) before any value is read; the typed reading is in
/// <see cref="TrainConfigBuilder"/>, and a test checks the two, docs/config.md and ToYaml agree.
/// </summary>
internal static class ConfigSchema
{
    public static readonly IReadOnlyList<string> Sections =
        ["model", "data", "lora", "training", "validation", "validation.early_stopping", "checkpoints", "output"];

    public static readonly IReadOnlyList<string> Fields =
    [
        "model.path", "model.precision", "model.quantize",
        "data.train", "data.validation", "data.format", "data.train_on", "data.max_length", "data.truncation", "data.packing",
        "data.validation_split",
        "method",
        "lora.rank", "lora.alpha", "lora.dropout", "lora.target_modules", "lora.use_rslora", "lora.use_dora",
        "lora.loraplus_lr_ratio", "lora.modules_to_save", "lora.init_from",
        "training.epochs", "training.max_steps", "training.batch_size", "training.tokens_per_batch", "training.gradient_accumulation",
        "training.lr", "training.schedule", "training.warmup_steps", "training.warmup_ratio", "training.min_lr_ratio",
        "training.weight_decay", "training.max_grad_norm", "training.beta1", "training.beta2", "training.eps", "training.seed",
        "training.gradient_checkpointing",
        "validation.interval",
        "validation.early_stopping.metric", "validation.early_stopping.patience", "validation.early_stopping.min_delta",
        "checkpoints.interval", "checkpoints.keep",
        "output.dir",
    ];

    private static readonly HashSet<string> SectionSet = [.. Sections];
    private static readonly HashSet<string> FieldSet = [.. Fields];

    public static bool IsSection(string path) => path.Length == 0 || SectionSet.Contains(path);
    public static bool IsField(string path) => FieldSet.Contains(path);

    /// <summary>The names directly under a section ("" = top level).</summary>
    public static IEnumerable<string> Children(string section) =>
        Sections.Concat(Fields)
            .Where(p => Parent(p) == section)
            .Select(p => section.Length == 0 ? p : p[(section.Length + 1)..]);

    /// <summary>" (did you mean 'training.lr'?)" for a near miss, else the names that are allowed there.</summary>
    public static string Suggest(string unknownPath)
    {
        var sameButCase = Fields.Concat(Sections).FirstOrDefault(p => p.Equals(unknownPath, StringComparison.OrdinalIgnoreCase));
        if (sameButCase is not null) return $" (did you mean '{sameButCase}'?)";

        string parent = Parent(unknownPath);
        string leaf = parent.Length == 0 ? unknownPath : unknownPath[(parent.Length + 1)..];
        string Full(string name) => parent.Length == 0 ? name : parent + "." + name;

        var siblings = Children(parent).ToList();
        var near = siblings
            .Select(s => (Name: s, Distance: EditDistance(leaf.ToLowerInvariant(), s)))
            .Where(c => c.Distance <= Math.Max(1, c.Name.Length / 3) || c.Name.Replace("_", "") == leaf.ToLowerInvariant().Replace("_", "").Replace("-", ""))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        if (near.Name is not null) return $" (did you mean '{Full(near.Name)}'?)";

        // The right name in the wrong section: training.rank → lora.rank.
        var elsewhere = Fields.Concat(Sections).Where(p => p.EndsWith("." + leaf, StringComparison.Ordinal) || p == leaf).ToList();
        if (elsewhere.Count > 0) return $" (did you mean {string.Join(" or ", elsewhere.Select(p => $"'{p}'"))}?)";

        string where = parent.Length == 0 ? "at the top level" : $"in '{parent}'";
        return $"; known {where}: {string.Join(", ", siblings)}";
    }

    private static string Parent(string path)
    {
        int dot = path.LastIndexOf('.');
        return dot < 0 ? "" : path[..dot];
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps (lr ↔ rl).</summary>
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
