using System.Security.Cryptography;

namespace Scalpel.Server.Jobs;

/// <summary>Where a fine-tuning job stands: validating_files → queued → running → succeeded | failed | cancelled.</summary>
public enum JobStatus { ValidatingFiles, Queued, Running, Succeeded, Failed, Cancelled }

public static class JobStatuses
{
    public static string Name(JobStatus s) => s switch
    {
        JobStatus.ValidatingFiles => "validating_files",
        JobStatus.Queued => "queued",
        JobStatus.Running => "running",
        JobStatus.Succeeded => "succeeded",
        JobStatus.Failed => "failed",
        JobStatus.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    public static JobStatus Parse(string name) => name switch
    {
        "validating_files" => JobStatus.ValidatingFiles,
        "queued" => JobStatus.Queued,
        "running" => JobStatus.Running,
        "succeeded" => JobStatus.Succeeded,
        "failed" => JobStatus.Failed,
        "cancelled" => JobStatus.Cancelled,
        _ => throw new FormatException($"unknown job status '{name}'"),
    };

    public static bool IsFinal(JobStatus s) => s is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;

    public static readonly JobStatus[] Active = [JobStatus.ValidatingFiles, JobStatus.Queued, JobStatus.Running];
}

/// <summary>Why a job failed, in OpenAI's shape: a code, a message (file, line and reason for bad data), the parameter at fault.</summary>
public sealed record JobError(string Code, string Message, string? Param);

/// <summary>One fine-tuning job as stored. Times are Unix seconds.</summary>
public sealed record JobRecord
{
    public required string Id { get; init; }
    /// <summary>The base model id (the served base folder's name).</summary>
    public required string Model { get; init; }
    public required string TrainingFile { get; init; }
    public string? ValidationFile { get; init; }
    public string? Suffix { get; init; }
    public required int Seed { get; init; }
    public JobStatus Status { get; init; } = JobStatus.ValidatingFiles;
    public required long CreatedAt { get; init; }
    public long? FinishedAt { get; init; }
    public string? FineTunedModel { get; init; }
    public long? TrainedTokens { get; init; }
    /// <summary>JSON object n_epochs / batch_size / learning_rate_multiplier: as requested ("auto" or a number) until the
    /// files are validated, then the values the run uses.</summary>
    public required string Hyperparameters { get; init; }
    /// <summary>JSON object of string values given at creation, or null.</summary>
    public string? Metadata { get; init; }
    public JobError? Error { get; init; }
    /// <summary>The training config (YAML, absolute paths) fixed when the files were validated.</summary>
    public string? ConfigYaml { get; init; }
    /// <summary>The worker running the job ("host/pid/start"), while it runs.</summary>
    public string? Worker { get; init; }
    public long? HeartbeatAt { get; init; }
}

/// <summary>A line of a job's log: type "message" or "metrics" (with <see cref="Data"/>, a JSON object).</summary>
public sealed record JobEvent(string Id, string JobId, long CreatedAt, string Level, string Message, string Type, string? Data);

/// <summary>A checkpoint of a job's run: its step and the metrics logged at that step (a JSON object).</summary>
public sealed record JobCheckpoint(string Id, string JobId, long CreatedAt, int Step, string Metrics);

/// <summary>One page of a list, newest first, and whether older items follow.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, bool HasMore);

/// <summary>Random object ids (<c>file-…</c>, <c>ftjob-…</c>): 24 letters and digits after the prefix.</summary>
public static class ObjectIds
{
    public const int RandomLength = 24;
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string New(string prefix) => prefix + RandomNumberGenerator.GetString(Alphabet, RandomLength);

    /// <summary>Whether <paramref name="id"/> has the shape of an id made by <see cref="New"/>: only then may it name a file or folder.</summary>
    public static bool IsValid(string? id, string prefix) =>
        id is not null && id.Length == prefix.Length + RandomLength && id.StartsWith(prefix, StringComparison.Ordinal)
        && id.AsSpan(prefix.Length).IndexOfAnyExcept(Alphabet) < 0;

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
