using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Scalpel.Server.Inference;
using Scalpel.Server.Jobs;

namespace Scalpel.Server;

/// <summary>
/// Joins the jobs and the inference API: every fine-tuned model a job has produced (now, or later while the server
/// runs) is served under its <c>ft:BASE:SUFFIX:JOBID</c> id.
/// </summary>
internal sealed class FineTunedServing : IServerFeature
{
    public void ConfigureServices(IServiceCollection services, ServerOptions options) { }

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        var fineTuned = app.Services.GetService<IFineTunedModels>();
        var registry = app.Services.GetService<IModelRegistry>();
        if (fineTuned is null || registry is null) return;
        fineTuned.Added += model => registry.Register(model.Id, model.AdapterDirectory, ownedBy: "fine-tuning");
        foreach (var (id, directory) in fineTuned.List()) registry.Register(id, directory, ownedBy: "fine-tuning");
    }
}
