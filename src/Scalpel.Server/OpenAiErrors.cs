using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Scalpel.Server;

/// <summary>Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}}.</summary>
public static class OpenAiErrors
{
    public static IResult Result(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null) =>
        Results.Json(Body(message, type, param, code), statusCode: status);

    public static JsonObject Body(string message, string type = "invalid_request_error", string? param = null, string? code = null) => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    };

    public static async Task Write(HttpContext context, int status, string message, string type = "invalid_request_error", string? code = null)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(Body(message, type, null, code).ToJsonString());
    }
}
