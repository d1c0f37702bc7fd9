using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Query;

namespace SessionTracking.Gateway.Http;

/// <summary>
/// Every limit a request is checked against, in one place: the configured ones (sections <c>Gateway</c> and
/// <c>Query</c>) and the fixed ones of the contract. The readers check them; the OpenAPI document states them.
/// </summary>
internal sealed class WireLimits(IOptions<GatewayOptions> gateway, IOptions<QueryOptions> query)
{
    /// <summary>Longest event type: the guide's names and custom ones matching <see cref="EventTypePattern"/>.</summary>
    public const int EventTypeMaxLength = 64;

    public const string EventTypePattern = "^[A-Za-z][A-Za-z0-9_.:-]{0,63}$";

    /// <summary>Session ids are issued by the server: base64url of 18 random bytes.</summary>
    public const int SessionIdLength = 24;

    public const string SessionIdPattern = "^[A-Za-z0-9_-]{24}$";

    /// <summary>Latest accepted client time <c>t</c>: the year 9999, in Unix milliseconds.</summary>
    public const long MaxClientTime = 253_402_300_799_999;

    /// <summary>Largest page of GET /analytics/sessions.</summary>
    public const int MaxSessionListLimit = 1000;

    public const int DefaultSessionListLimit = 50;

    public GatewayOptions Gateway { get; } = gateway.Value;

    /// <summary>Longest name or id a client chooses (user_id, model_group, experiment_id, event id, filters).</summary>
    public int MaxFieldLength => Gateway.MaxFieldLength;

    public int MaxPromptLength { get; } = query.Value.MaxPromptLength;
}
