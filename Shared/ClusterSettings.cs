using System.ComponentModel.DataAnnotations;

namespace SessionTracking;

/// <summary>How silos find each other and clients find silos, section <c>Cluster</c>.</summary>
public sealed class ClusterSettings
{
    public const string SectionName = "Cluster";

    /// <summary>
    /// <c>Localhost</c> (default: development clustering on one machine) or <c>Redis</c> (membership table in Redis:
    /// any number of silos on any hosts, and gateways that find them).
    /// </summary>
    [Required]
    public string Provider { get; set; } = "Localhost";

    [Required]
    public string ClusterId { get; set; } = "session-tracking";

    [Required]
    public string ServiceId { get; set; } = "session-tracking";

    /// <summary>Silo-to-silo port.</summary>
    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port on which the silo accepts Orleans clients (separate gateway processes).</summary>
    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Localhost provider: silo port of the primary silo that others join (defaults to this silo's own port).</summary>
    [Range(0, 65535)]
    public int PrimarySiloPort { get; set; }

    /// <summary>Client mode, localhost provider: the silo gateway ports to connect to.</summary>
    public int[] GatewayPorts { get; set; } = [30000];

    /// <summary>Redis provider: StackExchange.Redis connection string, e.g. <c>redis:6379</c>.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>
    /// Redis provider: the address (IP or host name) other silos and clients reach this silo at. Default loopback,
    /// for several silos on one machine; set it to the host/pod address in a real deployment.
    /// </summary>
    public string AdvertisedHost { get; set; } = "127.0.0.1";

    /// <summary>
    /// Redis provider, gateways: stop sending through a silo whose membership heartbeat is older than this (it routes
    /// around a hung silo before the cluster evicts it; see <c>FreshGatewayListProvider</c>). Zero turns it off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan GatewayHeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Also use Orleans' Kubernetes hosting (pod-derived identity, removal of dead pods). Needs Provider=Redis.</summary>
    public bool Kubernetes { get; set; }
}
