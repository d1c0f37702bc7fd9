using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Gateway;

/// <summary>Request limits of the HTTP API, section <c>Gateway</c>. Every default is listed in the README.</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>Largest request body accepted (413 above). Default 1 MiB.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Most events in one batch (400 above). Default 500.</summary>
    [Range(1, 10_000)]
    public int MaxEventsPerBatch { get; set; } = 500;

    /// <summary>Largest <c>data</c> object of one event, in bytes of JSON (413 above). Default 64 KiB.</summary>
    [Range(256, 1024 * 1024)]
    public int MaxEventDataBytes { get; set; } = 64 * 1024;

    /// <summary>Deepest JSON nesting accepted in a body (400 above). Default 32.</summary>
    [Range(4, 256)]
    public int MaxJsonDepth { get; set; } = 32;

    /// <summary>Longest string field (user_id, model_group, experiment_id, id). Default 256.</summary>
    [Range(16, 4096)]
    public int MaxFieldLength { get; set; } = 256;

    /// <summary>Default and largest page size of GET /session/{id}.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 10_000;
}
