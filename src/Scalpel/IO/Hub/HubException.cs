namespace Scalpel.IO.Hub;

/// <summary>
/// A Hub download failed in a way a user can act on (authentication, missing repository or file, network, a corrupt
/// transfer). The message is one line naming the repository and, where there is one, the file; never the token.
/// </summary>
public sealed class HubException : IOException
{
    public HubException(string message, Exception? inner = null) : base(message, inner) { }

    internal HubException(string message, HubFailure kind, Exception? inner = null) : base(message, inner) => Kind = kind;

    /// <summary>Why it failed, as far as retrying and the offline fallback care.</summary>
    internal HubFailure Kind { get; }
}

internal enum HubFailure
{
    /// <summary>Retrying will not help (401, 404, a checksum mismatch, a malformed answer).</summary>
    Permanent,
    /// <summary>Worth another try: 5xx, 429, a dropped connection, a stalled transfer.</summary>
    Transient,
    /// <summary>The endpoint could not be reached at all (refused, no such host, connect timeout): try the cache.</summary>
    Unreachable,
}
