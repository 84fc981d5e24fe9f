using System.Security.Cryptography;

namespace Scalpel.Training.Runs;

/// <summary>Where a run stands. <see cref="Interrupted"/>: the process ended without saying how (killed, crashed, Ctrl-C).</summary>
public enum RunStatus { Running, Completed, Stopped, Failed, Interrupted }

/// <summary>
/// One row of the runs registry: enough to list and find a run; everything else lives in its run folder.
/// Times are UTC. <see cref="Stopped"/> in <see cref="Status"/> means early stopping ended it.
/// </summary>
public sealed record RunRecord
{
    /// <summary>12 lowercase hex digits (see <see cref="NewId"/>); commands accept any unique prefix.</summary>
    public required string Id { get; init; }
    /// <summary>A human name, e.g. the run folder's name.</summary>
    public string? Name { get; init; }
    public required string RunDirectory { get; init; }
    public string? ConfigPath { get; init; }
    /// <summary>The base model (its folder or hub id).</summary>
    public string? Model { get; init; }
    /// <summary>The training data (its file).</summary>
    public string? Dataset { get; init; }
    /// <summary>"lora" or "full".</summary>
    public string? Method { get; init; }
    public RunStatus Status { get; init; } = RunStatus.Running;
    public required DateTime StartedUtc { get; init; }
    public DateTime? EndedUtc { get; init; }
    public double? BestValLoss { get; init; }
    public int? BestStep { get; init; }
    /// <summary>Optimizer steps done so far.</summary>
    public int Steps { get; init; }
    /// <summary>Training time (may be less than ended − started when a run was resumed).</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>The process that runs it and its machine: a "running" row whose process is gone reads as interrupted.
    /// <see cref="RunRegistry.Register"/> fills them with the current process when left null.</summary>
    public int? ProcessId { get; init; }
    public string? Host { get; init; }

    /// <summary>A fresh random id: 12 hex digits (48 bits), unique in practice and short enough to type a prefix of.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public static string StatusName(RunStatus status) => status.ToString().ToLowerInvariant();

    public static RunStatus ParseStatus(string text) => text switch
    {
        "running" => RunStatus.Running,
        "completed" => RunStatus.Completed,
        "stopped" => RunStatus.Stopped,
        "failed" => RunStatus.Failed,
        "interrupted" => RunStatus.Interrupted,
        _ => throw new FormatException($"unknown run status '{text}'; known: running, completed, stopped, failed, interrupted"),
    };
}
