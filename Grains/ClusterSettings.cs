using System.ComponentModel.DataAnnotations;

namespace SessionTracking;

/// <summary>How silos find each other and clients find silos, section <c>Cluster</c>.</summary>
public sealed class ClusterSettings
{
    public const string SectionName = "Cluster";

    /// <summary><c>Localhost</c> (default: development clustering on this machine).</summary>
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
}
