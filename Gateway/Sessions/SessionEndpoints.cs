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
        group.MapPost("/start", StartAsync);
        group.MapPost("/event", AppendAsync);
        group.MapPost("/end", EndAsync);
        group.MapGet("/{sessionId}", ReadAsync).RequireOperatorKey();
        return app;
    }

    internal static async Task<Results<Created<StartResponse>, ProblemHttpResult>> StartAsync(
        HttpRequest request, JsonBody body, IGrainFactory grains, IOptions<GatewayOptions> options, IOptions<AnalyticsOptions> analytics, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        using (document)
        {
            var root = document.RootElement;
            var max = options.Value.MaxFieldLength;
            if (!JsonFields.TryGetRequiredString(root, "user_id", max, out var userId, out var error)
                || !JsonFields.TryGetString(root, "experiment_id", max, out var experimentId, out error)
                || !JsonFields.TryGetObjectJson(root, "environment", out var environment, out error))
            {
                return Problems.BadRequest(error!);
            }

            experimentId = string.IsNullOrWhiteSpace(experimentId) ? "default" : experimentId;

            // Without model_group, an experiment with a configured split assigns one (sticky per user) and the
            // session records the exposure; otherwise model_group is required as before.
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

            var sessionId = SessionIds.NewId();
            var command = new StartSession(userId, experimentId, modelGroup, environment ?? "{}");
            var grain = grains.GetGrain<ISessionGrain>(sessionId);
            var result = await grain.StartAsync(command);
            if (result.Status != SessionStatus.Ok || result.Session is not { } session)
            {
                // 144 random bits do not collide; if they ever do, the client simply starts again.
                return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Try again", "The session could not be created; retry the request.");
            }

            if (assigned is not null)
            {
                var exposure = $$"""{"experiment_id":{{JsonSerializer.Serialize(experimentId)}},"model_group":{{JsonSerializer.Serialize(assigned)}},"assignment":"sticky_hash"}""";
                await grain.AppendAsync(new AppendBatch([new IncomingEvent("exposure", exposure, null, "exposure")]));
            }

            return TypedResults.Created(
                $"/session/{sessionId}",
                new StartResponse(session.SessionId, session.UserId, session.ExperimentId, session.ModelGroup, Timestamps.Format(session.StartTime)));
        }
    }

    internal static async Task<Results<Ok<AppendResponse>, ProblemHttpResult>> AppendAsync(
        HttpRequest request, JsonBody body, EventParser parser, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        using (document)
        {
            var root = document.RootElement;
            if (!TryGetSessionId(root, out var sessionId, out problem)
                || !parser.TryParseBatch(root, out var batch, out problem))
            {
                return problem!;
            }

            var result = await grains.GetGrain<ISessionGrain>(sessionId).AppendAsync(batch);
            return ToResponse(sessionId, result, request.HttpContext.Response);
        }
    }

    internal static async Task<Results<Ok<EndResponse>, ProblemHttpResult>> EndAsync(
        HttpRequest request, JsonBody body, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        using (document)
        {
            if (!TryGetSessionId(document.RootElement, out var sessionId, out problem))
            {
                return problem!;
            }

            var result = await grains.GetGrain<ISessionGrain>(sessionId).EndAsync();
            return result.Status == SessionStatus.NotFound
                ? Problems.SessionNotFound(sessionId)
                : TypedResults.Ok(new EndResponse(sessionId, Timestamps.Format(result.EndTime), result.LastSeq));
        }
    }

    internal static async Task<Results<SessionDocumentResult, ProblemHttpResult>> ReadAsync(
        string sessionId, long? after_seq, int? limit, IGrainFactory grains, IOptions<GatewayOptions> options)
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

        var page = await grains.GetGrain<ISessionGrain>(sessionId).ReadAsync(after_seq ?? 0, limit ?? maxPage);
        return page is null ? Problems.SessionNotFound(sessionId) : new SessionDocumentResult(page);
    }

    internal static Results<Ok<AppendResponse>, ProblemHttpResult> ToResponse(string sessionId, AppendResult result, HttpResponse response) => result.Status switch
    {
        SessionStatus.NotFound => Problems.SessionNotFound(sessionId),
        SessionStatus.Ended => Problems.SessionEnded(sessionId),
        SessionStatus.RateLimited => Problems.SessionRateLimited(response),
        _ => TypedResults.Ok(new AppendResponse(sessionId, result.Accepted, result.Duplicates, result.LastSeq, result.Ended)),
    };

    /// <summary>Reads <c>session_id</c>: missing or mistyped is a 400; anything not shaped like an issued id is a 404.</summary>
    internal static bool TryGetSessionId(JsonElement root, out string sessionId, out ProblemHttpResult? problem)
    {
        if (!JsonFields.TryGetRequiredString(root, "session_id", 256, out sessionId, out var error))
        {
            problem = Problems.BadRequest(error!);
            return false;
        }

        if (!SessionIds.IsWellFormed(sessionId))
        {
            problem = Problems.SessionNotFound(sessionId);
            return false;
        }

        problem = null;
        return true;
    }
}
