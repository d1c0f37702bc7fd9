using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Endpoints that read other people's data (or delete it) are for operators, when access control is configured: an
/// operator key (<see cref="SecurityOptions.OperatorApiKey"/>) or an OpenID Connect provider. An operator presents the
/// key in <c>X-Api-Key</c> or <c>Authorization: Bearer</c>, or is a browser signed in with the operator cookie
/// (see <see cref="OperatorAuthentication"/>).
/// </summary>
public static class OperatorAccess
{
    /// <summary>The authorization policy every operator endpoint requires.</summary>
    public const string PolicyName = "Operator";

    public static TBuilder RequireOperatorKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(OperatorKeyRequired.Instance).RequireAuthorization(PolicyName);

    /// <summary>Whether operator endpoints are closed to anonymous callers (with neither, they are open on loopback).</summary>
    public static bool IsProtected(SecurityOptions security, OperatorOpenIdConnectOptions openIdConnect) =>
        security.HasOperatorKey || openIdConnect.IsEnabled;
}

/// <summary>What <see cref="OperatorAccess.PolicyName"/> requires.</summary>
internal sealed class OperatorRequirement : IAuthorizationRequirement;

/// <summary>
/// Open when nothing is configured; otherwise an operator principal (key header or sign-in cookie), and a request
/// authenticated by the cookie that changes state must show it was sent by our own pages (<see cref="CrossSiteRequests"/>).
/// </summary>
internal sealed class OperatorRequirementHandler(IOptionsMonitor<SecurityOptions> security, IOptionsMonitor<OperatorOpenIdConnectOptions> openIdConnect)
    : AuthorizationHandler<OperatorRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, OperatorRequirement requirement)
    {
        if (!OperatorAccess.IsProtected(security.CurrentValue, openIdConnect.CurrentValue))
        {
            context.Succeed(requirement);
            return Task.CompletedTask;
        }

        if (!OperatorPrincipal.IsOperator(context.User))
        {
            return Task.CompletedTask; // not authenticated: a challenge (401, or the sign-in page for a browser)
        }

        if (OperatorPrincipal.CameFromCookie(context.User)
            && context.Resource is HttpContext http
            && CrossSiteRequests.Refusal(http.Request) is { } refusal)
        {
            context.Fail(new AuthorizationFailureReason(this, refusal));
            return Task.CompletedTask;
        }

        context.Succeed(requirement);
        return Task.CompletedTask;
    }
}
