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
            metrics => metrics.AddAspNetCoreMeters().AddPrometheusExporter(),
            tracing => tracing.AddAspNetCoreInstrumentation(options => options.Filter = context => !context.Request.Path.StartsWithSegments("/metrics")));
        return services;
    }

    /// <summary>
    /// ASP.NET Core's meters an operator reads: requests (duration, active, by route and status), Kestrel's connections,
    /// unhandled exceptions, and requests the rate limiter let through or refused. Not the instrumentation package's whole
    /// set: the memory pool's meter records on every buffer rented and returned, routing's on every match, and the
    /// limiter's lease and queue instruments on every request; together a few per cent of a small request's CPU
    /// (docs/benchmark.md), for figures no dashboard of this service reads.
    /// </summary>
    private static MeterProviderBuilder AddAspNetCoreMeters(this MeterProviderBuilder metrics) =>
        metrics
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting")
            .AddView(instrument => instrument.Meter.Name == "Microsoft.AspNetCore.RateLimiting" && instrument.Name != "aspnetcore.rate_limiting.requests"
                ? MetricStreamConfiguration.Drop
                : null);

    public static WebApplication MapGatewayTelemetry(this WebApplication app)
    {
        // Prometheus sends the operator key as a bearer token (scrape_config authorization.credentials).
        app.MapPrometheusScrapingEndpoint("/metrics").RequireOperatorKey();
        app.MapOpenApi();
        app.MapScalarApiReference();
        return app;
    }
}
