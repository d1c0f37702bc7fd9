using System.ClientModel;
using System.Net.ServerSentEvents;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// The steps of a query, for POST /query and POST /query/stream alike: read and limit the request, ask the model,
/// describe it, record the exchange (prompt, model_response, legacy queries row).
/// </summary>
internal sealed class QueryService(
    IChatClient chat,
    IGrainFactory grains,
    SessionGrains sessions,
    JsonBody body,
    WireLimits limits,
    TimeProvider clock,
    ModelBudgets budgets,
    IOptions<QueryOptions> options,
    ILogger<StreamingQuery> streamLogger)
{
    private readonly bool _requireSession = options.Value.RequireSession;
    private readonly int _maxOutputTokens = options.Value.MaxOutputTokens;

    public TimeProvider Clock => clock;

    /// <summary>
    /// Reads the body; then, before the model runs, the session grain says whether the session exists, still takes
    /// events and is within its request rate (the grain keeps the limit, so it holds across gateways), and the model
    /// budgets of the client address and the session admit the request, so that a refused request spends nothing.
    /// </summary>
    public async ValueTask<(QueryRequest? Query, ProblemHttpResult? Problem)> ReadAndAdmitAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var (query, problem) = await QueryRequest.ReadAsync(request, body, limits, cancellationToken);
        if (query is null)
        {
            return (null, problem);
        }

        if (query.SessionId is null && _requireSession)
        {
            return (null, Problems.BadRequest("'session_id' is required: this deployment answers queries only within a session started by POST /session/start (Query:RequireSession)."));
        }

        if (query.SessionId is { } sessionId
            && Problems.ForSession(await sessions.Get(sessionId).GetStatusAsync(), sessionId, request.HttpContext.Response) is { } refused)
        {
            return (null, refused);
        }

        return await budgets.TryAdmitAsync(request.HttpContext, query.SessionId) is { } overBudget ? (null, overBudget) : (query, null);
    }

    /// <summary>A new instance per call: the options object is mutable and middleware in a client pipeline may change it.</summary>
    private ChatOptions NewChatOptions() => new() { MaxOutputTokens = _maxOutputTokens };

    public async Task<Results<Ok<QueryResponse>, ProblemHttpResult>> AskAsync(QueryRequest query, HttpResponse response, CancellationToken cancellationToken)
    {
        var askedAt = clock.GetUtcNow();
        var started = clock.GetTimestamp();
        ChatResponse answer;
        try
        {
            answer = await chat.GetResponseAsync(query.Prompt, NewChatOptions(), cancellationToken);
        }
        catch (Exception ex) when (IsModelFailure(ex, cancellationToken))
        {
            return ModelUnavailable(response);
        }

        var (model, provider) = Describe(answer.ModelId);
        var recorded = new ModelAnswer(answer.Text, model, provider, (long)clock.GetElapsedTime(started).TotalMilliseconds, askedAt, clock.GetUtcNow(), TokenUsage.Of(answer.Usage));
        return await RecordAsync(recorded, query, response) is { } refused
            ? refused
            : TypedResults.Ok(new QueryResponse(recorded.Text, model, provider, recorded.LatencyMs, [], query.SessionId));
    }

    /// <summary>
    /// Waits for the model's first update, so that a provider failing at once is still a 503 problem (refusals came
    /// before, in <see cref="ReadAndAdmitAsync"/>: once the stream has started, a 404 or 409 can no longer be the status).
    /// </summary>
    public async Task<Results<ServerSentEventsResult<string>, ProblemHttpResult>> StreamAsync(QueryRequest query, HttpResponse response, CancellationToken aborted)
    {
        var streaming = new StreamingQuery(this, streamLogger, query, response, aborted);
        try
        {
            await streaming.StartAsync(chat.GetStreamingResponseAsync(query.Prompt, NewChatOptions(), aborted));
        }
        catch (Exception ex) when (IsModelFailure(ex, aborted))
        {
            await streaming.DisposeAsync();
            return ModelUnavailable(response);
        }

        return TypedResults.ServerSentEvents(streaming.EventsAsync());
    }

    /// <summary>
    /// Charges the answer's tokens to the budgets (the model spent them whatever happens next), then records the
    /// exchange as the earlier system did; the problem to answer when the session refused.
    /// </summary>
    public async Task<ProblemHttpResult?> RecordAsync(ModelAnswer answer, QueryRequest query, HttpResponse response)
    {
        await budgets.ChargeAsync(response.HttpContext, query.SessionId, ModelBudgets.Tokens(query.Prompt, answer));
        var row = new QueryRow(query.SessionId, query.UserId, query.ModelGroup, query.Prompt, answer.Text, answer.Model, answer.Provider, answer.LatencyMs, "[]", answer.AskedAt);
        if (query.SessionId is null)
        {
            await grains.GetGrain<ILegacyLogGrain>(0).WriteQueryAsync(row);
            return null;
        }

        var result = await sessions.Get(query.SessionId).RecordExchangeAsync(answer.ToExchange(query, row));
        return Problems.ForSession(result.Status, query.SessionId, response);
    }

    public (string Model, string Provider) Describe(string? modelId)
    {
        var metadata = chat.GetService<ChatClientMetadata>();
        return (modelId ?? metadata?.DefaultModelId ?? "unknown", metadata?.ProviderName ?? "unknown");
    }

    /// <summary>
    /// The provider failed (network, HTTP error, its own timeout), as opposed to the client going away. The OpenAI
    /// client retries first and then throws an <see cref="AggregateException"/> of the attempts' failures.
    /// </summary>
    public static bool IsModelFailure(Exception exception, CancellationToken requestAborted) => exception switch
    {
        HttpRequestException or ClientResultException => true,
        OperationCanceledException => !requestAborted.IsCancellationRequested,
        AggregateException aggregate => aggregate.InnerExceptions.All(inner => IsModelFailure(inner, requestAborted)),
        _ => false,
    };

    private static ProblemHttpResult ModelUnavailable(HttpResponse response)
    {
        response.Headers.RetryAfter = "5";
        return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Model unavailable", "The model provider did not answer; retry later.");
    }
}
