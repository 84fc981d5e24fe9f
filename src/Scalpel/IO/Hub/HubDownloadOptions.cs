namespace Scalpel.IO.Hub;

/// <summary>What <see cref="HubClient.DownloadSnapshotAsync"/> fetches and how. Unset values come from the environment
/// the way huggingface_hub reads it (see <see cref="HubEnvironment"/>).</summary>
public sealed class HubDownloadOptions
{
    /// <summary>Branch, tag or commit hash.</summary>
    public string Revision { get; init; } = "main";

    /// <summary>fnmatch-style globs (<c>*.safetensors</c>, <c>tokenizer*</c>, <c>sub/</c> = everything under sub/); a file is
    /// fetched when any matches. Null or empty: every file.</summary>
    public IReadOnlyList<string>? Include { get; init; }

    /// <summary>The hub cache folder (the one holding <c>models--org--name</c>). Null: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub.</summary>
    public string? CacheDir { get; init; }

    /// <summary>Hub base URL. Null: HF_ENDPOINT, else https://huggingface.co.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Access token sent as <c>Authorization: Bearer</c> to the endpoint's host only. Null: HF_TOKEN, else the token file.</summary>
    public string? Token { get; init; }

    /// <summary>Never touch the network; serve from the cache. Null: HF_HUB_OFFLINE.</summary>
    public bool? Offline { get; init; }

    /// <summary>Files transferred at once.</summary>
    public int MaxParallelDownloads { get; init; } = 4;

    /// <summary>How long a request may wait for response headers, and a transfer may go without receiving a byte.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tries per request for transient failures (5xx, 429, dropped connections, stalls).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Wait before the first retry; doubled for each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Snapshot entries as symlinks into blobs/ (true), as copies (false), or symlinks where the OS allows (null).</summary>
    public bool? UseSymlinks { get; init; }
}

public enum HubProgressKind
{
    /// <summary>The revision resolved to <see cref="HubProgress.Commit"/>; <see cref="HubProgress.FileCount"/> files selected.</summary>
    Resolved,
    /// <summary>Sizes known: <see cref="HubProgress.TotalSize"/> bytes in <see cref="HubProgress.FileCount"/> files to transfer.</summary>
    Planned,
    /// <summary>A transfer of <see cref="HubProgress.File"/> began (or resumed at <see cref="HubProgress.FileBytes"/>).</summary>
    FileStarted,
    /// <summary>Bytes arrived for <see cref="HubProgress.File"/>.</summary>
    Bytes,
    /// <summary><see cref="HubProgress.File"/> is verified and in the snapshot.</summary>
    FileDone,
    /// <summary>A transfer failed and is retried; <see cref="HubProgress.Message"/> says why.</summary>
    Retrying,
    /// <summary>The hub was not used (offline, or unreachable): the snapshot comes from the cache.</summary>
    UsingCache,
}

/// <summary>One progress event. Reported from several download tasks at once: an <see cref="IProgress{T}"/> must be thread-safe.</summary>
public readonly record struct HubProgress(
    HubProgressKind Kind,
    string? File = null,
    long FileBytes = 0,
    long? FileSize = null,
    long TotalBytes = 0,
    long TotalSize = 0,
    int FileCount = 0,
    string? Commit = null,
    string? Message = null);
