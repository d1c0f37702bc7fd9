using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Scalar.AspNetCore;
using SessionTracking.Gateway.Security;
using SessionTracking.Telemetry;

namespace SessionTracking.Gateway.Telemetry;

/// <summary>
/// OpenTelemetry metrics (Orleans' meters, the service's own, ASP.NET Core's) scraped by Prometheus at <c>/metrics</c>;
/// traces from ASP.NET Core and Orleans' activity sources, pushed over OTLP when configured (<see cref="ServiceTelemetry"/>);
/// the OpenAPI document (<see cref="Http.ApiContract"/>) at <c>/openapi/v1.json</c> with a Scalar reference at <c>/scalar</c>.
/// </summary>
internal static class TelemetryServices
{
    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSessionTrackingTelemetry(
            configuration,
            "sessiontracking-gateway",
            metrics => metrics.AddAspNetCoreInstrumentation().AddPrometheusExporter(),
            tracing => tracing.AddAspNetCoreInstrumentation(options => options.Filter = context => !context.Request.Path.StartsWithSegments("/metrics")));
        return services;
    }

    public static WebApplication MapGatewayTelemetry(this WebApplication app)
    {
        // Prometheus sends the operator key as a bearer token (scrape_config authorization.credentials).
        app.MapPrometheusScrapingEndpoint("/metrics").RequireOperatorKey();
        app.MapOpenApi();
        app.MapScalarApiReference();
        return app;
    }
}
