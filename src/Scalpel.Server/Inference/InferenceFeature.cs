using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Scalpel.Server.Inference;

/// <summary>
/// The inference API: GET /v1/models (and /v1/models/{id}), POST /v1/chat/completions, POST /v1/completions. The base
/// model loads while the server is built, so a model that does not load stops <c>scalpel serve</c> before it listens.
/// Other features reach the served models through <see cref="IModelRegistry"/> (fine-tuning jobs register their adapters).
/// </summary>
public sealed class InferenceFeature : IServerFeature
{
    public void ConfigureServices(IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(_ => new InferenceService(options));
        services.AddSingleton<IModelRegistry>(sp => sp.GetRequiredService<InferenceService>().Models);
    }

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        var service = app.Services.GetRequiredService<InferenceService>();
        app.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(service.Models.List().Select(m => (JsonNode)ModelJson(m, service.Models.BaseId)).ToArray()),
        }));
        app.MapGet("/v1/models/{id}", (string id) => service.Models.Find(id) is { } m
            ? Results.Json(ModelJson(m, service.Models.BaseId))
            : OpenAiErrors.Result(404, $"The model '{id}' does not exist.", param: "model", code: "model_not_found"));
        app.MapPost("/v1/chat/completions", Guarded(ChatCompletions.Handle, service));
        app.MapPost("/v1/completions", Guarded(Completions.Handle, service));
    }

    private static JsonObject ModelJson(ServedModel m, string baseId)
    {
        var json = new JsonObject
        {
            ["id"] = m.Id,
            ["object"] = "model",
            ["created"] = m.Created.ToUnixTimeSeconds(),
            ["owned_by"] = m.OwnedBy,
        };
        if (m.AdapterDirectory is not null) json["parent"] = baseId;
        return json;
    }

    /// <summary>Runs a handler, answering its refusals (and unexpected failures, as 500) in the OpenAI error shape.</summary>
    private static RequestDelegate Guarded(Func<HttpContext, InferenceService, Task> handler, InferenceService service) => async context =>
    {
        try
        {
            await handler(context, service);
        }
        catch (ApiException e) when (!context.Response.HasStarted)
        {
            await e.Write(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its sequences were cancelled with it.
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OutOfMemoryException)
        {
            await new ApiException(500, $"The server could not answer: {e.Message}", code: "server_error", type: "server_error").Write(context);
        }
    };
}
