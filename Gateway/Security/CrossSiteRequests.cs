namespace SessionTracking.Gateway.Security;

/// <summary>
/// Protection of cookie-authenticated state changes (DELETE /users/{id}, sign-out) against requests another site makes
/// the browser send. The cookie is SameSite=Strict already; on top, such a request must carry
/// <c>X-Requested-With</c>, which no form can send and no other origin can add without a CORS preflight that the
/// gateway never grants, and the browser must not report it as cross-origin (<c>Sec-Fetch-Site</c>, else <c>Origin</c>).
/// </summary>
internal static class CrossSiteRequests
{
    public const string HeaderName = "X-Requested-With";

    /// <summary>Null when the request may proceed; otherwise why it is refused (a 403).</summary>
    public static string? Refusal(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
        {
            return null;
        }

        if (string.IsNullOrEmpty(request.Headers[HeaderName]))
        {
            return $"A state-changing request signed in by cookie must carry the {HeaderName} header (the gateway's pages send it; programs use the operator key header instead).";
        }

        return IsCrossOrigin(request) ? "Cross-site request refused: it did not come from this gateway's own pages." : null;
    }

    /// <summary>
    /// Sec-Fetch-Site is set by the browser and cannot be forged by a page. Without it (older browsers), an Origin header
    /// naming another host than the one requested gives a cross-origin request away; ports are not compared because a
    /// proxy in front of the gateway may drop them from Host.
    /// </summary>
    public static bool IsCrossOrigin(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0)
        {
            return site is not ("same-origin" or "none");
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            return false;
        }

        return !Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !string.Equals(uri.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase);
    }
}
