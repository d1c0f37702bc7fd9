using Orleans.Dashboard;
using SessionTracking.Telemetry;

namespace SessionTracking.Gateway.Hosting;

/// <summary>
/// <c>Orleans:Mode</c>: <c>CoHosted</c> (default) runs a silo inside the gateway process; <c>Client</c> makes the
/// gateway an Orleans client of silos started separately (the Silo project), found through the <c>Cluster</c> section.
/// A gateway built with <c>-p:CoHostSilo=false</c> has no silo to host: it is a client only, and that is its default.
/// </summary>
internal static class OrleansHosting
{
#if CO_HOST_SILO
    private const string DefaultMode = "CoHosted";
#else
    private const string DefaultMode = "Client";
#endif

    public static WebApplicationBuilder AddSessionTrackingOrleans(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var mode = configuration["Orleans:Mode"] ?? DefaultMode;
        if (mode.Equals("Client", StringComparison.OrdinalIgnoreCase))
        {
            // Split mode: the dashboard's grains run on the silos (Silo/Program.cs adds them with Dashboard:Enabled=true);
            // the gateway serves its UI. Opt-in there: its counters change the load the silos report to placement.
            builder.UseOrleansClient(client =>
            {
                client.UseSessionTrackingClustering(configuration);
                if (ServiceTelemetry.ExportsTraces(configuration))
                {
                    client.AddActivityPropagation();
                }

                if (IsDashboardEnabled(configuration))
                {
                    client.AddDashboard();
                }
            });
        }
        else if (mode.Equals("CoHosted", StringComparison.OrdinalIgnoreCase))
        {
#if CO_HOST_SILO
            builder.UseOrleans(silo =>
            {
                silo.UseSessionTrackingClustering(configuration)
                    .AddSessionTracking(configuration)
                    .AddDashboard();
                if (ServiceTelemetry.ExportsTraces(configuration))
                {
                    silo.AddActivityPropagation();
                }
            });
#else
            throw new InvalidOperationException("Orleans:Mode=CoHosted needs a gateway built with CoHostSilo=true (the default); this build is a client of separately run silos: use Orleans:Mode=Client.");
#endif
        }
        else
        {
            throw new InvalidOperationException($"Unknown Orleans:Mode '{mode}'. Known: CoHosted, Client.");
        }

        return builder;
    }

    /// <summary><c>Dashboard:Enabled</c>: default on when co-hosted, off in Client (split) mode.</summary>
    public static bool IsDashboardEnabled(IConfiguration configuration) =>
        configuration.GetValue<bool?>("Dashboard:Enabled")
        ?? !(configuration["Orleans:Mode"] ?? DefaultMode).Equals("Client", StringComparison.OrdinalIgnoreCase);
}
