using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Query;

/// <summary>A read <see cref="QueryRequestBody"/>: the prompt (from <c>prompt</c> or its alias <c>query</c>) and optional ids.</summary>
internal sealed record QueryRequest(string Prompt, string? SessionId, string? UserId, string? ModelGroup)
{
    public static async ValueTask<(QueryRequest? Request, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest request, JsonBody body, WireLimits limits, CancellationToken cancellationToken)
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
            var label = field == "query" ? "'prompt' (or its alias 'query')" : null;
            if (!JsonFields.TryGetRequiredString(root, field, limits.MaxPromptLength, out var prompt, out var error, label)
                || !JsonFields.TryGetString(root, "user_id", limits.MaxFieldLength, out var userId, out error)
                || !JsonFields.TryGetString(root, "model_group", limits.MaxFieldLength, out var modelGroup, out error))
            {
                return (null, Problems.BadRequest(error!));
            }

            return SessionIds.TryRead(root, required: false, out var sessionId, out problem)
                ? (new QueryRequest(prompt, sessionId, userId, modelGroup), null)
                : (null, problem);
        }
    }
}
