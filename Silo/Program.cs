using Orleans.Dashboard;
using SessionTracking;

// A standalone silo: gateways connect to it as Orleans clients (Gateway with Orleans:Mode=Client).
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo
    .UseSessionTrackingClustering(builder.Configuration)
    .AddSessionTracking(builder.Configuration)
    // The Orleans dashboard's grains and counters; a gateway in Client mode serves its UI at /dashboard.
    .AddDashboard());

await builder.Build().RunAsync();
