using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace SessionTracking.Telemetry;

/// <summary>
/// The OpenTelemetry set-up every process shares (gateway, co-hosted or split, and standalone silos): Orleans' meters
/// and activity sources plus the service's own meter, under the process's service name; pushed over OTLP when the
/// standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is configured (metrics, traces and logs to a collector). Traces exist
/// only then.
/// </summary>
public static class ServiceTelemetry
{
    public static OpenTelemetryBuilder AddSessionTrackingTelemetry(
        this IServiceCollection services,
        IConfiguration configuration,
        string serviceName,
        Action<MeterProviderBuilder>? metrics = null,
        Action<TracerProviderBuilder>? tracing = null)
    {
        var otlp = ExportsTraces(configuration);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(builder =>
            {
                // System.Runtime: the runtime's own meter (GC collections and pause time, heap, thread pool queue, CPU).
                builder.AddMeter("Microsoft.Orleans", SessionMetrics.MeterName, "System.Runtime");
                metrics?.Invoke(builder);
            });

        // Spans only when they go somewhere: a tracer provider without an exporter still makes ASP.NET Core and
        // Orleans create and sample an Activity for every request and grain call.
        if (otlp)
        {
            telemetry.WithTracing(builder =>
            {
                builder.AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application");
                tracing?.Invoke(builder);
            });

            // The OTLP exporter reads the standard OTEL_EXPORTER_OTLP_* settings (endpoint, protocol, headers) itself.
            telemetry.UseOtlpExporter();

            // A log record's body is its message template ("{Listening}") unless the rendered message is included;
            // the template's arguments travel as attributes either way.
            services.Configure<OpenTelemetryLoggerOptions>(options => options.IncludeFormattedMessage = true);
        }

        return telemetry;
    }

    /// <summary>
    /// True when an OTLP endpoint is configured, the only case in which spans are made. Orleans' activity propagation
    /// (grain call filters on both sides of every call) is added only then: without spans it is pure per-call cost.
    /// </summary>
    public static bool ExportsTraces(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
}
