using System.Globalization;
using System.Text;

namespace Scalpel.Training.Config;

/// <summary>
/// Writes a <see cref="TrainConfig"/> as YAML with every field explicit, in the documented order: the run
/// folder's config snapshot. Strings are double-quoted (YAML escapes), numbers round-trip ("R"), unset optional
/// fields are written as null, so parsing the text gives back an equal config.
/// </summary>
internal static class TrainConfigYaml
{
    public static string Write(TrainConfig c)
    {
        var w = new StringBuilder();
        w.Append("# Scalpel training config: every field explicit, paths absolute. Fields: docs/config.md\n");
        Section(w, "model");
        Field(w, 1, "path", Str(c.Model.Path));
        Field(w, 1, "precision", TrainConfigNames.Name(c.Model.Precision));
        Field(w, 1, "quantize", TrainConfigNames.Name(c.Model.Quantize));

        Section(w, "data");
        Field(w, 1, "train", Str(c.Data.Train));
        Field(w, 1, "validation", Str(c.Data.Validation));
        Field(w, 1, "format", TrainConfigNames.Name(c.Data.Format));
        Field(w, 1, "train_on", TrainConfigNames.Name(c.Data.TrainOn));
        Field(w, 1, "max_length", Num(c.Data.MaxLength));
        Field(w, 1, "truncation", TrainConfigNames.Name(c.Data.Truncation));
        Field(w, 1, "packing", Bool(c.Data.Packing));
        Field(w, 1, "validation_split", Num(c.Data.ValidationSplit));

        Field(w, 0, "method", TrainConfigNames.Name(c.Method));

        Section(w, "lora");
        Field(w, 1, "rank", Num(c.Lora.Rank));
        Field(w, 1, "alpha", Num(c.Lora.Alpha));
        Field(w, 1, "dropout", Num(c.Lora.Dropout));
        Field(w, 1, "target_modules", "[" + string.Join(", ", c.Lora.TargetModules.Select(Str)) + "]");
        Field(w, 1, "use_rslora", Bool(c.Lora.UseRslora));
        Field(w, 1, "use_dora", Bool(c.Lora.UseDora));
        Field(w, 1, "loraplus_lr_ratio", Num(c.Lora.LoraplusLrRatio));
        Field(w, 1, "modules_to_save", "[" + string.Join(", ", c.Lora.ModulesToSave.Select(Str)) + "]");
        Field(w, 1, "init_from", Str(c.Lora.InitFrom));

        var t = c.Training;
        Section(w, "training");
        Field(w, 1, "epochs", Num(t.Epochs));
        Field(w, 1, "max_steps", Num(t.MaxSteps));
        Field(w, 1, "batch_size", Num(t.BatchSize));
        Field(w, 1, "tokens_per_batch", Num(t.TokensPerBatch));
        Field(w, 1, "gradient_accumulation", Num(t.GradientAccumulation));
        Field(w, 1, "lr", Num(t.Lr));
        Field(w, 1, "schedule", TrainConfigNames.Name(t.Schedule));
        Field(w, 1, "warmup_steps", Num(t.WarmupSteps));
        Field(w, 1, "warmup_ratio", Num(t.WarmupRatio));
        Field(w, 1, "min_lr_ratio", Num(t.MinLrRatio));
        Field(w, 1, "weight_decay", Num(t.WeightDecay));
        Field(w, 1, "max_grad_norm", Num(t.MaxGradNorm));
        Field(w, 1, "beta1", Num(t.Beta1));
        Field(w, 1, "beta2", Num(t.Beta2));
        Field(w, 1, "eps", Num(t.Eps));
        Field(w, 1, "seed", Num(t.Seed));
        Field(w, 1, "gradient_checkpointing", Bool(t.GradientCheckpointing));

        Section(w, "validation");
        Field(w, 1, "interval", Num(c.Validation.Interval));
        w.Append("  early_stopping:\n");
        var es = c.Validation.EarlyStopping;
        Field(w, 2, "metric", TrainConfigNames.Name(es.Metric));
        Field(w, 2, "patience", Num(es.Patience));
        Field(w, 2, "min_delta", Num(es.MinDelta));

        Section(w, "checkpoints");
        Field(w, 1, "interval", Num(c.Checkpoints.Interval));
        Field(w, 1, "keep", Num(c.Checkpoints.Keep));

        Section(w, "output");
        Field(w, 1, "dir", Str(c.Output.Dir));
        return w.ToString();
    }

    private static void Section(StringBuilder w, string name) => w.Append(name).Append(":\n");

    private static void Field(StringBuilder w, int depth, string name, string value) =>
        w.Append(' ', 2 * depth).Append(name).Append(": ").Append(value).Append('\n');

    private static string Bool(bool b) => b ? "true" : "false";

    private static string Num(int? n) => n is { } v ? v.ToString(CultureInfo.InvariantCulture) : "null";

    private static string Num(double? d) => d is { } v ? v.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e') : "null";

    /// <summary>A YAML double-quoted scalar: backslash, quote and control characters escaped.</summary>
    internal static string Str(string? s)
    {
        if (s is null) return "null";
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (char ch in s)
        {
            switch (ch)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\t': b.Append("\\t"); break;
                case '\r': b.Append("\\r"); break;
                default:
                    if (char.IsControl(ch) || ch is '\u2028' or '\u2029' or '\uFEFF') b.Append($"\\u{(int)ch:x4}");
                    else b.Append(ch);
                    break;
            }
        }
        return b.Append('"').ToString();
    }
}
