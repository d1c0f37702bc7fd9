using Microsoft.AspNetCore.Http.HttpResults;

namespace SessionTracking.Gateway.Http;

/// <summary>
/// The API's error answers, all <c>application/problem+json</c>: every endpoint, the binding of query and route
/// values (<see cref="UnavailableExceptionHandler"/>) and empty error statuses (unknown paths) answer through here or
/// with the same shape.
/// </summary>
internal static class Problems
{
    public static ProblemHttpResult BadRequest(string detail) => Create(StatusCodes.Status400BadRequest, "Invalid request", detail);

    public static ProblemHttpResult SessionNotFound(string sessionId) =>
        Create(StatusCodes.Status404NotFound, "Session not found", $"No session '{Truncate(sessionId)}' exists. Start one with POST /session/start.");

    public static ProblemHttpResult SessionEnded(string sessionId) =>
        Create(StatusCodes.Status409Conflict, "Session ended", $"Session '{sessionId}' has ended; it accepts no new events.");

    /// <summary>429 for a session over <c>Sessions:RequestsPerSecond</c>; its bucket refills a request within a second.</summary>
    public static ProblemHttpResult SessionRateLimited(HttpResponse response)
    {
        response.Headers.RetryAfter = "1";
        return Create(StatusCodes.Status429TooManyRequests, "Too many requests", "This session sends requests faster than Sessions:RequestsPerSecond allows; retry after the Retry-After delay.");
    }

    /// <summary>
    /// The one mapping of a session grain's refusal to its answer; null when the grain accepted. Headers (Retry-After)
    /// go on <paramref name="response"/>.
    /// </summary>
    public static ProblemHttpResult? ForSession(SessionStatus status, string sessionId, HttpResponse response) => status switch
    {
        SessionStatus.NotFound => SessionNotFound(sessionId),
        SessionStatus.Ended => SessionEnded(sessionId),
        SessionStatus.RateLimited => SessionRateLimited(response),
        _ => null,
    };

    public static ProblemHttpResult TooLarge(string detail) => Create(StatusCodes.Status413PayloadTooLarge, "Payload too large", detail);

    public static ProblemHttpResult UnsupportedMediaType(string? contentType) =>
        Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", $"Content-Type '{Truncate(contentType ?? "")}' is not accepted; send application/json or text/plain.");

    public static ProblemHttpResult Create(int status, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title);

    /// <summary>The data of a server-sent <c>error</c> event: the problem's fields, once the status line has gone.</summary>
    public static StreamError ToStreamError(ProblemHttpResult problem) =>
        new(problem.StatusCode, problem.ProblemDetails.Title ?? "", problem.ProblemDetails.Detail ?? "");

    public static string Truncate(string value) => value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 64), "…");
}
