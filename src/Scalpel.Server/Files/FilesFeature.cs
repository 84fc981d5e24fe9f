using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Net.Http.Headers;
using Scalpel.Server.Jobs;

namespace Scalpel.Server.Files;

/// <summary>
/// <c>/v1/files</c> as OpenAI has it: upload (multipart: <c>file</c> and <c>purpose</c>), list, retrieve, content,
/// delete; plus <c>GET /v1/files/{id}/check</c> (a Scalpel extension): the data check report of a fine-tune file.
/// </summary>
public sealed class FilesFeature : IServerFeature
{
    public void ConfigureServices(IServiceCollection services, ServerOptions options)
    {
        services.TryAddSingleton<IJobStore>(_ => JobStores.Open(options.Database, options.DataDirectory));
        services.TryAddSingleton<FileStorage>();
    }

    public void MapEndpoints(WebApplication app, ServerOptions options)
    {
        app.MapPost("/v1/files", (Delegate)Upload);
        app.MapGet("/v1/files", List);
        app.MapGet("/v1/files/{id}", (HttpContext c, string id) => WithFile(c, id, f => Json(FileJson.File(f))));
        app.MapGet("/v1/files/{id}/content", (HttpContext c, string id) =>
            WithFile(c, id, f => Results.File(c.RequestServices.GetRequiredService<FileStorage>().PathOf(f), "application/octet-stream", f.Filename)));
        app.MapGet("/v1/files/{id}/check", (HttpContext c, string id) => WithFile(c, id, f => f.Purpose != StoredFile.FineTunePurpose
            ? OpenAiErrors.Result(400, $"{id} has purpose '{f.Purpose}': only '{StoredFile.FineTunePurpose}' files are checked", param: "id")
            : Json(FileJson.Check(f))));
        app.MapDelete("/v1/files/{id}", Delete);
    }

    // Relaxed escaping: messages keep their quotes and apostrophes readable (the body is JSON, never HTML).
    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static IResult Json(JsonNode node, int status = 200) =>
        Results.Text(node.ToJsonString(JsonOptions), "application/json", System.Text.Encoding.UTF8, status);

    private static IResult WithFile(HttpContext context, string id, Func<StoredFile, IResult> found)
    {
        if (!ObjectIds.IsValid(id, StoredFile.IdPrefix))
            return OpenAiErrors.Result(400, $"'{Shorten(id)}' is not a file id (file ids look like {StoredFile.IdPrefix} and {ObjectIds.RandomLength} letters or digits)", param: "id", code: "invalid_file_id");
        var file = context.RequestServices.GetRequiredService<IJobStore>().GetFile(id);
        return file is null ? OpenAiErrors.Result(404, $"No such File object: {id}", param: "id", code: "file_not_found") : found(file);
    }

    internal static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "…";

