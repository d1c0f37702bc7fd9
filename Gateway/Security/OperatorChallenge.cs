using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// How an operator endpoint refuses: a browser opening a page (the dashboard, /metrics) is sent to the sign-in page and
/// comes back after signing in; any other caller gets 401 problem+json with <c>WWW-Authenticate: Bearer</c>; an
/// authenticated caller that may not proceed gets 403 problem+json saying why.
/// </summary>
internal sealed class OperatorChallenge : IAuthorizationMiddlewareResultHandler
{
    public const string SignInPage = "/signin.html";

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded)
        {
            await next(context);
            return;
        }

        if (authorizeResult.Challenged)
        {
            if (IsPageNavigation(context.Request))
            {
                context.Response.Redirect(SignInUrl(context.Request.Path + context.Request.QueryString));
                return;
            }

            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.Create(StatusCodes.Status401Unauthorized, "Operator key required",
                    $"This endpoint needs the operator API key in {OperatorKeyHandler.HeaderName} or Authorization: Bearer, or a browser signed in at {SignInPage}.")
                .ExecuteAsync(context);
            return;
        }

        var reason = authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault()?.Message ?? "This operator may not do this.";
        await Problems.Create(StatusCodes.Status403Forbidden, "Forbidden", reason).ExecuteAsync(context);
    }

    /// <summary>The sign-in page, told where to go back to (a local path only).</summary>
    public static string SignInUrl(string returnPath) =>
        $"{SignInPage}?return_url={Uri.EscapeDataString(LocalPath(returnPath))}";

    /// <summary>A path on this gateway, or <c>/</c>: never another site (no scheme, no <c>//host</c>, no <c>/\host</c>).</summary>
    public static string LocalPath(string? path) =>
        path is { Length: > 0 } && path[0] == '/' && (path.Length == 1 || (path[1] != '/' && path[1] != '\\')) && !path.Any(char.IsControl)
            ? path
            : "/";

    /// <summary>A top-level navigation of a browser (Sec-Fetch-Mode), or, without that header, a GET that accepts HTML.</summary>
    private static bool IsPageNavigation(HttpRequest request)
    {
        if (!HttpMethods.IsGet(request.Method))
        {
            return false;
        }

        var mode = request.Headers["Sec-Fetch-Mode"].ToString();
        return mode.Length > 0
            ? mode == "navigate"
            : request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
    }
}
