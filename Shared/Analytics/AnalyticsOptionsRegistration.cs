using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SessionTracking.Analytics;

public static class AnalyticsOptionsRegistration
{
    /// <summary>
    /// Binds and validates the <c>Analytics</c> section once per container. A co-hosted gateway registers both the
    /// gateway's services and the silo's, and a second binding of the same section would append every list again (a
    /// funnel's <c>Steps</c> bound twice had six steps instead of three).
    /// </summary>
    public static IServiceCollection AddAnalyticsOptions(this IServiceCollection services, IConfiguration configuration)
    {
        if (services.Any(d => d.ServiceType == typeof(AnalyticsOptionsMarker)))
        {
            return services;
        }

        services.AddSingleton<AnalyticsOptionsMarker>();
        services.AddOptions<AnalyticsOptions>()
            .Bind(configuration.GetSection(AnalyticsOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        return services;
    }

    private sealed class AnalyticsOptionsMarker;
}
