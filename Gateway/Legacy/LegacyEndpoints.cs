using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Legacy;

/// <summary>POST /log_event: the earlier system's event log. A row goes to <c>events</c>, and into the session when one is named.</summary>
public static class LegacyEndpoints
{
    public static IEndpointRouteBuilder MapLegacyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/log_event", LogEventAsync).WithTags("Legacy");
        return app;
    }

    internal static async Task<Results<Ok<LogEventResponse>, ProblemHttpResult>> LogEventAsync(
        HttpRequest request,
        JsonBody body,
        IGrainFactory grains,
        IOptions<GatewayOptions> options,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        LegacyEvent legacyEvent;
        using (document)
        {
            var root = document.RootElement;
            var max = options.Value.MaxFieldLength;
            var typeField = root.TryGetProperty("event_type", out _) ? "event_type" : "type";
            if (!JsonFields.TryGetRequiredString(root, "user_id", max, out var userId, out var error)
                || !JsonFields.TryGetString(root, "session_id", 256, out var sessionId, out error)
                || !JsonFields.TryGetRequiredString(root, typeField, 64, out var eventType, out error)
                || !JsonFields.TryGetObjectJson(root, "data", out var data, out error))
            {
                return Problems.BadRequest(typeField == "type" && error!.StartsWith("'type' is required", StringComparison.Ordinal)
                    ? "'event_type' (or its alias 'type') is required and must be a non-empty string."
                    : error!);
            }

            if (!EventParser.IsValidType(eventType))
            {
                return Problems.BadRequest($"'{typeField}' must be one of the guide's event types or a custom name matching {EventParser.TypePattern}.");
            }

            data ??= "{}";
            if (System.Text.Encoding.UTF8.GetByteCount(data) > options.Value.MaxEventDataBytes)
            {
                return Problems.TooLarge($"'data' exceeds {options.Value.MaxEventDataBytes} bytes (Gateway:MaxEventDataBytes).");
            }

            legacyEvent = new LegacyEvent(userId, sessionId, eventType, data, clock.GetUtcNow());
        }

        if (legacyEvent.SessionId is not { } id)
        {
            await grains.GetGrain<ILegacyLogGrain>(0).WriteEventAsync(legacyEvent);
            return TypedResults.Ok(new LogEventResponse("ok", null));
        }

        if (!SessionIds.IsWellFormed(id))
        {
            return Problems.SessionNotFound(id);
        }

        var result = await grains.GetGrain<ISessionGrain>(id).RecordLegacyEventAsync(legacyEvent);
        return result.Status switch
        {
            SessionStatus.NotFound => Problems.SessionNotFound(id),
            SessionStatus.Ended => Problems.SessionEnded(id),
            SessionStatus.RateLimited => Problems.SessionRateLimited(request.HttpContext.Response),
            _ => TypedResults.Ok(new LogEventResponse("ok", id)),
        };
    }
}
