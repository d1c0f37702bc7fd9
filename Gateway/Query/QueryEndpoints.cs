using System.ClientModel;
using System.Net.ServerSentEvents;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// POST /query asks the model and answers as the earlier system did; POST /query/stream streams the answer as
/// server-sent events. Both record the exchange (prompt, model_response, legacy queries row).
/// </summary>
public static class QueryEndpoints
{
    public static IEndpointRouteBuilder MapQueryEndpoints(this IEndpointRouteBuilder app)
    {
        var query = app.MapGroup("/query").WithTags("Query");
        query.MapPost("", QueryAsync);
        query.MapPost("/stream", StreamAsync);
        return app;
    }

    internal static async Task<Results<Ok<QueryResponse>, ProblemHttpResult>> QueryAsync(
        HttpRequest request,
        JsonBody body,
        IChatClient chat,
        IGrainFactory grains,
        IOptions<QueryOptions> queryOptions,
        IOptions<GatewayOptions> gatewayOptions,
        TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var (query, problem) = await QueryRequest.ReadAsync(request, body, queryOptions.Value.MaxPromptLength, gatewayOptions.Value.MaxFieldLength, cancellationToken);
        if (query is null)
        {
            return problem!;
        }

        if (await AdmitAsync(grains, query, request.HttpContext.Response) is { } notAdmitted)
        {
            return notAdmitted;
        }

        var askedAt = clock.GetUtcNow();
        var started = clock.GetTimestamp();
        ChatResponse response;
        try
        {
            response = await chat.GetResponseAsync(query.Prompt, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (IsModelFailure(ex, cancellationToken))
        {
            return ModelUnavailable(request.HttpContext.Response);
        }

        var (model, provider) = Describe(chat, response.ModelId);
        var answer = new ModelAnswer(response.Text, model, provider, (long)clock.GetElapsedTime(started).TotalMilliseconds, askedAt, clock.GetUtcNow());
        return await answer.RecordAsync(grains, query) is { } refused
            ? refused
            : TypedResults.Ok(new QueryResponse(answer.Text, model, provider, answer.LatencyMs, [], query.SessionId));
    }

    internal static async Task<Results<ServerSentEventsResult<string>, ProblemHttpResult>> StreamAsync(
        HttpContext context,
        JsonBody body,
        IChatClient chat,
        IGrainFactory grains,
        IOptions<QueryOptions> queryOptions,
        IOptions<GatewayOptions> gatewayOptions,
        TimeProvider clock,
        ILogger<StreamingQuery> logger)
    {
        var aborted = context.RequestAborted;
        var (query, problem) = await QueryRequest.ReadAsync(context.Request, body, queryOptions.Value.MaxPromptLength, gatewayOptions.Value.MaxFieldLength, aborted);
        if (query is null)
        {
            return problem!;
        }

        // Refuse before the model runs: once the stream has started, a 404 or 409 can no longer be the status.
        if (await AdmitAsync(grains, query, context.Response) is { } refused)
        {
            return refused;
        }

        var streaming = new StreamingQuery(chat, grains, clock, logger, query, aborted);
        try
        {
            // The first update decides between a 503 problem and a 200 stream.
            await streaming.StartAsync();
        }
        catch (Exception ex) when (IsModelFailure(ex, aborted))
        {
            await streaming.DisposeAsync();
            return ModelUnavailable(context.Response);
        }

        return TypedResults.ServerSentEvents(streaming.EventsAsync());
    }

    internal static (string Model, string Provider) Describe(IChatClient chat, string? modelId)
    {
        var metadata = chat.GetService<ChatClientMetadata>();
        return (modelId ?? metadata?.DefaultModelId ?? "unknown", metadata?.ProviderName ?? "unknown");
    }

    /// <summary>
    /// The provider failed (network, HTTP error, its own timeout), as opposed to the client going away. The OpenAI
    /// client retries first and then throws an <see cref="AggregateException"/> of the attempts' failures.
    /// </summary>
    internal static bool IsModelFailure(Exception exception, CancellationToken requestAborted) => exception switch
    {
        HttpRequestException or ClientResultException => true,
        OperationCanceledException => !requestAborted.IsCancellationRequested,
        AggregateException aggregate => aggregate.InnerExceptions.All(inner => IsModelFailure(inner, requestAborted)),
        _ => false,
    };

    /// <summary>
    /// Before the model runs, the session grain says whether the session exists, still takes events and is within its
    /// request rate (the grain keeps the limit, so it holds across gateways).
    /// </summary>
    private static async ValueTask<ProblemHttpResult?> AdmitAsync(IGrainFactory grains, QueryRequest query, HttpResponse response)
    {
        if (query.SessionId is not { } sessionId)
        {
            return null;
        }

        return await grains.GetGrain<ISessionGrain>(sessionId).GetStatusAsync() switch
        {
            SessionStatus.NotFound => Problems.SessionNotFound(sessionId),
            SessionStatus.Ended => Problems.SessionEnded(sessionId),
            SessionStatus.RateLimited => Problems.SessionRateLimited(response),
            _ => null,
        };
    }

    private static ProblemHttpResult ModelUnavailable(HttpResponse response)
    {
        response.Headers.RetryAfter = "5";
        return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Model unavailable", "The model provider did not answer; retry later.");
    }
}
