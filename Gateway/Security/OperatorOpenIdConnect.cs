using System.Net;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Sign-in through the team's identity provider: authorization code flow with PKCE, the groups (or roles) read from the
/// ID token and the userinfo endpoint, and then the same operator cookie as a key sign-in. A user in none of the
/// allowed groups is answered 403 at the callback and gets no cookie.
/// </summary>
internal static partial class OperatorOpenIdConnect
{
    public static void Configure(OpenIdConnectOptions options, OperatorOpenIdConnectOptions settings)
    {
        options.Authority = settings.Authority;
        options.ClientId = settings.ClientId;
        options.ClientSecret = settings.ClientSecret;
        options.RequireHttpsMetadata = !settings.AuthorityIsLoopback;
        options.SignInScheme = OperatorAuthentication.CookieScheme;
        options.ResponseType = OpenIdConnectResponseType.Code;
        options.UsePkce = true;
        // The answer comes back as a top-level GET, so the correlation and nonce cookies can be SameSite=Lax (a
        // form_post answer is a cross-site POST, which only SameSite=None cookies survive).
        options.ResponseMode = OpenIdConnectResponseMode.Query;
        options.CorrelationCookie = CallbackCookie(options.CorrelationCookie.Name);
        options.NonceCookie = CallbackCookie(options.NonceCookie.Name);
        options.Scope.Clear();
        foreach (var scope in new[] { "openid", "profile" }.Concat(settings.Scopes).Distinct(StringComparer.Ordinal))
        {
            options.Scope.Add(scope);
        }

        options.GetClaimsFromUserInfoEndpoint = true;
        options.MapInboundClaims = false; // claims keep the provider's names: GroupClaim is what the provider sends
        options.ClaimActions.MapJsonKey(settings.GroupClaim, settings.GroupClaim);
        options.ClaimActions.MapUniqueJsonKey("preferred_username", "preferred_username");
        options.SaveTokens = false; // the cookie carries who the operator is, not the provider's tokens
        options.Events.OnTicketReceived = context => AdmitAsync(context, settings);
        options.Events.OnRemoteFailure = RefuseAsync;
    }

    /// <summary>After the provider's answer is validated and userinfo read: an operator, or 403.</summary>
    private static async Task AdmitAsync(TicketReceivedContext context, OperatorOpenIdConnectOptions settings)
    {
        var user = context.Principal!;
        var name = user.FindFirst("preferred_username")?.Value ?? user.FindFirst("name")?.Value ?? user.FindFirst("email")?.Value ?? user.FindFirst("sub")?.Value ?? "unknown";
        var groups = user.FindAll(settings.GroupClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var logger = context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OperatorOpenIdConnect));
        if (settings.AllowedGroups.Any(groups.Contains))
        {
            LogAdmitted(logger, name);
            context.Principal = OperatorPrincipal.ForOpenIdConnect(name, settings.Authority!);
            context.Properties!.IsPersistent = true;
            return;
        }

        LogRefused(logger, name, settings.GroupClaim);
        context.HandleResponse();
        await SignInPages.WriteAsync(context.HttpContext, StatusCodes.Status403Forbidden, "Not an operator",
            $"{name} signed in at the identity provider, but is in none of the groups allowed to operate this service ({settings.GroupClaim}: {string.Join(", ", settings.AllowedGroups)}).");
    }

    /// <summary>The provider refused, the user cancelled, or the answer did not match the request: a page that says so, not a 500.</summary>
    private static async Task RefuseAsync(RemoteFailureContext context)
    {
        var logger = context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OperatorOpenIdConnect));
        LogFailed(logger, context.Failure?.Message ?? "unknown");
        context.HandleResponse();
        await SignInPages.WriteAsync(context.HttpContext, StatusCodes.Status400BadRequest, "Sign-in failed",
            $"Signing in with the identity provider did not succeed: {context.Failure?.Message ?? "no reason given"}");
    }

    private static CookieBuilder CallbackCookie(string? name) => new OperatorCookieBuilder
    {
        Name = name,
        HttpOnly = true,
        SameSite = SameSiteMode.Lax,
        IsEssential = true,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Operator {Name} signed in through OpenID Connect")]
    private static partial void LogAdmitted(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "OpenID Connect user {Name} refused: no allowed value in claim {GroupClaim}")]
    private static partial void LogRefused(ILogger logger, string name, string groupClaim);

    [LoggerMessage(Level = LogLevel.Warning, Message = "OpenID Connect sign-in failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}

/// <summary>Minimal HTML answers for the browser sign-in flow (the user is looking at them, not a program).</summary>
internal static class SignInPages
{
    public static async Task WriteAsync(HttpContext context, int status, string title, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var html = $"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{WebUtility.HtmlEncode(title)}</title></head>
            <body style="font-family: system-ui, sans-serif; margin: 2rem;">
            <h1>{WebUtility.HtmlEncode(title)}</h1>
            <p id="message">{WebUtility.HtmlEncode(message)}</p>
            <p><a href="{OperatorChallenge.SignInPage}">Sign in again</a></p>
            </body></html>
            """;
        await context.Response.WriteAsync(html, context.RequestAborted);
    }
}
