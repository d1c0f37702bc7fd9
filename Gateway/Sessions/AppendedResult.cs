using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// The 200 answer of POST /session/event, <see cref="AppendResponse"/>, written straight into the response pipe. It is
/// the API's most frequent answer; the serializer's general path (type-info lookup, an asynchronous write with its
/// cancellation registration and flush) cost more than the rest of the endpoint's own work. Same bytes on the wire as
/// <c>TypedResults.Ok(response)</c> (snake_case fields in record order) and the same OpenAPI metadata.
/// </summary>
internal sealed class AppendedResult(AppendResponse value)
    : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<AppendResponse>, IContentTypeHttpResult, IEndpointMetadataProvider
{
    private const string JsonContentType = "application/json; charset=utf-8";

    public AppendResponse Value => value;

    object? IValueHttpResult.Value => value;

    public int? StatusCode => StatusCodes.Status200OK;

    public string? ContentType => JsonContentType;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = JsonContentType;

        // Into the pipe without a flush: the server sends it, with its length, when the request completes.
        using var writer = new Utf8JsonWriter(response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteString("session_id"u8, value.SessionId);
        writer.WriteNumber("accepted"u8, value.Accepted);
        writer.WriteNumber("duplicates"u8, value.Duplicates);
        writer.WriteNumber("last_seq"u8, value.LastSeq);
        writer.WriteBoolean("ended"u8, value.Ended);
        writer.WriteEndObject();
        return Task.CompletedTask;
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(AppendResponse), ["application/json"]));
}
