using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace SessionTracking;

/// <summary>
/// Clustering for silos from the <c>Cluster</c> section, read and validated by <see cref="ClusteringExtensions"/> (which
/// configures clients from the same settings and holds the failure detection defaults).
/// </summary>
public static class SiloClusteringExtensions
{
    public static ISiloBuilder UseSessionTrackingClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var settings = ClusteringExtensions.Read(configuration);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        silo.Configure<ClusterMembershipOptions>(ClusteringExtensions.ApplyFailureDetectionDefaults);
        silo.Configure<ClusterMembershipOptions>(configuration.GetSection(ClusteringExtensions.MembershipSection));
        if (ClusteringExtensions.IsRedis(settings))
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

    private static IPAddress ResolveAdvertised(string host) =>
        IPAddress.TryParse(host, out var address)
            ? address
            : Dns.GetHostAddresses(host).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
}
