namespace Scalpel.Adapters;

/// <summary>
/// LoRA settings, named as in PEFT's LoraConfig. The adapted linear computes y = W·x + scaling · B·A·dropout(x)
/// with A [rank, in] Kaiming-uniform and B [out, rank] zero at init, so training starts from the base model.
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The linear layers of a Llama-family block, in order.</summary>
    public static IReadOnlyList<string> AllLinear { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16;
    public float Dropout { get; init; }
    /// <summary>rsLoRA: scale by alpha/√rank instead of alpha/rank.</summary>
    public bool UseRsLora { get; init; }
    /// <summary>
    /// DoRA (peft's use_dora): each adapted linear also learns a magnitude m [out], and computes
    /// y = m / ‖W + scaling·B·A‖ ⊙ (W·x + scaling·B·A·x) + bias, the norm row-wise and held constant in backward.
    /// </summary>
    public bool UseDora { get; init; }
    /// <summary>Modules trained in full next to the adapter and saved with it (peft's modules_to_save): embed_tokens, lm_head.</summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = [];
    /// <summary>Module names from <see cref="AllLinear"/>, or the single entry "all-linear".</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj"];

    /// <summary>The modules <see cref="ModulesToSave"/> may name.</summary>
    public static IReadOnlyList<string> SavableModules { get; } = ["embed_tokens", "lm_head"];

    public IReadOnlySet<string> ResolveModulesToSave()
    {
        foreach (string m in ModulesToSave)
            if (!SavableModules.Contains(m))
                throw new ArgumentException($"modules_to_save: '{m}' is not supported; known: {string.Join(", ", SavableModules)}");
        return ModulesToSave.ToHashSet();
    }

    public float Scaling => UseRsLora ? Alpha / MathF.Sqrt(Rank) : Alpha / Rank;

    public IReadOnlySet<string> ResolveTargets()
    {
        if (Rank <= 0) throw new ArgumentException($"LoRA rank must be positive, got {Rank}");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (TargetModules.Count == 1 && TargetModules[0] == "all-linear") return AllLinear.ToHashSet();
        if (TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module");
        foreach (string m in TargetModules)
            if (!AllLinear.Contains(m))
                throw new ArgumentException($"unknown LoRA target module '{m}'; known: {string.Join(", ", AllLinear)} or all-linear");
        return TargetModules.ToHashSet();
    }
}
