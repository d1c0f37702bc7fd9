using SessionTracking;

// A standalone silo: gateways connect to it as Orleans clients (Gateway with Orleans:Mode=Client).
var builder = Host.CreateApplicationBuilder(args);
builder.UseOrleans(silo => silo
    .UseSessionTrackingClustering(builder.Configuration)
    .AddSessionTracking(builder.Configuration));

await builder.Build().RunAsync();
