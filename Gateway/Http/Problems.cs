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

    /// <summary>The one mapping of a session grain's refusal to its answer; null when the grain accepted.</summary>
    public static ProblemHttpResult? ForSession(SessionStatus status, string sessionId) => status switch
    {
        SessionStatus.NotFound => SessionNotFound(sessionId),
        SessionStatus.Ended => SessionEnded(sessionId),
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
