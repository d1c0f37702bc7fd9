using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace SessionTracking.Gateway.Security;

/// <summary>The operator key in <c>X-Api-Key</c> or <c>Authorization: Bearer</c>: how programs (and Prometheus) authenticate.</summary>
internal sealed class OperatorKeyHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptionsMonitor<SecurityOptions> security)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string HeaderName = "X-Api-Key";

    /// <summary>Whether the request presents a key at all (then the key decides, never a cookie).</summary>
    public static bool PresentsKey(HttpRequest request) => PresentedKey(request) is not null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedKey(Request);
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var key = security.CurrentValue.OperatorApiKey;
        return Task.FromResult(string.IsNullOrEmpty(key) || !OperatorPrincipal.KeyMatches(presented, key)
            ? AuthenticateResult.Fail("The operator key presented is not the configured one.")
            : AuthenticateResult.Success(new AuthenticationTicket(OperatorPrincipal.ForKeyHeader(Scheme.Name), Scheme.Name)));
    }

    private static string? PresentedKey(HttpRequest request)
    {
        var presented = request.Headers[HeaderName].ToString();
        if (presented.Length > 0)
        {
            return presented;
        }

        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization["Bearer ".Length..].Trim() is { Length: > 0 } bearer
            ? bearer
            : null;
    }
}
