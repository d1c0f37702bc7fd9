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
        return services;
    }
}
