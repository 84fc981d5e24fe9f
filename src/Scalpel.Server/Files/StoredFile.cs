namespace Scalpel.Server.Files;

/// <summary>
/// An uploaded file as stored: its bytes live at <c>DATA/files/ID + Extension</c> (the extension is one of a fixed
/// list, kept so the data layer can tell CSV from JSONL), everything else in the job database. Times are Unix seconds.
/// </summary>
public sealed record StoredFile
{
    public const string IdPrefix = "file-";
    public const string FineTunePurpose = "fine-tune";

    public required string Id { get; init; }
    /// <summary>The name the client gave (metadata only: never part of a path).</summary>
    public required string Filename { get; init; }
    public required string Purpose { get; init; }
    public required long Bytes { get; init; }
    public required long CreatedAt { get; init; }
    /// <summary>OpenAI's file status: "processed" once stored (and checked, for fine-tune files), "error" when the check could not run.</summary>
    public required string Status { get; init; }
    /// <summary>A one-line summary of the data check when it found errors (OpenAI's deprecated status_details).</summary>
    public string? StatusDetails { get; init; }
    /// <summary>Storage suffix: "", ".jsonl", ".json", ".csv", ".tsv", optionally followed by ".gz".</summary>
    public required string Extension { get; init; }
    /// <summary>The data check report (JSON, <see cref="Scalpel.Data.DataReport.ToJson"/> with the file named by its upload name), for fine-tune files.</summary>
    public string? CheckReport { get; init; }
    /// <summary>Errors the data check found (0 when clean or not checked).</summary>
    public long CheckErrors { get; init; }
    /// <summary>The first error, already phrased with the file's name, line and reason; null when clean.</summary>
    public string? FirstError { get; init; }
}