    private static async Task<IResult> Upload(HttpContext context)
    {
        var storage = context.RequestServices.GetRequiredService<FileStorage>();
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var contentType) || !contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(contentType.Boundary).Value is not { Length: > 0 } boundary)
            return OpenAiErrors.Result(400, "upload a file as multipart/form-data with the fields 'file' and 'purpose'");

        string? purpose = null, filename = null, temp = null;
        long bytes = 0;
        try
        {
            var reader = new MultipartReader(boundary, context.Request.Body);
            while (await reader.ReadNextSectionAsync(context.RequestAborted) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                string name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (name == "purpose")
                {
                    using var text = new StreamReader(section.Body);
                    var buffer = new char[64];
                    int n = await text.ReadBlockAsync(buffer, context.RequestAborted);
                    purpose = new string(buffer, 0, n).Trim();
                }
                else if (name == "file")
                {
                    if (temp is not null) return OpenAiErrors.Result(400, "upload one file per request", param: "file");
                    filename = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    (temp, bytes) = await storage.ReceiveAsync(section.Body, context.RequestAborted);
                }
            }
            if (temp is null) return OpenAiErrors.Result(400, "missing the 'file' field (multipart/form-data)", param: "file");
            if (string.IsNullOrEmpty(purpose)) return OpenAiErrors.Result(400, "missing the 'purpose' field: use 'fine-tune' for training data", param: "purpose");
            if (!FileStorage.Purposes.Contains(purpose))
                return OpenAiErrors.Result(400, $"purpose '{Shorten(purpose)}' is not one of {string.Join(", ", FileStorage.Purposes)}", param: "purpose");
            var file = storage.Commit(temp, bytes, filename ?? "upload", purpose);
            temp = null;
            return Json(FileJson.File(file));
        }
        catch (FileUploadException e)
        {
            return OpenAiErrors.Result(e.Status, e.Message, param: e.Param);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return OpenAiErrors.Result(413, $"the request is larger than the server's limit of {storage.MaxBytes:N0} bytes", param: "file");
        }
        catch (InvalidDataException e)
        {
            return OpenAiErrors.Result(400, $"the multipart/form-data body cannot be read: {e.Message}");
        }
        finally
        {
            if (temp is not null) File.Delete(temp);
        }
    }

    private static IResult List(HttpContext context)
    {
        var q = context.Request.Query;
        string? purpose = q["purpose"].FirstOrDefault();
        string? after = q["after"].FirstOrDefault();
        if (!Paging.TryLimit(q["limit"].FirstOrDefault(), 10_000, 10_000, out int limit, out var error)) return error!;
        if (after is not null && !ObjectIds.IsValid(after, StoredFile.IdPrefix))
            return OpenAiErrors.Result(400, $"after: '{Shorten(after)}' is not a file id", param: "after");
        var page = context.RequestServices.GetRequiredService<IJobStore>().ListFiles(purpose, after, limit);
        return Json(Paging.List(page, FileJson.File, f => f.Id));
    }

    private static IResult Delete(HttpContext context, string id) => WithFile(context, id, file =>
    {
        var store = context.RequestServices.GetRequiredService<IJobStore>();
        if (store.ActiveJobsUsingFile(file.Id) is { Count: > 0 } jobs)
            return OpenAiErrors.Result(409, $"{file.Id} is used by {string.Join(", ", jobs.Select(j => $"{j.Id} ({JobStatuses.Name(j.Status)})"))}: " +
                                            "cancel the job or wait for it to finish before deleting the file", param: "id", code: "file_in_use");
        store.DeleteFile(file.Id);
        context.RequestServices.GetRequiredService<FileStorage>().Delete(file);
        return Json(new JsonObject { ["id"] = file.Id, ["object"] = "file", ["deleted"] = true });
    });
}

/// <summary>The OpenAI JSON of files.</summary>
public static class FileJson
{
    public static JsonObject File(StoredFile f) => new()
    {
        ["id"] = f.Id,
        ["object"] = "file",
        ["bytes"] = f.Bytes,
        ["created_at"] = f.CreatedAt,
        ["expires_at"] = null,
        ["filename"] = f.Filename,
        ["purpose"] = f.Purpose,
        ["status"] = f.Status,
        ["status_details"] = f.StatusDetails,
    };

    /// <summary>GET /v1/files/{id}/check: the error count, the first error and the whole report.</summary>
    public static JsonObject Check(StoredFile f) => new()
    {
        ["object"] = "file.check",
        ["id"] = f.Id,
        ["filename"] = f.Filename,
        ["error_count"] = f.CheckErrors,
        ["first_error"] = f.FirstError,
        ["report"] = f.CheckReport is { } r ? JsonNode.Parse(r) : null,
    };
}

/// <summary>OpenAI list pages: {"object": "list", "data": [...], "first_id", "last_id", "has_more"}; <c>limit</c> parsing.</summary>
public static class Paging
{
    public static JsonObject List<T>(Page<T> page, Func<T, JsonObject> json, Func<T, string> id) => new()
    {
        ["object"] = "list",
        ["data"] = new JsonArray([.. page.Items.Select(i => (JsonNode)json(i))]),
        ["first_id"] = page.Items.Count > 0 ? id(page.Items[0]) : null,
        ["last_id"] = page.Items.Count > 0 ? id(page.Items[^1]) : null,
        ["has_more"] = page.HasMore,
    };

    public static bool TryLimit(string? text, int fallback, int max, out int limit, out IResult? error)
    {
        error = null;
        limit = fallback;
        if (text is null) return true;
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) && limit >= 1 && limit <= max)
            return true;
        error = OpenAiErrors.Result(400, $"limit: expected a whole number from 1 to {max}, got '{FilesFeature.Shorten(text)}'", param: "limit");
        return false;
    }
}
