using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using SessionTracking;
using SessionTracking.Silo.Health;
using SessionTracking.Telemetry;

// A standalone silo: gateways connect to it as Orleans clients (Gateway with Orleans:Mode=Client). Its only HTTP
// surface is /healthz and /readyz on Health:Port, for orchestrators.
var builder = WebApplication.CreateSlimBuilder(args);
builder.AddSiloHealthEndpoints();
builder.UseOrleans(silo =>
{
    silo.UseSessionTrackingClustering(builder.Configuration)
        .AddSessionTracking(builder.Configuration);
    if (ServiceTelemetry.ExportsTraces(builder.Configuration))
    {
        silo.AddActivityPropagation();
    }

    // The Orleans dashboard's grains and counters (opt-in, Dashboard:Enabled=true); a gateway in Client mode with the
    // same setting serves its UI at /dashboard.
    if (builder.Configuration.GetValue<bool>("Dashboard:Enabled"))
    {
        silo.AddDashboard();
    }
});

// Metrics and traces over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; a Prometheus scrape endpoint (/metrics) when
// Telemetry:PrometheusPort is (Telemetry:PrometheusHost: localhost by default, * in a container).
var prometheusPort = builder.Configuration.GetValue<int>("Telemetry:PrometheusPort");
builder.Services.AddSessionTrackingTelemetry(builder.Configuration, "sessiontracking-silo", metrics =>
{
    if (prometheusPort > 0)
    {
        metrics.AddPrometheusHttpListener(options =>
        {
            options.Host = builder.Configuration["Telemetry:PrometheusHost"] ?? "localhost";
            options.Port = prometheusPort;
        });
    }
});

var app = builder.Build();
app.MapSiloHealthEndpoints();
await app.RunAsync();
