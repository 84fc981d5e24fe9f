using Scalpel.Generation;

namespace Scalpel.Cli.Commands;

/// <summary>The sampling and length flags shared by <c>generate</c> and <c>chat</c>.</summary>
internal static class GenerationArgs
{
    public static readonly string[] ValueFlags =
        ["--model", "--adapter", "--max-tokens", "--temperature", "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed", "--stop", "--system"];

    public const string Usage =
        "  --model DIR              Hugging Face model folder (config.json, safetensors, tokenizer.json)\n" +
        "  --adapter DIR            a PEFT LoRA adapter, applied unmerged\n" +
        "  --system TEXT            system prompt\n" +
        "  --max-tokens N           at most N new tokens (default 256)\n" +
        "  --temperature T          0 = greedy; default: generation_config.json's when it samples, else greedy\n" +
        "  --top-k K  --top-p P  --min-p P  --repetition-penalty R  --seed S\n" +
        "  --stop TEXT              end the answer at TEXT (repeatable)";

    /// <summary>The sampling settings: generation_config.json's defaults, each overridden by its flag.</summary>
    public static SamplingOptions Sampling(CommandArgs args, SamplingOptions defaults)
    {
        var s = defaults;
        if (args.Has("--temperature")) s = s with { Temperature = args.Float("--temperature", 1f, 0f, 100f) };
        else if (s.IsGreedy && (args.Has("--top-k") || args.Has("--top-p") || args.Has("--min-p") || args.Has("--seed")))
            s = s with { Temperature = 1f };               // asking for a sampling filter means sampling
        return s with
        {
            TopK = args.Int("--top-k", s.TopK, 0, int.MaxValue),
            TopP = args.Float("--top-p", s.TopP, 1e-6f, 1f),
            MinP = args.Float("--min-p", s.MinP, 0f, 1f),
            RepetitionPenalty = args.Float("--repetition-penalty", s.RepetitionPenalty, 1e-3f, 100f),
            Seed = args.ULong("--seed", s.Seed),
        };
    }

    public static InferenceModel Load(CommandArgs args) => InferenceModel.Load(args.Required("--model"), args.Value("--adapter"));
}
