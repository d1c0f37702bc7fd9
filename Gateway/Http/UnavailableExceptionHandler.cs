using Microsoft.AspNetCore.Diagnostics;

namespace SessionTracking.Gateway.Http;

/// <summary>
/// Turns failures that are nobody's input error into problem answers: the store or cluster being unavailable is a
/// 503 with Retry-After (nothing of that request was acknowledged, so a retry is safe); an unreadable body is a 400.
/// </summary>
internal sealed partial class UnavailableExceptionHandler(IProblemDetailsService problems, ILogger<UnavailableExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, detail) = exception switch
        {
            // Binding failures of query and route values ("Failed to bind parameter \"int? limit\" from \"abc\".").
            BadHttpRequestException bad => (bad.StatusCode, "Invalid request", bad.Message),
            StoreUnavailableException => (StatusCodes.Status503ServiceUnavailable, "Store unavailable", "The session store is unavailable; nothing in this request was stored. Retry later."),
            TimeoutException or OrleansException => (StatusCodes.Status503ServiceUnavailable, "Service unavailable", "The cluster did not answer in time; nothing in this request was acknowledged. Retry later."),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => (499, "Client closed request", "The client went away."),
            _ => (StatusCodes.Status500InternalServerError, "Internal error", "An unexpected error occurred."),
        };

        if (status >= 500)
        {
            LogFailure(logger, exception, httpContext.Request.Method, httpContext.Request.Path, status);
        }

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = "1";
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} answered {Status}")]
    private static partial void LogFailure(ILogger logger, Exception exception, string method, string path, int status);
}
