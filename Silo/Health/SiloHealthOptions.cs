using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Silo.Health;

/// <summary>The silo's health endpoints (/healthz, /readyz), section <c>Health</c>.</summary>
public sealed class SiloHealthOptions
{
    public const string SectionName = "Health";

    /// <summary>HTTP port of the health endpoints. 0 (default): an ephemeral loopback port, i.e. no fixed endpoint.</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Address to listen on: <c>localhost</c> (default) or <c>*</c> (all interfaces, in a container or pod).</summary>
    [Required]
    public string Host { get; set; } = "localhost";

    /// <summary>How long /readyz waits for the store before answering 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
