using Orleans.Dashboard;
using SessionTracking.Telemetry;

namespace SessionTracking.Gateway.Hosting;

/// <summary>
/// <c>Orleans:Mode</c>: <c>CoHosted</c> (default) runs a silo inside the gateway process; <c>Client</c> makes the
/// gateway an Orleans client of silos started separately (the Silo project), found through the <c>Cluster</c> section.
/// </summary>
internal static class OrleansHosting
{
    public static WebApplicationBuilder AddSessionTrackingOrleans(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var mode = configuration["Orleans:Mode"] ?? "CoHosted";
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
        ?? !(configuration["Orleans:Mode"] ?? "CoHosted").Equals("Client", StringComparison.OrdinalIgnoreCase);
}
