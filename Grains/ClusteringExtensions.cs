using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace SessionTracking;

/// <summary>Clustering for silos and clients from the <c>Cluster</c> section, so both sides always agree.</summary>
public static class ClusteringExtensions
{
    /// <summary>Orleans membership tuning (failure detection), bound from this section when present.</summary>
    public const string MembershipSection = "Orleans:ClusterMembership";

    public static ISiloBuilder UseSessionTrackingClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var settings = Read(configuration);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        silo.Configure<ClusterMembershipOptions>(configuration.GetSection(MembershipSection));
        if (IsRedis(settings))
        {
            silo.UseRedisClustering(settings.RedisConnectionString!);
            if (settings.Kubernetes)
            {
                // Pod name/IP and the cluster identity come from the pod's environment (see deploy/kubernetes).
                silo.UseKubernetesHosting();
            }
            else
            {
                var advertised = ResolveAdvertised(settings.AdvertisedHost);
                silo.ConfigureEndpoints(advertised, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
            }

            return silo;
        }

        var primaryPort = settings.PrimarySiloPort == 0 ? settings.SiloPort : settings.PrimarySiloPort;
        return silo.UseLocalhostClustering(
            settings.SiloPort,
            settings.GatewayPort,
            new IPEndPoint(IPAddress.Loopback, primaryPort),
            settings.ServiceId,
            settings.ClusterId);
    }

    public static IClientBuilder UseSessionTrackingClustering(this IClientBuilder client, IConfiguration configuration)
    {
        var settings = Read(configuration);
        if (IsRedis(settings))
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = settings.ServiceId;
            });
            client.Configure<GatewayOptions>(configuration.GetSection("Orleans:ClientGateway"));

            // A call in flight to a silo that just died fails after ResponseTimeout (Orleans default 30 s), which bounds
            // how long a gateway answers 503 for that silo's sessions; tunable here for tests and latency-sensitive sites.
            client.Configure<ClientMessagingOptions>(configuration.GetSection("Orleans:ClientMessaging"));
            return client.UseRedisClustering(settings.RedisConnectionString!);
        }

        return client.UseLocalhostClustering(settings.GatewayPorts, settings.ServiceId, settings.ClusterId);
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

    private static bool IsRedis(ClusterSettings settings) => settings.Provider.Equals("Redis", StringComparison.OrdinalIgnoreCase);

    private static IPAddress ResolveAdvertised(string host) =>
        IPAddress.TryParse(host, out var address)
            ? address
            : Dns.GetHostAddresses(host).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
}
