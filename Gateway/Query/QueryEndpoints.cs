using System.ClientModel;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Query;

/// <summary>POST /query: asks the model, answers as the earlier system did, and records the exchange.</summary>
public static class QueryEndpoints
{
    public static IEndpointRouteBuilder MapQueryEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/query", QueryAsync).WithTags("Query");
        return app;
    }

    internal static async Task<Results<Ok<QueryResponse>, ProblemHttpResult>> QueryAsync(
        HttpRequest request,
        JsonBody body,
        IChatClient chat,
        IGrainFactory grains,
        SessionRateLimiter limiter,
        IOptions<QueryOptions> queryOptions,
        IOptions<GatewayOptions> gatewayOptions,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        string prompt;
        string? sessionId, userId, modelGroup;
        using (document)
        {
            var root = document.RootElement;
            var max = gatewayOptions.Value.MaxFieldLength;
            var field = root.TryGetProperty("prompt", out _) ? "prompt" : "query";
            if (!JsonFields.TryGetRequiredString(root, field, queryOptions.Value.MaxPromptLength, out prompt, out var error)
                || !JsonFields.TryGetString(root, "session_id", 256, out sessionId, out error)
                || !JsonFields.TryGetString(root, "user_id", max, out userId, out error)
                || !JsonFields.TryGetString(root, "model_group", max, out modelGroup, out error))
            {
                return Problems.BadRequest(field == "query" && error!.StartsWith("'query' is required", StringComparison.Ordinal)
                    ? "'prompt' (or its alias 'query') is required and must be a non-empty string."
                    : error!);
            }
        }

        if (sessionId is not null && !SessionIds.IsWellFormed(sessionId))
        {
            return Problems.SessionNotFound(sessionId);
        }

        if (sessionId is not null && limiter.TryAcquire(sessionId, request.HttpContext.Response) is { } limited)
        {
            return limited;
        }

        var askedAt = clock.GetUtcNow();
        var started = clock.GetTimestamp();
        ChatResponse answer;
        try
        {
            answer = await chat.GetResponseAsync(prompt, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or ClientResultException)
        {
            request.HttpContext.Response.Headers.RetryAfter = "5";
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Model unavailable", "The model provider did not answer; retry later.");
        }

        var latencyMs = (long)clock.GetElapsedTime(started).TotalMilliseconds;
        var answeredAt = clock.GetUtcNow();
        var metadata = chat.GetService<ChatClientMetadata>();
        var model = answer.ModelId ?? metadata?.DefaultModelId ?? "unknown";
        var provider = metadata?.ProviderName ?? "unknown";
        var text = answer.Text;
        string[] citations = [];

        var row = new QueryRow(sessionId, userId, modelGroup, prompt, text, model, provider, latencyMs, "[]", askedAt);
        if (sessionId is null)
        {
            await grains.GetGrain<ILegacyLogGrain>(0).WriteQueryAsync(row);
        }
        else
        {
            var exchange = new QueryExchange(
                new IncomingEvent("prompt", ToJson(w => w.WriteString("text", prompt)), askedAt.ToUnixTimeMilliseconds(), null),
                new IncomingEvent("model_response", ToJson(w =>
                {
                    w.WriteString("text", text);
                    w.WriteString("model", model);
                    w.WriteString("provider", provider);
                    w.WriteNumber("latency_ms", latencyMs);
                    w.WriteNumber("response_length", text.Length);
                    w.WriteStartArray("citations");
                    w.WriteEndArray();
                }), answeredAt.ToUnixTimeMilliseconds(), null),
                row);
            var result = await grains.GetGrain<ISessionGrain>(sessionId).RecordExchangeAsync(exchange);
            if (result.Status == SessionStatus.NotFound)
            {
                return Problems.SessionNotFound(sessionId);
            }

            if (result.Status == SessionStatus.Ended)
            {
                return Problems.SessionEnded(sessionId);
            }
        }

        return TypedResults.Ok(new QueryResponse(text, model, provider, latencyMs, citations, sessionId));
    }

    internal static string ToJson(Action<Utf8JsonWriter> writeProperties)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
