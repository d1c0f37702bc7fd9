using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>Key sign-in attempts per client address (<see cref="OperatorSignInOptions.AttemptsPerMinute"/>): guessing the key stays slow.</summary>
internal sealed class SignInRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly bool _trustForwardedFor;

    public SignInRateLimiter(IOptions<OperatorSignInOptions> options, IOptions<SecurityOptions> security)
    {
        _trustForwardedFor = security.Value.TrustForwardedFor;
        var perMinute = options.Value.AttemptsPerMinute;
        _limiter = PartitionedRateLimiter.Create<string, string>(client =>
            RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1) / perMinute,
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
    }

    /// <summary>Null when the attempt may proceed; otherwise a 429 with Retry-After set on the response.</summary>
    public ProblemHttpResult? TryAcquire(HttpContext context)
    {
        using var lease = _limiter.AttemptAcquire(RateLimits.ClientKey(context, _trustForwardedFor));
        if (lease.IsAcquired)
        {
            return null;
        }

        RateLimits.SetRetryAfter(context.Response, lease);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "Too many sign-in attempts", "This client exceeds Security:SignIn:AttemptsPerMinute; retry after the Retry-After delay.");
    }

    public void Dispose() => _limiter.Dispose();
}
