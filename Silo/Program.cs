using Orleans.Dashboard;
using SessionTracking;

// A standalone silo: gateways connect to it as Orleans clients (Gateway with Orleans:Mode=Client).
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo =>
{
    silo.UseSessionTrackingClustering(builder.Configuration)
        .AddSessionTracking(builder.Configuration);

    // The Orleans dashboard's grains and counters (opt-in, Dashboard:Enabled=true); a gateway in Client mode with the
    // same setting serves its UI at /dashboard.
    if (builder.Configuration.GetValue<bool>("Dashboard:Enabled"))
    {
        silo.AddDashboard();
    }
});

await builder.Build().RunAsync();
