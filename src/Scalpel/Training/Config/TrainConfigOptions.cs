using Scalpel.Data.Rendering;
using Scalpel.Models;

namespace Scalpel.Training.Config;

/// <summary>How training changes the model (<c>method</c>). QLoRA is LoRA on a base quantized on load (<c>model.quantize</c>).</summary>
public enum TrainingMethod { Lora, Full, Qlora }

/// <summary>How the frozen base's linears are stored (<c>model.quantize</c>).</summary>
public enum BaseQuantization { None, Nf4, Q8_0 }

/// <summary>The dataset file's layout (<c>data.format</c>); <see cref="Auto"/> lets the data layer detect it.</summary>
public enum DataFormat { Auto, Chat, Alpaca, ShareGpt, PromptCompletion, Text, Preference }

public static class DataFormatExtensions
{
    /// <summary>The format to tell the dataset reader, or null to let it detect the format.</summary>
    public static Scalpel.Data.DataFormat? ToReaderFormat(this DataFormat format) => format switch
    {
        DataFormat.Chat => Scalpel.Data.DataFormat.OpenAiChat,
        DataFormat.Alpaca => Scalpel.Data.DataFormat.Alpaca,
        DataFormat.ShareGpt => Scalpel.Data.DataFormat.ShareGpt,
        DataFormat.PromptCompletion => Scalpel.Data.DataFormat.PromptCompletion,
        DataFormat.Text => Scalpel.Data.DataFormat.Text,
        DataFormat.Preference => Scalpel.Data.DataFormat.OpenAiPreference,
        _ => null,
    };
}

/// <summary>Learning-rate shape after warmup (<c>training.schedule</c>).</summary>
public enum LrScheduleKind { Cosine, Linear, Constant }

/// <summary>What early stopping watches (<c>validation.early_stopping.metric</c>).</summary>
public enum EarlyStoppingMetric { ValLoss, ValAccuracy }

/// <summary>The YAML spelling of every enum value the config accepts, in the order the docs list them.</summary>
public static class TrainConfigNames
{
    internal static readonly (string Name, WeightPrecision Value)[] Precision =
        [("auto", WeightPrecision.Auto), ("f32", WeightPrecision.F32), ("bf16", WeightPrecision.BF16)];
    internal static readonly (string Name, TrainingMethod Value)[] Method =
        [("lora", TrainingMethod.Lora), ("full", TrainingMethod.Full), ("qlora", TrainingMethod.Qlora)];
    internal static readonly (string Name, BaseQuantization Value)[] Quantize =
        [("none", BaseQuantization.None), ("nf4", BaseQuantization.Nf4), ("q8_0", BaseQuantization.Q8_0)];
    internal static readonly (string Name, DataFormat Value)[] Format =
    [
        ("auto", DataFormat.Auto), ("chat", DataFormat.Chat), ("alpaca", DataFormat.Alpaca), ("sharegpt", DataFormat.ShareGpt),
        ("prompt_completion", DataFormat.PromptCompletion), ("text", DataFormat.Text), ("preference", DataFormat.Preference),
    ];
    internal static readonly (string Name, LossScope Value)[] TrainOnValues =
        [("assistant", LossScope.Assistant), ("all", LossScope.All), ("last_assistant", LossScope.LastAssistant)];
    internal static readonly (string Name, TruncationPolicy Value)[] TruncationValues =
        [("drop", TruncationPolicy.Drop), ("truncate_prompt_left", TruncationPolicy.TruncatePromptLeft), ("truncate_answer", TruncationPolicy.TruncateAnswer)];
    internal static readonly (string Name, LrScheduleKind Value)[] Schedule =
        [("cosine", LrScheduleKind.Cosine), ("linear", LrScheduleKind.Linear), ("constant", LrScheduleKind.Constant)];
    internal static readonly (string Name, EarlyStoppingMetric Value)[] Metric =
        [("val_loss", EarlyStoppingMetric.ValLoss), ("val_accuracy", EarlyStoppingMetric.ValAccuracy)];

    /// <summary>Values that are known but not implemented yet, with the reason shown to the user.</summary>
    internal static readonly IReadOnlyDictionary<string, string> NotYetSupportedMethods =
        new Dictionary<string, string>();

    public static string Name(WeightPrecision v) => NameOf(Precision, v);
    public static string Name(TrainingMethod v) => NameOf(Method, v);
    public static string Name(BaseQuantization v) => NameOf(Quantize, v);
    public static string Name(DataFormat v) => NameOf(Format, v);
    public static string Name(LossScope v) => NameOf(TrainOnValues, v);
    public static string Name(TruncationPolicy v) => NameOf(TruncationValues, v);
    public static string Name(LrScheduleKind v) => NameOf(Schedule, v);
    public static string Name(EarlyStoppingMetric v) => NameOf(Metric, v);

    private static string NameOf<T>((string Name, T Value)[] table, T value) where T : struct, Enum
    {
        foreach (var (name, v) in table)
            if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        throw new ArgumentOutOfRangeException(nameof(value), value, null);
    }
}
