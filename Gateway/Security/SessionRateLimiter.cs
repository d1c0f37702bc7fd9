using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Per-session token buckets. The session id is in the body, so this runs in the endpoint after parsing rather than
/// in the rate-limiting middleware (which limits per client before the body is read).
/// </summary>
internal sealed class SessionRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public SessionRateLimiter(IOptions<SecurityOptions> options)
    {
        var perSecond = options.Value.SessionRequestsPerSecond;
        _limiter = PartitionedRateLimiter.Create<string, string>(sessionId =>
            RateLimitPartition.GetTokenBucketLimiter(sessionId, _ => RateLimits.TokenBucket(perSecond)));
    }

    /// <summary>Null when the session may proceed; otherwise a 429 with Retry-After set on the response.</summary>
    public ProblemHttpResult? TryAcquire(string sessionId, HttpResponse response)
    {
        using var lease = _limiter.AttemptAcquire(sessionId);
        if (lease.IsAcquired)
        {
            return null;
        }

        RateLimits.SetRetryAfter(response, lease);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "Too many requests", "This session sends events faster than Security:SessionRequestsPerSecond allows; retry after the Retry-After delay.");
    }

    public void Dispose() => _limiter.Dispose();
}
