using System.Globalization;
using System.Text;
using Scalpel.Data;
using Scalpel.Data.Rendering;
using Scalpel.Models;
using Scalpel.Text;

namespace Scalpel.Training.Config;

/// <summary>What <see cref="StarterConfig"/> measured and chose, for the message the CLI prints.</summary>
public sealed record StarterConfigResult(string Yaml, long Parameters, int Examples, double MeanTokens, int P95Tokens, IReadOnlyList<string> Reasons);

/// <summary>
/// Writes a commented starter config for a model folder and a dataset, with defaults chosen from their sizes:
/// LoRA rank from the amount of data, learning rate from the model size, epochs so that small datasets are seen a
/// few times and large ones once, max_length from the 95th percentile of rendered lengths. Every choice says why.
/// </summary>
public static class StarterConfig
{
    public static StarterConfigResult Create(string modelDir, string trainPath, string? validationPath, string outputDir, string configDirectory)
    {
        var spec = ModelSpec.FromConfigFile(Path.Combine(modelDir, "config.json"));
        long parameters = ParameterCount(spec);

        int examples = 0;
        var lengths = new List<int>();
        Tokenizer? tokenizer = File.Exists(Path.Combine(modelDir, "tokenizer.json")) ? Tokenizer.FromDirectory(modelDir) : null;
        ChatTemplate? template = null;
        try { if (tokenizer is not null) template = ChatTemplate.FromDirectory(modelDir); } catch (Exception e) when (e is TemplateException or IOException) { }
        var renderer = tokenizer is null ? null : new ExampleRenderer(tokenizer, template, new RenderOptions { MaxLength = int.MaxValue });
        var stats = new RenderStats();
        foreach (var example in DatasetReader.ReadExamples(trainPath))
        {
            examples++;
            if (lengths.Count >= 1000) continue;   // lengths from the first 1000 examples are enough to choose max_length
            if (renderer?.Render(example, stats) is { } r) lengths.Add(r.Ids.Length);
            else if (renderer is null) lengths.Add(ApproximateTokens(example));
        }
        lengths.Sort();
        double mean = lengths.Count > 0 ? lengths.Average() : 0;
        int p95 = lengths.Count > 0 ? lengths[Math.Min(lengths.Count - 1, (int)(lengths.Count * 0.95))] : 512;

        var why = new List<string>();
        int rank = examples < 1_000 ? 8 : examples < 20_000 ? 16 : 32;
        why.Add($"lora.rank {rank}: {examples:N0} training examples ({(examples < 1_000 ? "few: a small rank overfits less" : examples < 20_000 ? "a medium dataset" : "many: more capacity helps")})");
        double lr = parameters < 1_000_000_000 ? 3e-4 : parameters < 10_000_000_000 ? 2e-4 : 1e-4;
        why.Add($"training.lr {lr.ToString("G", CultureInfo.InvariantCulture)}: a {parameters / 1e6:N0}M-parameter model (smaller models tolerate larger LoRA rates)");
        int epochs = examples < 500 ? 3 : examples < 5_000 ? 2 : 1;
        why.Add($"training.epochs {epochs}: {(epochs > 1 ? "a small dataset is worth several passes" : "one pass over a large dataset avoids memorising it")}");
        int maxLength = 64;
        while (maxLength < p95 && maxLength < spec.MaxPositions) maxLength *= 2;
        maxLength = Math.Min(Math.Max(maxLength, 64), spec.MaxPositions);
        why.Add($"data.max_length {maxLength}: 95% of examples are ≤ {p95} tokens{(tokenizer is null ? " (estimated at 4 characters a token: no tokenizer.json)" : "")}; longer ones are dropped and counted");
        bool split = validationPath is null && examples >= 100;
        why.Add(validationPath is not null ? "validation: the file you gave, with early stopping on val_loss"
            : split ? "validation: 10% held out from the training file (no validation file given), with early stopping"
            : "validation: none (under 100 examples); add a validation file to get early stopping");

        string R(string path) => Path.GetRelativePath(configDirectory, Path.GetFullPath(path)).Replace('\\', '/');
        var y = new StringBuilder();
        y.AppendLine("# Starter config written by `scalpel init`. Every field: docs/config.md. Why these values:");
        foreach (var w in why) y.AppendLine("#   " + w);
        y.AppendLine("model:");
        y.AppendLine($"  path: {R(modelDir)}");
        y.AppendLine("data:");
        y.AppendLine($"  train: {R(trainPath)}");
        if (validationPath is not null) y.AppendLine($"  validation: {R(validationPath)}");
        else if (split) y.AppendLine("  validation_split: 0.1            # held out from train, seeded");
        y.AppendLine($"  max_length: {maxLength}");
        y.AppendLine("  train_on: assistant              # loss on assistant answers (and their end-of-turn token) only");
        y.AppendLine("method: lora");
        y.AppendLine("lora:");
        y.AppendLine($"  rank: {rank}");
        y.AppendLine($"  alpha: {rank * 2}                        # alpha = 2 × rank, a common starting point");
        y.AppendLine("  dropout: 0.05");
        y.AppendLine("  target_modules: all-linear       # adapters on every linear layer work better than attention alone");
        y.AppendLine("training:");
        y.AppendLine($"  epochs: {epochs}");
        y.AppendLine("  batch_size: 8");
        y.AppendLine("  gradient_accumulation: 2         # 16 examples per optimizer step");
        y.AppendLine($"  lr: {lr.ToString("G", CultureInfo.InvariantCulture)}");
        y.AppendLine("  warmup_ratio: 0.05");
        y.AppendLine("  seed: 42");
        if (validationPath is not null || split)
        {
            y.AppendLine("validation:");
            y.AppendLine("  interval: 50");
            y.AppendLine("  early_stopping:");
            y.AppendLine("    metric: val_loss");
            y.AppendLine("    patience: 3                    # stop after 3 evaluations without improvement");
        }
        y.AppendLine("output:");
        y.AppendLine($"  dir: {R(outputDir)}");
        return new StarterConfigResult(y.ToString(), parameters, examples, mean, p95, why);
    }

    public static long ParameterCount(ModelSpec s)
    {
        long d = s.HiddenSize, q = (long)s.NumHeads * s.HeadDim, kv = (long)s.NumKvHeads * s.HeadDim;
        long perLayer = d * q + 2 * d * kv + q * d + 3 * d * s.IntermediateSize + 2 * d;
        return s.VocabSize * d * (s.TieWordEmbeddings ? 1 : 2) + s.NumLayers * perLayer + d;
    }

    private static int ApproximateTokens(Example example) => example switch
    {
        ChatExample c => c.Messages.Sum(m => (m.Content?.Length ?? 0) + 8) / 4,
        TextExample t => t.Text.Length / 4,
        _ => 64,
    };
}
