namespace Scalpel.Server;

/// <summary>Every feature of <c>scalpel serve</c>, in the order their endpoints are mapped.</summary>
public static class ServerFeatures
{
    public static IReadOnlyList<IServerFeature> All() =>
    [
        new HealthFeature(),
        new Inference.InferenceFeature(),
        new Files.FilesFeature(),
        new Jobs.JobsFeature(),
        new Dashboard.DashboardFeature(),
        new FineTunedServing(),
        new Mcp.McpHttpFeature(),
    ];
}

/// <summary>GET /health: the process is up (no authentication, no model work).</summary>
internal sealed class HealthFeature : IServerFeature
{
    public void ConfigureServices(Microsoft.Extensions.DependencyInjection.IServiceCollection services, ServerOptions options) { }

    public void MapEndpoints(Microsoft.AspNetCore.Builder.WebApplication app, ServerOptions options) =>
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapGet(app, "/health", () => Microsoft.AspNetCore.Http.Results.Text("ok"));
}
