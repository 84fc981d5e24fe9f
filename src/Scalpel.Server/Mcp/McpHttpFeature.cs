using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Scalpel.Training.Runs;

namespace Scalpel.Server.Mcp;

/// <summary>
/// MCP over Streamable HTTP at <c>/mcp</c> on <c>scalpel serve</c>: the same tools and resources as <c>scalpel mcp</c>,
/// behind the server's bearer keys (the auth middleware covers /mcp as it covers /v1). The roots are
/// <see cref="ServerOptions.McpRoots"/>, or the data folder when none are given.
/// </summary>
/// <remarks>
/// The SDK's ASP.NET Core package is not used (it is not in this build's package feed): the Core SDK's
/// <see cref="StreamableHttpServerTransport"/> does the protocol work per session, and this class only routes
/// POST / GET / DELETE to the session named by the Mcp-Session-Id header, as the MCP spec's Streamable HTTP
/// transport describes.
/// </remarks>
internal sealed class McpHttpFeature : IServerFeature
{
    public void ConfigureServices(IServiceCollection services, ServerOptions options) =>
        services.AddSingleton(_ => new McpHttpSessions(options));

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        var sessions = app.Services.GetRequiredService<McpHttpSessions>();
        app.MapPost("/mcp", sessions.Post);
        app.MapGet("/mcp", sessions.Get);
        app.MapDelete("/mcp", sessions.Delete);
    }
}

/// <summary>The MCP sessions of one serve process; every session shares the roots, the runs and the jobs.</summary>
internal sealed class McpHttpSessions : IAsyncDisposable
{
    private const string SessionHeader = "Mcp-Session-Id";

    /// <summary>A session nobody has used for this long (no request in flight, no event stream open) is ended.</summary>
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromHours(2);

    private sealed class Session(StreamableHttpServerTransport transport, McpServer server, Task running)
    {
        public StreamableHttpServerTransport Transport { get; } = transport;
        public McpServer Server { get; } = server;
        public Task Running { get; } = running;
        /// <summary>Requests and event streams open now.</summary>
        public int Open;
        public long LastUsedTicks = Environment.TickCount64;

        public void Enter()
        {
            Interlocked.Increment(ref Open);
            Volatile.Write(ref LastUsedTicks, Environment.TickCount64);
        }

        public void Leave()
        {
            Volatile.Write(ref LastUsedTicks, Environment.TickCount64);
            Interlocked.Decrement(ref Open);
        }

        public bool Idle(TimeSpan timeout) =>
            Volatile.Read(ref Open) == 0 && Environment.TickCount64 - Volatile.Read(ref LastUsedTicks) > timeout.TotalMilliseconds;
    }

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly McpRoots _roots;
    private readonly McpRuns _runs;

    public McpHttpSessions(ServerOptions options)
    {
        var folders = options.McpRoots.Count > 0 ? options.McpRoots : [Directory.CreateDirectory(options.DataDirectory).FullName];
        _roots = new McpRoots(folders);
        _runs = new McpRuns(RunRegistry.DefaultPath(options.McpHome));
    }

    public IReadOnlyList<string> Roots => _roots.Folders;

