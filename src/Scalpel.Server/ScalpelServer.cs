using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Scalpel.Server;

/// <summary>
/// The <c>scalpel serve</c> process: the OpenAI-compatible API under /v1 (inference, files, fine-tuning jobs), MCP at
/// /mcp (both behind the API keys) and the dashboard at /. Features register their endpoints through <see cref="IServerFeature"/>.
/// </summary>
public sealed class ScalpelServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ScalpelServer(WebApplication app, ServerOptions options)
    {
        _app = app;
        Options = options;
    }

    public ServerOptions Options { get; }

    /// <summary>The address it listens on, once started.</summary>
    public Uri? Address { get; private set; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Validates the options (a non-loopback host needs an API key) and builds the app; nothing listens yet.</summary>
    public static ScalpelServer Create(ServerOptions options, IEnumerable<IServerFeature> features)
    {
        if (options.ApiKeys.Count == 0 && !ServerOptions.IsLoopback(options.Host))
            throw new ArgumentException($"--host {options.Host} without an API key would expose the server to the network: give --api-key KEY (or --api-keys FILE), or bind 127.0.0.1");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host.Trim('[', ']'));
            k.Listen(address, options.Port);
        });
        builder.Services.AddSingleton(options);
        if (options.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. options.CorsOrigins]).AllowAnyHeader().AllowAnyMethod()));
        var featureList = features.ToList();
        foreach (var f in featureList) f.ConfigureServices(builder.Services, options);
        var app = builder.Build();
        if (options.CorsOrigins.Count > 0) app.UseCors();
        app.Use(async (context, next) =>
        {
            // Without keys the server trusts its loopback callers, so a web page must not reach it by DNS rebinding
            // (a name of the attacker's that resolves to 127.0.0.1): only loopback Host names are served. /mcp also
            // checks Origin, as MCP's Streamable HTTP transport asks, so no other site's page can drive the tools.
            if (options.ApiKeys.Count == 0 && !LoopbackName(context.Request.Host.Host))
            {
                await OpenAiErrors.Write(context, 403, $"Host '{context.Request.Host}' is not served: without an API key only localhost, 127.0.0.1 and [::1] are.",
                    "invalid_request_error", "host_not_allowed");
                return;
            }
            if (context.Request.Path.StartsWithSegments("/mcp") && context.Request.Headers.Origin.ToString() is { Length: > 0 } origin
                && !options.CorsOrigins.Contains(origin)
                && !(Uri.TryCreate(origin, UriKind.Absolute, out var originUri) && LoopbackName(originUri.Host)))
            {
                await OpenAiErrors.Write(context, 403, $"Origin '{origin}' may not use /mcp (allow it with --cors).", "invalid_request_error", "origin_not_allowed");
                return;
            }
            bool guarded = context.Request.Path.StartsWithSegments("/v1") || context.Request.Path.StartsWithSegments("/mcp");
            if (options.ApiKeys.Count > 0 && guarded && !Authorized(context, options))
            {
                // MCP clients look for the challenge header to know a bearer token is wanted.
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await OpenAiErrors.Write(context, 401, "Incorrect API key provided: send it as 'Authorization: Bearer KEY'.", "invalid_request_error", "invalid_api_key");
                return;
            }
            await next(context);
        });
        foreach (var f in featureList) f.MapEndpoints(app, options);
        app.MapFallback("/v1/{**rest}", (HttpContext c) => OpenAiErrors.Result(404, $"Unknown request URL: {c.Request.Method} {c.Request.Path}", code: "unknown_url"));
        return new ScalpelServer(app, options);
    }

    private static bool LoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static bool Authorized(HttpContext context, ServerOptions options)
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        var given = System.Text.Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        // Constant-time comparison: a timing difference must not reveal how much of a key was right.
        return options.ApiKeys.Any(k => System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, System.Text.Encoding.UTF8.GetBytes(k)));
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Address = new Uri(addresses.First().Replace("[::]", "127.0.0.1"));
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        // Only a started host is stopped: stopping one whose start failed throws and would hide why it failed.
        if (Address is not null) await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A part of the server (inference, files, jobs, dashboard): its services and its endpoints.</summary>
public interface IServerFeature
{
    void ConfigureServices(IServiceCollection services, ServerOptions options);
    void MapEndpoints(WebApplication app, ServerOptions options);
}
