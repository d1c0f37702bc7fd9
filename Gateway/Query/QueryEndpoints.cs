using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// POST /query asks the model and answers as the earlier system did; POST /query/stream streams the answer as
/// server-sent events. Both record the exchange (prompt, model_response, legacy queries row) through <see cref="QueryService"/>.
/// </summary>
public static class QueryEndpoints
{
    private static readonly int[] Refusals =
    [
        StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
        StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable,
    ];

    public static IEndpointRouteBuilder MapQueryEndpoints(this IEndpointRouteBuilder app)
    {
        var query = app.MapGroup("/query").WithTags("Query").ProducesBudgetRefusals();
        query.MapPost("", QueryAsync)
            .WithName("Query")
            .WithSummary("Ask the model")
            .WithDescription("Asks the configured model and records a `prompt` and a `model_response` event in the session (when given) and a row in the legacy `queries` table.")
            .AcceptsBody<QueryRequestBody>()
            .ProducesProblems(Refusals);
        query.MapPost("/stream", StreamAsync)
            .WithName("QueryStream")
            .WithSummary("Ask the model, streamed")
            .WithDescription("The answer as server-sent events: `token` events, then `done` (or `error` when the provider fails mid-stream or the exchange cannot be recorded). Refusals come before the stream as problems. Closing the connection stops the generation; the answer so far is recorded with `stopped: true`.")
            .AcceptsBody<QueryRequestBody>()
            .ProducesServerSentEvents()
            .ProducesProblems(Refusals);
        return app;
    }

    internal static async Task<Results<Ok<QueryResponse>, ProblemHttpResult>> QueryAsync(HttpRequest request, QueryService queries, CancellationToken cancellationToken)
    {
        var (query, problem) = await queries.ReadAndAdmitAsync(request, cancellationToken);
        return query is null ? problem! : await queries.AskAsync(query, request.HttpContext.Response, cancellationToken);
    }

    internal static async Task<Results<ServerSentEventsResult<string>, ProblemHttpResult>> StreamAsync(HttpContext context, QueryService queries)
    {
        var (query, problem) = await queries.ReadAndAdmitAsync(context.Request, context.RequestAborted);
        return query is null ? problem! : await queries.StreamAsync(query, context.Response, context.RequestAborted);
    }
}
