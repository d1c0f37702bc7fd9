using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// The browser sign-in of operators (page: <c>/signin.html</c>): who is signed in, sign in with the operator key,
/// sign in through the OpenID Connect provider, sign out.
/// </summary>
internal static class OperatorSignInEndpoints
{
    private const int MaxKeyLength = 4096;

    public static IEndpointRouteBuilder MapOperatorSignInEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/auth").WithTags("Operator sign-in");
        group.MapGet("/session", GetSessionAsync).WithName("GetOperatorSession")
            .WithSummary("Operator sign-in state")
            .WithDescription("Whether this browser is signed in (and until when), and which ways of signing in are offered.");
        group.MapPost("/signin", SignInAsync).WithName("OperatorSignIn")
            .WithSummary("Sign in with the operator key")
            .WithDescription("Sets the operator cookie. JSON only: a form or text/plain body could be posted by any site without a preflight.")
            .Accepts<SignInRequest>("application/json")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);
        group.MapPost("/signout", SignOutAsync).WithName("OperatorSignOut")
            .WithSummary("Sign out")
            .WithDescription("Removes the operator cookie; refused without proof of a same-origin request.")
            .ProducesProblem(StatusCodes.Status403Forbidden);
        group.MapGet("/oidc", SignInWithProviderAsync).WithName("OperatorSignInWithProvider")
            .WithSummary("Sign in through the identity provider")
            .WithDescription("Redirects the browser to the OpenID Connect provider, which returns to the sign-in page.")
            .Produces(StatusCodes.Status302Found)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Whether this browser is signed in (and until when), and which ways of signing in are offered.</summary>
    private static async Task<Ok<OperatorSessionResponse>> GetSessionAsync(
        HttpContext context, IOptionsMonitor<SecurityOptions> security, IOptionsMonitor<OperatorOpenIdConnectOptions> openIdConnect)
    {
        context.Response.Headers.CacheControl = "no-store";
        var oidc = openIdConnect.CurrentValue;
        var authentication = await context.AuthenticateAsync(OperatorAuthentication.Scheme);
        var user = authentication.Principal;
        var signedIn = user is not null && OperatorPrincipal.IsOperator(user);
        return TypedResults.Ok(new OperatorSessionResponse(
            Protected: OperatorAccess.IsProtected(security.CurrentValue, oidc),
            SignedIn: signedIn,
            Name: signedIn ? user!.Identity?.Name : null,
            Method: signedIn ? OperatorPrincipal.Method(user!) : null,
            ExpiresAt: signedIn ? Timestamps.Format(authentication.Properties?.ExpiresUtc) : null,
            KeySignIn: security.CurrentValue.HasOperatorKey,
            SingleSignOn: oidc.IsEnabled ? oidc.DisplayName : null));
    }

    /// <summary><c>{"key": "…"}</c> as application/json: the operator cookie, or 401 for a wrong key.</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> SignInAsync(
        HttpContext context, JsonBody body, SignInRateLimiter limiter, IOptionsMonitor<SecurityOptions> security, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var key = security.CurrentValue.OperatorApiKey;
        if (string.IsNullOrEmpty(key))
        {
            return Problems.Create(StatusCodes.Status404NotFound, "Key sign-in not configured", "No Security:OperatorApiKey is configured: there is no key to sign in with.");
        }

        if (CrossSiteRequests.IsCrossOrigin(request))
        {
            return Problems.Create(StatusCodes.Status403Forbidden, "Forbidden", "Cross-site request refused: sign in on this gateway's own page.");
        }

        // JSON only: a form or a text/plain body could be posted by any site without a preflight.
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) || !contentType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "Send the key as application/json: {\"key\": \"…\"}.");
        }

        if (limiter.TryAcquire(context) is { } limited)
        {
            return limited;
        }

        var (document, problem) = await body.ReadAsync(request, cancellationToken);
        if (document is null)
        {
            return problem!;
        }

        string presented;
        using (document)
        {
            if (!JsonFields.TryGetRequiredString(document.RootElement, "key", MaxKeyLength, out presented, out var error))
            {
                return Problems.BadRequest(error!);
            }
        }

        if (!OperatorPrincipal.KeyMatches(presented, key))
        {
            return Problems.Create(StatusCodes.Status401Unauthorized, "Wrong operator key", "That is not the operator key configured on this gateway.");
        }

        await context.SignInAsync(OperatorAuthentication.CookieScheme, OperatorPrincipal.ForKeySignIn(key), new AuthenticationProperties { IsPersistent = true });
        return TypedResults.NoContent();
    }

    /// <summary>Removes the cookie. Needs the same proof of origin as any cookie-authenticated state change.</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> SignOutAsync(HttpRequest request)
    {
        if (CrossSiteRequests.Refusal(request) is { } refusal)
        {
            return Problems.Create(StatusCodes.Status403Forbidden, "Forbidden", refusal);
        }

        await request.HttpContext.SignOutAsync(OperatorAuthentication.CookieScheme);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Sends the browser to the provider; it comes back to <c>/signin-oidc</c>, then to the sign-in page, which
    /// continues to <paramref name="returnUrl"/>. Landing on our own page first matters: the browser withholds a
    /// SameSite=Strict cookie from the redirects of a navigation another site started, but sends it on the next one.
    /// </summary>
    private static async Task<IResult> SignInWithProviderAsync(
        HttpContext context, IOptionsMonitor<OperatorOpenIdConnectOptions> openIdConnect, [FromQuery(Name = "return_url")] string? returnUrl)
    {
        if (!openIdConnect.CurrentValue.IsEnabled)
        {
            return Problems.Create(StatusCodes.Status404NotFound, "Single sign-on not configured", "No Security:OpenIdConnect:Authority is configured.");
        }

        try
        {
            await context.ChallengeAsync(OperatorAuthentication.OpenIdConnectScheme, new AuthenticationProperties { RedirectUri = OperatorChallenge.SignInUrl(returnUrl ?? "/") });
            return Results.Empty;
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or IOException)
        {
            // Typically the provider's discovery document could not be fetched.
            context.Response.Headers.RetryAfter = "10";
            return Problems.Create(StatusCodes.Status503ServiceUnavailable, "Identity provider unavailable", $"The identity provider could not be reached: {ex.Message}");
        }
    }
}

/// <summary>Body of POST /auth/signin.</summary>
public sealed record SignInRequest([property: System.ComponentModel.DataAnnotations.Required] string Key);

/// <summary>Answer of GET /auth/session.</summary>
public sealed record OperatorSessionResponse(
    bool Protected,
    bool SignedIn,
    string? Name,
    string? Method,
    string? ExpiresAt,
    bool KeySignIn,
    string? SingleSignOn);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(OperatorSessionResponse))]
internal sealed partial class OperatorJsonContext : JsonSerializerContext;
