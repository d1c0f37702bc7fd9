using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Who is an operator: a request presenting the operator key (<c>X-Api-Key</c> or <c>Authorization: Bearer</c>), or
/// a browser carrying the operator cookie, issued by <c>POST /auth/signin</c> for the key or after an OpenID Connect
/// sign-in of a user in an allowed group. A request that presents a key is judged by the key alone, never by a cookie.
/// </summary>
internal static class OperatorAuthentication
{
    /// <summary>The operator policy's scheme: forwards to the key handler when a key is presented, else to the cookie.</summary>
    public const string Scheme = "Operator";
    public const string KeyScheme = "OperatorKey";
    public const string CookieScheme = "OperatorCookie";
    public const string OpenIdConnectScheme = "OperatorOidc";
    public const string CookieName = "SessionTracking.Operator";

    public static IServiceCollection AddOperatorAuthentication(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperatorSignInOptions>().Bind(configuration.GetSection(OperatorSignInOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<OperatorOpenIdConnectOptions>().Bind(configuration.GetSection(OperatorOpenIdConnectOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OperatorOpenIdConnectOptions>, OperatorOpenIdConnectOptionsValidator>();

        // No default scheme: the authentication middleware then only serves the OpenID Connect callback, and only operator
        // endpoints authenticate (their policy names the scheme), so the tracking API's requests never read a cookie.
        var authentication = services
            .AddAuthentication()
            .AddPolicyScheme(Scheme, "Operator key or sign-in cookie", options =>
                options.ForwardDefaultSelector = context => OperatorKeyHandler.PresentsKey(context.Request) ? KeyScheme : CookieScheme)
            .AddScheme<AuthenticationSchemeOptions, OperatorKeyHandler>(KeyScheme, displayName: null, _ => { })
            .AddCookie(CookieScheme);
        services.AddOptions<CookieAuthenticationOptions>(CookieScheme).Configure<IOptions<OperatorSignInOptions>>(ConfigureCookie);

        // Registered only when configured: the handler fetches the provider's metadata on first use.
        var openIdConnect = configuration.GetSection(OperatorOpenIdConnectOptions.SectionName).Get<OperatorOpenIdConnectOptions>() ?? new OperatorOpenIdConnectOptions();
        if (openIdConnect.IsEnabled)
        {
            authentication.AddOpenIdConnect(OpenIdConnectScheme, openIdConnect.DisplayName, options => OperatorOpenIdConnect.Configure(options, openIdConnect));
        }

        services.AddAuthorizationBuilder().AddPolicy(OperatorAccess.PolicyName, policy => policy
            .AddAuthenticationSchemes(Scheme)
            .AddRequirements(new OperatorRequirement()));
        services.AddSingleton<IAuthorizationHandler, OperatorRequirementHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, OperatorChallenge>();
        services.AddSingleton<SignInRateLimiter>();
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, OperatorJsonContext.Default));
        services.AddSharedKeyRing(configuration);
        return services;
    }

    private static void ConfigureCookie(CookieAuthenticationOptions options, IOptions<OperatorSignInOptions> signIn)
    {
        options.Cookie = new OperatorCookieBuilder
        {
            Name = CookieName,
            Path = "/",
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            IsEssential = true,
        };
        options.ExpireTimeSpan = signIn.Value.Lifetime;
        options.SlidingExpiration = false; // a sign-in lasts Lifetime from the moment it was made, however busy the operator
        options.Events.OnValidatePrincipal = ValidatePrincipalAsync;
        // Refusals are answered by OperatorChallenge (authorization), never by the cookie handler's redirects.
        options.Events.OnRedirectToLogin = context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        };
        options.Events.OnRedirectToAccessDenied = context =>
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            return Task.CompletedTask;
        };
    }

    /// <summary>
    /// A cookie stays valid only while what it was issued for still holds: a key sign-in for the key configured now
    /// (rotating the key signs out those browsers), an OpenID Connect sign-in while that provider is still configured.
    /// </summary>
    private static async Task ValidatePrincipalAsync(CookieValidatePrincipalContext context)
    {
        var services = context.HttpContext.RequestServices;
        var principal = context.Principal!;
        var valid = OperatorPrincipal.Method(principal) switch
        {
            OperatorPrincipal.KeyMethod => services.GetRequiredService<IOptionsMonitor<SecurityOptions>>().CurrentValue.OperatorApiKey is { Length: > 0 } key
                && principal.FindFirst(OperatorPrincipal.KeyDigestClaim)?.Value == OperatorPrincipal.KeyDigest(key),
            OperatorPrincipal.OpenIdConnectMethod => services.GetRequiredService<IOptionsMonitor<OperatorOpenIdConnectOptions>>().CurrentValue is { IsEnabled: true } oidc
                && principal.FindFirst(OperatorPrincipal.IssuerClaim)?.Value == oidc.Authority,
            _ => false,
        };
        if (!valid)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieScheme);
        }
    }

    /// <summary>
    /// The cookie (and the OpenID Connect state) are encrypted with ASP.NET Core Data Protection. Gateways behind one
    /// entry point must share its key ring, or a cookie issued by one is rejected by the next: with Redis membership
    /// the keys live in that Redis; a single gateway keeps them in its user profile (the framework's default).
    /// </summary>
    private static void AddSharedKeyRing(this IServiceCollection services, IConfiguration configuration)
    {
        var cluster = configuration.GetSection(ClusterSettings.SectionName).Get<ClusterSettings>() ?? new ClusterSettings();
        var dataProtection = services.AddDataProtection().SetApplicationName($"session-tracking-gateway:{cluster.ServiceId}");
        if (cluster.Provider.Equals("Redis", StringComparison.OrdinalIgnoreCase) && !string.IsNullOrWhiteSpace(cluster.RedisConnectionString))
        {
            var redisOptions = ConfigurationOptions.Parse(cluster.RedisConnectionString);
            redisOptions.AbortOnConnectFail = false;
            var redis = new Lazy<IConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(redisOptions));
            dataProtection.PersistKeysToStackExchangeRedis(() => redis.Value.GetDatabase(), $"{cluster.ServiceId}:gateway-data-protection-keys");
        }
    }
}
