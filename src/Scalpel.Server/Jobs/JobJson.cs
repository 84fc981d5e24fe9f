using System.Text.Json.Nodes;

namespace Scalpel.Server.Jobs;

/// <summary>The OpenAI JSON of fine-tuning jobs, their events and checkpoints.</summary>
public static class JobJson
{
    public const string OrganizationId = "org-scalpel";

    public static JsonObject Job(JobRecord j)
    {
        var hyperparameters = JsonNode.Parse(j.Hyperparameters)!;
        return new JsonObject
        {
            ["object"] = "fine_tuning.job",
            ["id"] = j.Id,
            ["model"] = j.Model,
            ["created_at"] = j.CreatedAt,
            ["finished_at"] = j.FinishedAt,
            ["fine_tuned_model"] = j.FineTunedModel,
            ["organization_id"] = OrganizationId,
            ["result_files"] = new JsonArray(),
            ["status"] = JobStatuses.Name(j.Status),
            ["validation_file"] = j.ValidationFile,
            ["training_file"] = j.TrainingFile,
            ["hyperparameters"] = hyperparameters,
            ["trained_tokens"] = j.TrainedTokens,
            ["integrations"] = new JsonArray(),
            ["seed"] = j.Seed,
            ["estimated_finish"] = null,
            ["method"] = new JsonObject
            {
                ["type"] = "supervised",
                ["supervised"] = new JsonObject { ["hyperparameters"] = hyperparameters.DeepClone() },
            },
            ["error"] = j.Error is { } e ? new JsonObject { ["code"] = e.Code, ["message"] = e.Message, ["param"] = e.Param } : null,
            ["user_provided_suffix"] = j.Suffix,
            ["metadata"] = j.Metadata is { } m ? JsonNode.Parse(m) : null,
        };
    }

    public static JsonObject Event(JobEvent e) => new()
    {
        ["object"] = "fine_tuning.job.event",
        ["id"] = e.Id,
        ["created_at"] = e.CreatedAt,
        ["level"] = e.Level,
        ["message"] = e.Message,
        ["data"] = e.Data is { } d ? JsonNode.Parse(d) : null,
        ["type"] = e.Type,
    };

    /// <param name="fineTunedModel">the job's model id (ft:BASE:SUFFIX:JOB), known from the start</param>
    public static JsonObject Checkpoint(JobCheckpoint c, string fineTunedModel) => new()
    {
        ["object"] = "fine_tuning.job.checkpoint",
        ["id"] = c.Id,
        ["created_at"] = c.CreatedAt,
        ["fine_tuned_model_checkpoint"] = $"{fineTunedModel}:ckpt-step-{c.Step}",
        ["step_number"] = c.Step,
        ["metrics"] = JsonNode.Parse(c.Metrics),
        ["fine_tuning_job_id"] = c.JobId,
    };
}
