using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Scalpel.Server.Inference;

/// <summary>A request the API refuses: the HTTP status and the OpenAI error fields (message, param, code).</summary>
internal sealed class ApiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;
    /// <summary>Seconds a client should wait before retrying (sent as Retry-After), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException BadParam(string param, string message) => new(400, message, param);

    public async Task Write(HttpContext context)
    {
        if (RetryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.StatusCode = Status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(OpenAiErrors.Body(Message, Type, Param, Code).ToJsonString(), context.RequestAborted);
    }
}

/// <summary>
/// Reads a request body's fields with OpenAI's rules and errors: a wrong type or a value out of range is a 400 that
/// names the parameter. Absent and JSON null both mean "not given".
/// </summary>
internal sealed class RequestFields(JsonObject body)
{
    public JsonObject Body { get; } = body;

    public static async Task<RequestFields> Read(HttpRequest request)
    {
        JsonNode? node;
        try
        {
            node = await JsonNode.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new ApiException(400, $"The request body is not valid JSON: {e.Message}");
        }
        return node is JsonObject o ? new RequestFields(o) : throw new ApiException(400, "The request body must be a JSON object.");
    }

    public JsonNode? this[string name] => Body[name] is { } v && v.GetValueKind() != JsonValueKind.Null ? v : null;

    public bool Has(string name) => this[name] is not null;

    public string? String(string name) => this[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw ApiException.BadParam(name, $"'{name}' must be a string."),
    };

    public string RequiredString(string name) =>
        String(name) ?? throw ApiException.BadParam(name, $"'{name}' is required.");

    public bool? Bool(string name) => this[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw ApiException.BadParam(name, $"'{name}' must be a boolean."),
    };

    public double? Number(string name, double min, double max)
    {
        if (this[name] is not { } node) return null;
        if (node.GetValueKind() != JsonValueKind.Number) throw ApiException.BadParam(name, $"'{name}' must be a number.");
        double value = node.GetValue<double>();
        if (!(value >= min && value <= max)) throw ApiException.BadParam(name, $"'{name}' must be between {min} and {max} (got {value}).");
        return value;
    }

    public long? Integer(string name, long min, long max)
    {
        if (this[name] is not { } node) return null;
        if (node.GetValueKind() != JsonValueKind.Number || !node.AsValue().TryGetValue<long>(out long value))
            throw ApiException.BadParam(name, $"'{name}' must be an integer.");
        if (value < min || value > max) throw ApiException.BadParam(name, $"'{name}' must be between {min} and {max} (got {value}).");
        return value;
    }

    /// <summary>A field that must be absent, null, or this "off" value; anything else is a 400 saying it is not supported.</summary>
    public void Unsupported(string name, Func<JsonNode, bool> isOff, string why)
    {
        if (this[name] is { } node && !isOff(node)) throw ApiException.BadParam(name, $"'{name}' is not supported by this server: {why}");
    }

    public static bool IsZero(JsonNode node) => node.GetValueKind() == JsonValueKind.Number && node.GetValue<double>() == 0;
    public static bool IsEmpty(JsonNode node) => node is JsonObject { Count: 0 } or JsonArray { Count: 0 };
}
