using Orleans.Dashboard;
using SessionTracking.Gateway.Analytics;
using SessionTracking.Gateway.Health;
using SessionTracking.Gateway.Hosting;
using SessionTracking.Gateway.Legacy;
using SessionTracking.Gateway.Query;
using SessionTracking.Gateway.Security;
using SessionTracking.Gateway.Sessions;
using SessionTracking.Gateway.Telemetry;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, WebRootPath = GatewayServices.LocateWebRoot() });
var listening = ListenAddresses.Configure(builder);
builder.AddSessionTrackingOrleans();
builder.Services.AddGatewayServices(builder.Configuration);
builder.Services.AddGatewayTelemetry(builder.Configuration);

var app = builder.Build();
app.Logger.LogInformation("{Listening}", listening);
app.UseForwardedSchemeWhenTrusted();
app.UseExceptionHandler();
app.UseStatusCodePages(); // error statuses without a body (unknown path, wrong method) answer problem+json too
app.UseCors();
app.UseRateLimiter();
app.UseDefaultFiles();
app.UseStaticFiles();
app.UseAuthentication(); // the OpenID Connect callback (/signin-oidc); no default scheme, see OperatorAuthentication
app.UseAuthorization(); // operator endpoints: their policy authenticates by key header or sign-in cookie

app.MapSessionEndpoints();
app.MapQueryEndpoints();
app.MapLegacyEndpoints();
app.MapHealthEndpoints();
app.MapAnalyticsEndpoints();
app.MapExportEndpoints();
app.MapPrivacyEndpoints();
app.MapAssignmentEndpoints();
app.MapOperatorSignInEndpoints();

// The Orleans dashboard (co-hosted silo or, in Client mode, the cluster the gateway is a client of): operator only.
if (OrleansHosting.IsDashboardEnabled(app.Configuration))
{
    app.MapOrleansDashboard(routePrefix: "/dashboard").RequireOperatorKey().ExcludeFromDescription();
}
app.MapGatewayTelemetry();

app.Run();

/// <summary>Entry point, visible to the HTTP tests' WebApplicationFactory.</summary>
public partial class Program;
