using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Query;

/// <summary>The body of POST /query and /query/stream: <c>prompt</c> (or its alias <c>query</c>) and optional ids.</summary>
internal sealed record QueryRequest(string Prompt, string? SessionId, string? UserId, string? ModelGroup)
{
    public static async ValueTask<(QueryRequest? Request, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest request, JsonBody body, int maxPromptLength, int maxFieldLength, CancellationToken cancellationToken)
    {
        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return (null, problem);
        }

        using (document)
        {
            var root = document.RootElement;
            var field = root.TryGetProperty("prompt", out _) ? "prompt" : "query";
            if (!JsonFields.TryGetRequiredString(root, field, maxPromptLength, out var prompt, out var error)
                || !JsonFields.TryGetString(root, "session_id", 256, out var sessionId, out error)
                || !JsonFields.TryGetString(root, "user_id", maxFieldLength, out var userId, out error)
                || !JsonFields.TryGetString(root, "model_group", maxFieldLength, out var modelGroup, out error))
            {
                return (null, Problems.BadRequest(field == "query" && error!.StartsWith("'query' is required", StringComparison.Ordinal)
                    ? "'prompt' (or its alias 'query') is required and must be a non-empty string."
                    : error!));
            }

            return sessionId is not null && !SessionIds.IsWellFormed(sessionId)
                ? (null, Problems.SessionNotFound(sessionId))
                : (new QueryRequest(prompt, sessionId, userId, modelGroup), null);
        }
    }
}
