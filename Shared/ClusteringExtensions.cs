using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Messaging;

namespace SessionTracking;

/// <summary>
/// Clustering for clients from the <c>Cluster</c> section, the section's validation and the failure detection defaults;
/// the silo side (<c>SiloClusteringExtensions</c>, Silo.Hosting) reads the same settings, so both sides always agree.
/// </summary>
public static class ClusteringExtensions
{
    /// <summary>Orleans membership tuning (failure detection), bound from this section when present.</summary>
    public const string MembershipSection = "Orleans:ClusterMembership";

    public static IClientBuilder UseSessionTrackingClustering(this IClientBuilder client, IConfiguration configuration)
    {
        var settings = Read(configuration);

        // Calls in flight through a gateway connection that closes are resent by their callers (ResendOnGatewayLoss).
        client.Services.TryAddSingleton<ResendOnGatewayLoss>();
        client.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<ResendOnGatewayLoss>().ObserveConnections());
        if (IsRedis(settings))
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = settings.ServiceId;
            });
            // The client learns which silos to send through from its gateway list (FreshGatewayListProvider below); Orleans
            // re-reads it every minute by default, and until then keeps sending a dead or frozen silo's share of grain
            // calls to it. A quarter second costs four small Redis reads per second per gateway.
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(0.25));
            client.Configure<GatewayOptions>(configuration.GetSection("Orleans:ClientGateway"));

            // A call in flight to a silo that just died fails after its timeout: 2 s for writes (ISessionGrain.WriteTimeout),
            // ResponseTimeout (Orleans default 30 s) for the rest; tunable here.
            client.Configure<ClientMessagingOptions>(configuration.GetSection("Orleans:ClientMessaging"));
            client.UseRedisClustering(settings.RedisConnectionString!);
            if (settings.GatewayHeartbeatTimeout > TimeSpan.Zero)
            {
                client.Services.AddSingleton<IGatewayListProvider>(sp => new FreshGatewayListProvider(
                    sp.GetRequiredService<IMembershipTable>(), sp.GetRequiredService<IOptions<GatewayOptions>>(), settings.GatewayHeartbeatTimeout, TimeProvider.System));
            }

            return client;
        }

        return client.UseLocalhostClustering(settings.GatewayPorts, settings.ServiceId, settings.ClusterId);
    }

    /// <summary>
    /// Failure detection tuned to find a dead or frozen silo in seconds rather than a minute (see docs/cluster.md for the
    /// figures). Each silo probes the others every <c>ProbeTimeout</c> (adapted to observed round trips between half and
    /// four times it); <c>NumMissedProbesLimit</c> misses make it vote, and with two silos one vote evicts (Orleans needs
    /// min(<c>NumVotesForDeathDeclaration</c>, half the active silos rounded up)). A silo whose own health is degraded
    /// (thread-pool delays, no probes received) stretches its timeouts, so an overloaded silo does not evict healthy
    /// ones; with a single peer, however, "no probes received" is exactly what a frozen peer causes, so the survivor
    /// would doubt itself and wait up to nine times longer: the extension is off. Falsely evicted silos stop themselves
    /// and their sessions reactivate elsewhere without losing acknowledged events, which bounds the cost of a mistake.
    /// Every value can be overridden under <c>Orleans:ClusterMembership</c>.
    /// </summary>
    internal static void ApplyFailureDetectionDefaults(ClusterMembershipOptions options)
    {
        options.ProbeTimeout = TimeSpan.FromSeconds(2);
        options.MaxProbeTimeout = TimeSpan.FromSeconds(2);
        options.NumMissedProbesLimit = 3;
        options.NumVotesForDeathDeclaration = 2;
        options.ExtendProbeTimeoutDuringDegradation = false;

        // Gossip spreads a death at once; the table read is the fallback when gossip is lost.
        options.TableRefreshTimeout = TimeSpan.FromSeconds(10);

        // The heartbeat gateways use to route around a hung silo before it is evicted (FreshGatewayListProvider): one
        // small Redis write every quarter second per silo. Orleans counts an entry as stale after 10 s, as before.
        options.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(0.25);
        options.NumMissedTableIAmAliveLimit = 40;
    }

    internal static ClusterSettings Read(IConfiguration configuration)
    {
        var settings = configuration.GetSection(ClusterSettings.SectionName).Get<ClusterSettings>() ?? new ClusterSettings();
        var errors = new List<ValidationResult>();
        Validator.TryValidateObject(settings, new ValidationContext(settings), errors, validateAllProperties: true);
        var provider = settings.Provider;
        if (!provider.Equals("Localhost", StringComparison.OrdinalIgnoreCase) && !provider.Equals("Redis", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(new ValidationResult($"Unknown Cluster:Provider '{provider}'. Known: Localhost, Redis."));
        }

        if (IsRedis(settings) && string.IsNullOrWhiteSpace(settings.RedisConnectionString))
        {
            errors.Add(new ValidationResult("Cluster:RedisConnectionString is required when Cluster:Provider is Redis."));
        }

        if (settings.Kubernetes && !IsRedis(settings))
        {
            errors.Add(new ValidationResult("Cluster:Kubernetes needs Cluster:Provider=Redis for membership."));
        }

        return errors.Count == 0
            ? settings
            : throw new OptionsValidationException(ClusterSettings.SectionName, typeof(ClusterSettings), errors.Select(e => e.ErrorMessage ?? "invalid"));
    }

    internal static bool IsRedis(ClusterSettings settings) => settings.Provider.Equals("Redis", StringComparison.OrdinalIgnoreCase);
}