    public async Task Post(HttpContext context)
    {
        var accept = context.Request.Headers.Accept.ToString();
        if (!accept.Contains("application/json", StringComparison.Ordinal) || !accept.Contains("text/event-stream", StringComparison.Ordinal))
        {
            await Error(context, 406, "Not Acceptable: the client must accept both application/json and text/event-stream");
            return;
        }
        JsonRpcMessage? message;
        try { message = await JsonSerializer.DeserializeAsync<JsonRpcMessage>(context.Request.Body, McpJsonUtilities.DefaultOptions, context.RequestAborted); }
        catch (JsonException e)
        {
            await Error(context, 400, $"Bad Request: the body is not a JSON-RPC message ({e.Message})", -32700);
            return;
        }
        if (message is null)
        {
            await Error(context, 400, "Bad Request: the body is not a JSON-RPC message", -32700);
            return;
        }

        Session? session;
        string? id = context.Request.Headers[SessionHeader];
        if (string.IsNullOrEmpty(id))
        {
            if (message is not JsonRpcRequest { Method: RequestMethods.Initialize })
            {
                await Error(context, 400, $"Bad Request: a request other than initialize needs the {SessionHeader} header");
                return;
            }
            (id, session) = Start();
        }
        else if (!_sessions.TryGetValue(id, out session))
        {
            await Error(context, 404, $"Not Found: no MCP session {id} (it ended, or the server restarted): initialize again");
            return;
        }

        context.Response.Headers[SessionHeader] = id;
        context.Response.Headers.CacheControl = "no-cache,no-store";
        context.Response.ContentType = "text/event-stream";
        bool answered;
        session.Enter();
        try { answered = await session.Transport.HandlePostRequestAsync(message, context.Response.Body, context.RequestAborted); }
        finally { session.Leave(); }
        if (!answered && !context.Response.HasStarted)
        {
            // A notification or a response from the client: nothing to answer.
            context.Response.ContentType = null;
            context.Response.StatusCode = StatusCodes.Status202Accepted;
        }
    }

    /// <summary>The standalone event stream of a session: server messages not tied to a request.</summary>
    public async Task Get(HttpContext context)
    {
        if (!context.Request.Headers.Accept.ToString().Contains("text/event-stream", StringComparison.Ordinal))
        {
            await Error(context, 406, "Not Acceptable: the client must accept text/event-stream");
            return;
        }
        if (Find(context) is not { } session)
        {
            await Error(context, context.Request.Headers.ContainsKey(SessionHeader) ? 404 : 400, $"a GET needs the {SessionHeader} of a live session");
            return;
        }
        context.Response.Headers[SessionHeader] = session.Transport.SessionId;
        context.Response.Headers.CacheControl = "no-cache,no-store";
        context.Response.ContentType = "text/event-stream";
        await context.Response.Body.FlushAsync(context.RequestAborted);
        session.Enter();
        try { await session.Transport.HandleGetRequestAsync(context.Response.Body, context.RequestAborted); }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { }
        finally { session.Leave(); }
    }

    /// <summary>The client ends its session. Runs and jobs it started keep going: they belong to the server.</summary>
    public async Task Delete(HttpContext context)
    {
        string? id = context.Request.Headers[SessionHeader];
        if (string.IsNullOrEmpty(id) || !_sessions.TryRemove(id, out var session))
        {
            await Error(context, 404, $"Not Found: no MCP session {id}");
            return;
        }
        await End(session);
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    private (string Id, Session Session) Start()
    {
        // Clients that vanish without a DELETE leave sessions behind; a new session is the moment to sweep them.
        foreach (var (staleId, stale) in _sessions)
            if (stale.Idle(IdleTimeout) && _sessions.TryRemove(staleId, out _)) _ = End(stale);
        string id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var transport = new StreamableHttpServerTransport { SessionId = id };
        var server = McpServer.Create(transport, ScalpelMcpServer.Options(_roots, _runs));
        var session = new Session(transport, server, server.RunAsync());
        _sessions[id] = session;
        return (id, session);
    }

    private Session? Find(HttpContext context) =>
        context.Request.Headers[SessionHeader].ToString() is { Length: > 0 } id && _sessions.TryGetValue(id, out var s) ? s : null;

    private static async Task End(Session session)
    {
        await session.Transport.DisposeAsync();
        await session.Server.DisposeAsync();
        try { await session.Running; } catch (Exception) { /* the session's loop ends however the transport closed; nothing to report */ }
    }

    /// <summary>A JSON-RPC error body with no id, as the spec's HTTP transport answers a request it cannot route.</summary>
    private static async Task Error(HttpContext context, int status, string message, int code = -32000)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"jsonrpc":"2.0","error":{"code":{{code}},"message":{{JsonSerializer.Serialize(message)}}},"id":null}""");
    }

    /// <summary>Server shutdown: end every session, then stop runs still training (each checkpoints) and cancel jobs.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var id in _sessions.Keys)
            if (_sessions.TryRemove(id, out var session)) await End(session);
        _runs.StopAll(TimeSpan.FromMinutes(2));
    }
}
