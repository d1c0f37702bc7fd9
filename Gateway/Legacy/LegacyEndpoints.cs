using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Legacy;

/// <summary>POST /log_event: the earlier system's event log. A row goes to <c>events</c>, and into the session when one is named.</summary>
public static class LegacyEndpoints
{
    public static IEndpointRouteBuilder MapLegacyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/log_event", LogEventAsync)
            .WithTags("Legacy")
            .WithName("LogEvent")
            .WithSummary("Log an event (earlier API)")
            .WithDescription("Writes a row of the legacy `events` table and, when `session_id` is given, the event into the session. Type and data follow the rules of session events.")
            .AcceptsBody<LogEventRequest>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<Results<Ok<LogEventResponse>, ProblemHttpResult>> LogEventAsync(
        HttpRequest request,
        JsonBody body,
        EventParser parser,
        WireLimits limits,
        IGrainFactory grains,
        SessionGrains sessions,
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
            var typeField = root.TryGetProperty("event_type", out _) ? "event_type" : "type";
            if (!JsonFields.TryGetRequiredString(root, "user_id", limits.MaxFieldLength, out var userId, out var error))
            {
                return Problems.BadRequest(error!);
            }

            if (!SessionIds.TryRead(root, required: false, out var sessionId, out problem)
                || !parser.TryReadTypeAndData(root, typeField, where: null, out var eventType, out var data, out problem, typeField == "type" ? "'event_type' (or its alias 'type')" : null))
            {
                return problem!;
            }

            legacyEvent = new LegacyEvent(userId, sessionId, eventType, data, clock.GetUtcNow());
        }

        if (legacyEvent.SessionId is not { } id)
        {
            await grains.GetGrain<ILegacyLogGrain>(0).WriteEventAsync(legacyEvent);
            return TypedResults.Ok(new LogEventResponse("ok", null));
        }

        var result = await sessions.Get(id).RecordLegacyEventAsync(legacyEvent);
        return Problems.ForSession(result.Status, id, request.HttpContext.Response) is { } refused ? refused : TypedResults.Ok(new LogEventResponse("ok", id));
    }
}
