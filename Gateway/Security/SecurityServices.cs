using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace SessionTracking.Gateway.Security;

internal static class SecurityServices
{
    /// <summary>Operator key and sign-in, CORS allowlist for tracker origins, per-client rate limits (the per-session limit is the session grain's).</summary>
    public static IServiceCollection AddGatewaySecurity(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(SecurityOptions.SectionName);
        services.AddOptions<SecurityOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        var security = section.Get<SecurityOptions>() ?? new SecurityOptions();

        services.AddCors(cors =>
        {
            if (security.AllowedOrigins.Length > 0)
            {
                cors.AddDefaultPolicy(policy => policy
                    .WithOrigins(security.AllowedOrigins)
                    .WithMethods("GET", "POST")
                    .WithHeaders("Content-Type", "X-Api-Key", "Authorization")
                    .WithExposedHeaders("Retry-After", "Location", "Link")
                    .SetPreflightMaxAge(TimeSpan.FromHours(1)));
            }
        });
        services.AddOperatorAuthentication(configuration);
        services.AddClientRateLimiting(security);
        services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders = ForwardedHeaders.XForwardedProto;
            options.KnownIPNetworks.Clear();
            options.KnownProxies.Clear();
        });
        return services;
    }

    /// <summary>
    /// Behind a proxy the operator trusts (<see cref="SecurityOptions.TrustForwardedFor"/>), the scheme the browser used
    /// is the proxy's <c>X-Forwarded-Proto</c>: a TLS-terminating proxy makes the request HTTPS, which the OpenID Connect
    /// redirect URI and the Secure cookie rule need to know.
    /// </summary>
    public static WebApplication UseForwardedSchemeWhenTrusted(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value.TrustForwardedFor)
        {
            app.UseForwardedHeaders();
        }

        return app;
    }
}
