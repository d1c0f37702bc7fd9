using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Gateway.Security;

/// <summary>Access control and abuse limits, section <c>Security</c>. See docs/reliability.md.</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "Security";

    /// <summary>
    /// Key that operator endpoints (reading sessions, analytics, exports) require in <c>X-Api-Key</c> or
    /// <c>Authorization: Bearer</c>. When empty, those endpoints are open and the gateway listens on loopback only.
    /// </summary>
    public string? OperatorApiKey { get; set; }

    /// <summary>Origins allowed to call the tracking API from browsers (CORS). Empty: same origin only.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Requests per second one client (remote address) may make; bursts up to twice that.</summary>
    [Range(1, 10_000_000)]
    public int ClientRequestsPerSecond { get; set; } = 50_000;

    /// <summary>
    /// Use the first address of <c>X-Forwarded-For</c> as the client, and <c>X-Forwarded-Proto</c> as the request's
    /// scheme (only behind a proxy you trust, which sets both).
    /// </summary>
    public bool TrustForwardedFor { get; set; }

    public bool HasOperatorKey => !string.IsNullOrEmpty(OperatorApiKey);
}
