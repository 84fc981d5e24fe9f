using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Scalpel.Server.Files;
using Scalpel.Server.Jobs;

namespace Scalpel.Server.Dashboard;

/// <summary>
/// The web dashboard at <c>/</c>: one hand-written page (HTML, CSS, JS and uPlot, embedded in this assembly; nothing is
/// fetched from elsewhere) that works through the API with the key the user types in. The page and its assets carry no
/// data, so they are served without a key; what the page shows comes from <c>/v1</c>, which needs one when the server
/// has keys. Two endpoints of its own: <c>GET /v1/dashboard</c> (the base model id, for the create-job form) and
/// <c>GET /v1/reports</c> + <c>GET /v1/reports/content?path=</c> (the eval/compare reports under the data folder).
/// </summary>
public sealed class DashboardFeature : IServerFeature
{
    /// <summary>The dashboard's own policy: scripts and connections to this origin only. Inline styles are allowed for
    /// compare.html, shown in a sandboxed srcdoc frame that inherits this policy.</summary>
    private const string PagePolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
                                      "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>A report's own bytes, if opened directly: a sandbox (an opaque origin that cannot read the dashboard's
    /// storage), no scripts, nothing fetched.</summary>
    private const string ReportPolicy = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

    private static readonly Dictionary<string, (string Resource, string ContentType)> Assets = new(StringComparer.Ordinal)
    {
        ["dashboard.js"] = ("Scalpel.Server.Dashboard.dashboard.js", "text/javascript; charset=utf-8"),
        ["dashboard.css"] = ("Scalpel.Server.Dashboard.dashboard.css", "text/css; charset=utf-8"),
        ["uplot.js"] = ("Scalpel.Resources.uPlot.js", "text/javascript; charset=utf-8"),
        ["uplot.css"] = ("Scalpel.Resources.uPlot.css", "text/css; charset=utf-8"),
        ["uplot-license.txt"] = ("Scalpel.Resources.uPlot.LICENSE", "text/plain; charset=utf-8"),
    };

    public void ConfigureServices(IServiceCollection services, ServerOptions options)
    {
        services.TryAddSingleton<JobPaths>();
        services.TryAddSingleton<ReportFiles>();
    }

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        var index = Load("Scalpel.Server.Dashboard.index.html");
        var assets = Assets.ToDictionary(a => a.Key, a => (Bytes: Load(a.Value.Resource), a.Value.ContentType), StringComparer.Ordinal);

        app.MapGet("/", (HttpContext c) => Page(c, index, "text/html; charset=utf-8"));
        app.MapGet("/dashboard/{name}", (HttpContext c, string name) =>
            assets.TryGetValue(name, out var asset) ? Page(c, asset.Bytes, asset.ContentType) : Results.NotFound());

        app.MapGet("/v1/dashboard", (HttpContext c) => FilesFeature.Json(new JsonObject
        {
            ["object"] = "dashboard",
            ["base_model"] = c.RequestServices.GetRequiredService<JobPaths>().BaseModelId,
        }));
        app.MapGet("/v1/reports", (HttpContext c) =>
        {
            var reports = c.RequestServices.GetRequiredService<ReportFiles>().List();
            return FilesFeature.Json(new JsonObject
            {
                ["object"] = "list",
                ["data"] = new JsonArray([.. reports.Select(r => (JsonNode)r.ToJson())]),
                ["has_more"] = false,
            });
        });
        app.MapGet("/v1/reports/content", (HttpContext c) =>
        {
            string? path = c.Request.Query["path"].FirstOrDefault();
            var reports = c.RequestServices.GetRequiredService<ReportFiles>();
            if (ReportFiles.Refuse(path) is { } why) return OpenAiErrors.Result(400, why, param: "path", code: "invalid_report_path");
            if (reports.Find(path!) is not { } file)
                return OpenAiErrors.Result(404, $"No such report: '{FilesFeature.Shorten(path!)}' (GET /v1/reports lists them)", param: "path", code: "report_not_found");
            c.Response.Headers.ContentSecurityPolicy = ReportPolicy;
            c.Response.Headers.XContentTypeOptions = "nosniff";
            return Results.File(file.FullPath, file.ContentType);
        });
    }

    private static IResult Page(HttpContext context, byte[] bytes, string contentType)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = PagePolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // The assets change with the server build: a restarted server must not be answered from an old cache.
        headers.CacheControl = "no-cache";
        return Results.Bytes(bytes, contentType);
    }

    private static byte[] Load(string resource)
    {
        var assembly = resource.StartsWith("Scalpel.Server.", StringComparison.Ordinal) ? typeof(DashboardFeature).Assembly : typeof(Scalpel.Training.Reports.RunReport).Assembly;
        using var stream = assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException($"embedded resource {resource} is missing from {assembly.GetName().Name}");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        byte[] bytes = copy.ToArray();
        if (resource == "Scalpel.Resources.uPlot.js")
        {
            // uPlot's MIT license travels with it, as in report.html.
            string license = Encoding.UTF8.GetString(Load("Scalpel.Resources.uPlot.LICENSE")).Replace("*/", "* /", StringComparison.Ordinal);
            bytes = [.. Encoding.UTF8.GetBytes($"/*! uPlot 1.6.32, https://github.com/leeoniya/uPlot\n{license}*/\n"), .. bytes];
        }
        return bytes;
    }
}
