using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Analytics;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;

namespace SessionTracking.Gateway.Sessions;

/// <summary>The guide's session API: start, event (one or a batch, optionally ending), end, read.</summary>
public static class SessionEndpoints
{
    public static IEndpointRouteBuilder MapSessionEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/session").WithTags("Sessions");
        group.MapPost("/start", StartAsync)
            .WithName("StartSession")
            .WithSummary("Start a session")
            .WithDescription("Issues a session id (the write credential for the session's events). Without `model_group`, an experiment with a configured split assigns one per user and the session starts with an `exposure` event.")
            .AcceptsBody<StartRequest>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/event", AppendAsync)
            .WithName("AppendEvents")
            .WithSummary("Record one event or a batch")
            .WithDescription("One event (`type`, `data`, `t`, `id`) or a batch (`events`), optionally with `end: true` (the batch and the end in one store write). Resent ids are acknowledged as `duplicates` and stored once.")
            .AcceptsBody<AppendRequest>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
        group.MapPost("/end", EndAsync)
            .WithName("EndSession")
            .WithSummary("End a session")
            .WithDescription("Idempotent: ending again answers the same end_time.")
            .AcceptsBody<EndRequest>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/{sessionId}", ReadAsync)
            .WithName("GetSession")
            .WithSummary("Read a session document")
            .WithDescription("The guide's session document with one page of events in arrival order; `next_after_seq` (and a `Link: rel=\"next\"` header) point to the next page.")
            .Produces<SessionDocument>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .RequireOperatorKey();
        return app;
    }

    internal static async Task<Results<Created<StartResponse>, ProblemHttpResult>> StartAsync(
        HttpRequest request, JsonBody body, WireLimits limits, SessionGrains sessions, IOptions<AnalyticsOptions> analytics, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        StartSession command;
        using (document)
        {
            var root = document.RootElement;
            var max = limits.MaxFieldLength;
            if (!JsonFields.TryGetRequiredString(root, "user_id", max, out var userId, out var error)
                || !JsonFields.TryGetString(root, "experiment_id", max, out var experimentId, out error)
                || !JsonFields.TryGetObjectJson(root, "environment", out var environment, out error))
            {
                return Problems.BadRequest(error!);
            }

            experimentId = string.IsNullOrWhiteSpace(experimentId) ? "default" : experimentId;

            // Without model_group, an experiment with a configured split assigns one (sticky per user) and the
            // session starts with the exposure, in the same store write; otherwise model_group is required as before.
            string? assigned = null;
            if (!root.TryGetProperty("model_group", out var groupField) || groupField.ValueKind == JsonValueKind.Null)
            {
                assigned = AssignmentEndpoints.TryAssign(analytics.Value, experimentId, userId);
            }

            string modelGroup;
            if (assigned is not null)
            {
                modelGroup = assigned;
            }
            else if (!JsonFields.TryGetRequiredString(root, "model_group", max, out modelGroup, out error))
            {
                return Problems.BadRequest(error!);
            }

            command = new StartSession(userId, experimentId, modelGroup, environment ?? "{}", assigned is null ? null : [Exposure(experimentId, assigned)]);
        }

        var sessionId = SessionIds.NewId();
        var result = await sessions.Get(sessionId).StartAsync(command);
        if (result.Status != SessionStatus.Ok || result.Session is not { } session)
        {
            // 144 random bits do not collide; if they ever do, the client simply starts again.
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Try again", "The session could not be created; retry the request.");
        }

        return TypedResults.Created(
            $"/session/{sessionId}",
            new StartResponse(session.SessionId, session.UserId, session.ExperimentId, session.ModelGroup, Timestamps.Format(session.StartTime)));
    }

    internal static async Task<Results<AppendedResult, ProblemHttpResult>> AppendAsync(
        HttpRequest request, JsonBody body, AppendBodyReader fastReader, EventParser parser, SessionGrains sessions, ResendOnGatewayLoss resend, CancellationToken cancellationToken)
    {
        // A body the single-pass reader takes needs no document; anything else (errors too) is read by the parser.
        var (fast, document, problem) = await body.ReadAsync(request, fastReader.Reader, cancellationToken);
        string sessionId;
        AppendBatch batch;
        if (fast is not null)
        {
            (sessionId, batch) = fast;
        }
        else if (document is null)
        {
            return problem!;
        }
        else
        {
            using (document)
            {
                var root = document.RootElement;
                if (!SessionIds.TryRead(root, required: true, out var id, out problem)
                    || !parser.TryParseBatch(root, out batch, out problem))
                {
                    return problem!;
                }

                sessionId = id!;
            }
        }

        // Events that all carry ids are stored once however often they are sent, so a call caught on a lost silo gateway
        // connection is resent at once rather than after its timeout; events without ids are sent once.
        var grain = sessions.Get(sessionId);
        var result = Array.TrueForAll(batch.Events, static e => e.ClientId is not null)
            ? await resend.CallAsync((grain, batch), static call => call.grain.AppendAsync(call.batch))
            : await grain.AppendAsync(batch);
        return Problems.ForSession(result.Status, sessionId, request.HttpContext.Response) is { } refused
            ? refused
            : new AppendedResult(new AppendResponse(sessionId, result.Accepted, result.Duplicates, result.LastSeq, result.Ended));
    }

    internal static async Task<Results<Ok<EndResponse>, ProblemHttpResult>> EndAsync(
        HttpRequest request, JsonBody body, SessionGrains sessions, ResendOnGatewayLoss resend, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        string sessionId;
        using (document)
        {
            if (!SessionIds.TryRead(document.RootElement, required: true, out var id, out problem))
            {
                return problem!;
            }

            sessionId = id!;
        }

        // Ending is idempotent (a second end answers the same end_time), so a call caught on a lost connection is resent.
        var result = await resend.CallAsync(sessions.Get(sessionId), static grain => grain.EndAsync());
        return result.Status == SessionStatus.NotFound
            ? Problems.SessionNotFound(sessionId)
            : TypedResults.Ok(new EndResponse(sessionId, Timestamps.Format(result.EndTime), result.LastSeq));
    }

    internal static async Task<Results<SessionDocumentResult, ProblemHttpResult>> ReadAsync(
        string sessionId, long? after_seq, int? limit, SessionGrains sessions, ResendOnGatewayLoss resend, IOptions<GatewayOptions> options)
    {
        var maxPage = options.Value.MaxPageSize;
        if (after_seq < 0 || limit is < 1 || limit > maxPage)
        {
            return Problems.BadRequest($"'after_seq' must be ≥ 0 and 'limit' between 1 and {maxPage}.");
        }

        if (!SessionIds.IsWellFormed(sessionId))
        {
            return Problems.SessionNotFound(sessionId);
        }

        // A read changes nothing, so a call caught on a lost silo gateway connection is resent (it has no 2 s timeout).
        var grain = sessions.Get(sessionId);
        var page = await resend.CallAsync((grain, after: after_seq ?? 0, limit: limit ?? maxPage), static read => read.grain.ReadAsync(read.after, read.limit));
        return page is null ? Problems.SessionNotFound(sessionId) : new SessionDocumentResult(page);
    }

    private static IncomingEvent Exposure(string experimentId, string modelGroup) => new(
        "exposure",
        $$"""{"experiment_id":{{JsonSerializer.Serialize(experimentId)}},"model_group":{{JsonSerializer.Serialize(modelGroup)}},"assignment":"sticky_hash"}""",
        null,
        "exposure");
}
