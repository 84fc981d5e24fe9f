using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Scalpel.Server.Files;

namespace Scalpel.Server.Jobs;

/// <summary>
/// <c>/v1/fine_tuning/jobs</c> as OpenAI has it: create, list (<c>after</c>, <c>limit</c>), retrieve, cancel, events and
/// checkpoints (newest first, paginated); the store, the worker and <see cref="IFineTunedModels"/> as services.
/// </summary>
public sealed class JobsFeature : IServerFeature
{
    private const string Jobs = "/v1/fine_tuning/jobs";

    public void ConfigureServices(IServiceCollection services, ServerOptions options)
    {
        services.TryAddSingleton<IJobStore>(_ => JobStores.Open(options.Database, options.DataDirectory));
        services.TryAddSingleton<FileStorage>();
        services.TryAddSingleton<JobPaths>();
        services.TryAddSingleton<JobService>();
        services.TryAddSingleton<FineTunedModels>();
        services.TryAddSingleton<IFineTunedModels>(sp => sp.GetRequiredService<FineTunedModels>());
        services.AddHostedService<JobWorker>();
    }

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        app.MapPost(Jobs, (Delegate)Create);
        app.MapGet(Jobs, List);
        app.MapGet(Jobs + "/{id}", (HttpContext c, string id) => WithJob(c, id, (_, job) => FilesFeature.Json(JobJson.Job(job))));
        app.MapPost(Jobs + "/{id}/cancel", (HttpContext c, string id) => WithJob(c, id, (service, _) =>
        {
            try { return FilesFeature.Json(JobJson.Job(service.Cancel(id)!)); }
            catch (JobRequestException e) { return OpenAiErrors.Result(400, e.Message, param: e.Param, code: e.Code); }
        }));
        app.MapGet(Jobs + "/{id}/events", (HttpContext c, string id) => WithJob(c, id, (service, _) =>
        {
            if (!Paging.TryLimit(c.Request.Query["limit"].FirstOrDefault(), 20, 1000, out int limit, out var error)) return error!;
            string? after = c.Request.Query["after"].FirstOrDefault();
            if (after is not null && !ObjectIds.IsValid(after, "ftevent-")) return OpenAiErrors.Result(400, $"after: '{FilesFeature.Shorten(after)}' is not an event id", param: "after");
            return FilesFeature.Json(Paging.List(service.Store.ListEvents(id, after, limit), JobJson.Event, e => e.Id));
        }));
        app.MapGet(Jobs + "/{id}/checkpoints", (HttpContext c, string id) => WithJob(c, id, (service, job) =>
        {
            if (!Paging.TryLimit(c.Request.Query["limit"].FirstOrDefault(), 10, 1000, out int limit, out var error)) return error!;
            string? after = c.Request.Query["after"].FirstOrDefault();
            if (after is not null && !ObjectIds.IsValid(after, "ftckpt-")) return OpenAiErrors.Result(400, $"after: '{FilesFeature.Shorten(after)}' is not a checkpoint id", param: "after");
            string model = JobPaths.FineTunedModelId(job.Model, job.Suffix, job.Id);
            return FilesFeature.Json(Paging.List(service.Store.ListCheckpoints(id, after, limit), k => JobJson.Checkpoint(k, model), k => k.Id));
        }));
    }

    private static IResult WithJob(HttpContext context, string id, Func<JobService, JobRecord, IResult> found)
    {
        if (!ObjectIds.IsValid(id, JobPaths.JobIdPrefix))
            return OpenAiErrors.Result(400, $"'{FilesFeature.Shorten(id)}' is not a fine-tuning job id (they look like {JobPaths.JobIdPrefix} and {ObjectIds.RandomLength} letters or digits)",
                param: "fine_tuning_job_id", code: "invalid_job_id");
        var service = context.RequestServices.GetRequiredService<JobService>();
        var job = service.Store.GetJob(id);
        return job is null ? OpenAiErrors.Result(404, $"No such fine-tuning job: {id}", param: "fine_tuning_job_id", code: "job_not_found") : found(service, job);
    }

    private static async Task<IResult> Create(HttpContext context)
    {
        var service = context.RequestServices.GetRequiredService<JobService>();
        string body;
        using (var reader = new StreamReader(context.Request.Body)) body = await reader.ReadToEndAsync(context.RequestAborted);
        try
        {
            var job = service.Create(JobRequest.Parse(body));
            // Validation reads the files (the model and data sizes pick the defaults): off the request, as OpenAI does.
            _ = Task.Run(() =>
            {
                try { service.Validate(job.Id); }
                catch (JobStoreException) { /* the worker validates jobs left validating_files when it next starts */ }
            });
            return FilesFeature.Json(JobJson.Job(job));
        }
        catch (JobRequestException e)
        {
            return OpenAiErrors.Result(400, e.Message, param: e.Param, code: e.Code);
        }
    }

    private static IResult List(HttpContext context)
    {
        var service = context.RequestServices.GetRequiredService<JobService>();
        if (!Paging.TryLimit(context.Request.Query["limit"].FirstOrDefault(), 20, 1000, out int limit, out var error)) return error!;
        string? after = context.Request.Query["after"].FirstOrDefault();
        if (after is not null && !ObjectIds.IsValid(after, JobPaths.JobIdPrefix))
            return OpenAiErrors.Result(400, $"after: '{FilesFeature.Shorten(after)}' is not a fine-tuning job id", param: "after");
        return FilesFeature.Json(Paging.List(service.Store.ListJobs(after, limit), JobJson.Job, j => j.Id));
    }
}
