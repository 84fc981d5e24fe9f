namespace Scalpel.Server;

/// <summary>How <c>scalpel serve</c> runs.</summary>
public sealed record ServerOptions
{
    /// <summary>The base model folder served (and fine-tuned by jobs).</summary>
    public required string ModelDirectory { get; init; }
    /// <summary>PEFT adapter folders served next to the base, each as a model id (its folder name).</summary>
    public IReadOnlyList<string> Adapters { get; init; } = [];
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (the "listening on" line says which).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>Uploaded files, job runs and the job database live here.</summary>
    public string DataDirectory { get; init; } = "scalpel-data";
    /// <summary>Accepted bearer keys; none = no authentication, loopback only.</summary>
    public IReadOnlyList<string> ApiKeys { get; init; } = [];
    /// <summary>Origins allowed by CORS; empty = CORS off.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Requests waiting for a decoding slot before new ones get HTTP 429.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Sequences decoded together in one batch.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>Tokens one request may hold (prompt + answer); null = the model's max_position_embeddings, at most 4096.
    /// Each of the <see cref="MaxBatch"/> decoding slots keeps a KV cache this long.</summary>
    public int? ContextLength { get; init; }
    /// <summary>Adapters kept loaded at once (least recently used ones are unloaded past it, never one in use).</summary>
    public int MaxLoadedAdapters { get; init; } = 8;
    /// <summary>Largest request body (uploads included), bytes.</summary>
    public long MaxBodyBytes { get; init; } = 512L << 20;
    /// <summary>The job database: null = SQLite at DATA/scalpel.db; <c>postgres://USER:PASSWORD@HOST:PORT/DB</c> = PostgreSQL.</summary>
    public string? Database { get; init; }
    /// <summary>Fine-tuning jobs save a checkpoint every this many steps (null = the training config default); a
    /// server killed mid-job resumes from the last one.</summary>
    public int? JobCheckpointInterval { get; init; }

    /// <summary>Folders the MCP tools at /mcp may touch; empty = the data folder alone.</summary>
    public IReadOnlyList<string> McpRoots { get; init; } = [];
    /// <summary>Where the run registry of MCP training runs lives (runs.db); null = SCALPEL_HOME or ~/.scalpel, as for scalpel mcp.</summary>
    public string? McpHome { get; init; }

    public static bool IsLoopback(string host) => host is "127.0.0.1" or "localhost" or "::1" or "[::1]";
}
