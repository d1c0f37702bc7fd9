using System.Net;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using SessionTracking.Storage;

namespace SessionTracking.Silo.Health;

/// <summary>
/// Liveness and readiness of a standalone silo for orchestrators (Kubernetes probes, compose health checks).
/// <c>/healthz</c>: the process answers HTTP and the cluster has not declared this silo dead; a frozen or hung process
/// answers nothing, so the probe times out and the orchestrator restarts it. <c>/readyz</c>: this silo is an active
/// cluster member and its store reads and accepts writes.
/// </summary>
public static class SiloHealthEndpoints
{
    public static WebApplicationBuilder AddSiloHealthEndpoints(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(SiloHealthOptions.SectionName);
        builder.Services.AddOptions<SiloHealthOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        var options = section.Get<SiloHealthOptions>() ?? new SiloHealthOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (options.Host == "*")
            {
                kestrel.ListenAnyIP(options.Port);
            }
            else if (options.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) && options.Port != 0)
            {
                kestrel.ListenLocalhost(options.Port);
            }
            else
            {
                kestrel.Listen(IPAddress.TryParse(options.Host, out var address) ? address : IPAddress.Loopback, options.Port);
            }
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapSiloHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", Live);
        app.MapGet("/readyz", ReadyAsync);
        return app;
    }

    internal static IResult Live(IClusterMembershipService membership, ILocalSiloDetails silo) =>
        StatusOf(membership, silo) is SiloStatus.Dead
            ? Unavailable("The cluster declared this silo dead; it is shutting down.")
            : TypedResults.Ok(new SiloHealth("ok", null));

    internal static async Task<IResult> ReadyAsync(IClusterMembershipService membership, ILocalSiloDetails silo, ISessionStore store, IOptions<SiloHealthOptions> options)
    {
        var status = StatusOf(membership, silo);
        if (status is not SiloStatus.Active)
        {
            return Unavailable($"This silo is {status}, not an active cluster member.");
        }

        using var timeout = new CancellationTokenSource(options.Value.StoreTimeout);
        try
        {
            if (await store.IsHealthyAsync(timeout.Token))
            {
                return TypedResults.Ok(new SiloHealth("ready", null));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or StoreUnavailableException)
        {
        }

        return Unavailable("The session store does not answer or refuses writes.");
    }

    private static SiloStatus StatusOf(IClusterMembershipService membership, ILocalSiloDetails silo) =>
        membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);

    private static IResult Unavailable(string detail) =>
        TypedResults.Json(new SiloHealth("unavailable", detail), statusCode: StatusCodes.Status503ServiceUnavailable);

    internal sealed record SiloHealth(string Status, string? Detail);
}
