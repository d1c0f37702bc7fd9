using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>Per-client limits in the ASP.NET Core rate limiter, answering 429 with Retry-After (not its default 503).</summary>
internal static class RateLimits
{
    public static IServiceCollection AddClientRateLimiting(this IServiceCollection services, SecurityOptions security)
    {
        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                RateLimitPartition.GetTokenBucketLimiter(ClientKey(context, security.TrustForwardedFor), _ => TokenBucket(security.ClientRequestsPerSecond)));
            options.OnRejected = async (context, cancellationToken) =>
            {
                SetRetryAfter(context.HttpContext.Response, context.Lease);
                await Problems.Create(StatusCodes.Status429TooManyRequests, "Too many requests", "This client exceeds Security:ClientRequestsPerSecond; retry after the Retry-After delay.")
                    .ExecuteAsync(context.HttpContext);
            };
        });
        return services;
    }

    /// <summary>Refills every 100 ms so the allowed rate is smooth; bursts up to two seconds' worth.</summary>
    public static TokenBucketRateLimiterOptions TokenBucket(int perSecond) => new()
    {
        TokenLimit = Math.Max(1, perSecond * 2),
        TokensPerPeriod = Math.Max(1, perSecond / 10),
        ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    public static void SetRetryAfter(HttpResponse response, RateLimitLease lease)
    {
        var seconds = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The client a limit applies to: its address, or the first X-Forwarded-For address behind a trusted proxy.</summary>
    public static string ClientKey(HttpContext context, bool trustForwardedFor)
    {
        if (trustForwardedFor && context.Request.Headers["X-Forwarded-For"].ToString() is { Length: > 0 } forwarded)
        {
            var first = forwarded.Split(',')[0].Trim();
            if (IPAddress.TryParse(first, out var address))
            {
                return address.ToString();
            }
        }

        return context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
    }
}
