using Orleans.Dashboard;

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
            // Split mode: the dashboard's grains run on the silos (Silo/Program.cs adds them); the gateway serves its UI.
            builder.UseOrleansClient(client => client
                .UseSessionTrackingClustering(configuration)
                .AddActivityPropagation()
                .AddDashboard());
        }
        else if (mode.Equals("CoHosted", StringComparison.OrdinalIgnoreCase))
        {
            builder.UseOrleans(silo => silo
                .UseSessionTrackingClustering(configuration)
                .AddSessionTracking(configuration)
                .AddActivityPropagation()
                .AddDashboard());
        }
        else
        {
            throw new InvalidOperationException($"Unknown Orleans:Mode '{mode}'. Known: CoHosted, Client.");
        }

        return builder;
    }
}
