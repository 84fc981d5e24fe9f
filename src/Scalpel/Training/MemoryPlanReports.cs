using System.Text.Json.Nodes;

namespace Scalpel.Training;

/// <summary>
/// A <see cref="MemoryPlan"/> for people and tools, one wording for the CLI and the MCP server: the JSON that
/// <c>scalpel train --dry-run --json</c> prints and <c>estimate_training</c> answers (the refusal is
/// <see cref="MemoryPlan.Refusal"/>).
/// </summary>
public static class MemoryPlanReports
{
    /// <summary>Bytes per item, the peak, whether it fits, advice, and the time estimate when the plan has one.</summary>
    public static JsonObject ToJson(this MemoryPlan plan)
    {
        var items = new JsonObject();
        foreach (var item in plan.Items) items[item.Name.Replace(' ', '_') + "_bytes"] = item.Bytes;
        var result = new JsonObject
        {
            ["tokens_per_micro_batch"] = plan.TokensPerMicroBatch,
            ["items"] = items,
            ["weights_bytes"] = plan["base weights"],
            ["adapter_bytes"] = plan["adapter"],
            ["gradients_bytes"] = plan["gradients"],
            ["optimizer_bytes"] = plan["optimizer"],
            ["activations_bytes"] = plan["activations"] + plan["backward scratch"],
            ["load_peak_bytes"] = plan.LoadPeakBytes,
            ["peak_bytes"] = plan.PeakBytes,
            ["available_bytes"] = plan.AvailableBytes,
            ["fits"] = plan.Fits,
            ["advice"] = new JsonArray(plan.Advice.Select(a => (JsonNode)a).ToArray()),
        };
        if (plan.Time is { } t)
            result["time"] = new JsonObject
            {
                ["steps"] = t.Steps, ["tokens_per_step"] = t.TokensPerStep, ["tokens_per_second"] = Math.Round(t.TokensPerSecond, 1),
                ["seconds"] = Math.Round(t.Duration.TotalSeconds), ["basis"] = t.Basis,
            };
        return result;
    }
}
