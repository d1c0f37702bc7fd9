using System.ComponentModel.DataAnnotations;

namespace SessionTracking;

/// <summary>When an append is acknowledged; the trade-off of each mode is in docs/reliability.md (Durability modes).</summary>
public enum DurabilityMode
{
    /// <summary>Acknowledge after the store has committed the events (group commit). Default.</summary>
    Acked,

    /// <summary>Acknowledge once the grain holds the events; flush on a timer, size bound, end and deactivation.</summary>
    Buffered,
}

/// <summary>Behaviour of session grains, section <c>Sessions</c>.</summary>
public sealed class SessionOptions
{
    public const string SectionName = "Sessions";

    public DurabilityMode Durability { get; set; } = DurabilityMode.Acked;

    /// <summary>Buffered mode: pending events are flushed at least this often.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Buffered mode: a flush starts (and appends wait for it) once this many events are pending.</summary>
    [Range(1, 1_000_000)]
    public int MaxBufferedEvents { get; set; } = 1000;

    /// <summary>
    /// Client event ids kept in grain memory for dedup. Older ids are checked against the store, so dedup holds for
    /// sessions of any length while a grain's memory stays bounded.
    /// </summary>
    [Range(0, 1_000_000)]
    public int RecentIdWindow { get; set; } = 4096;

    /// <summary>A session with no events for this long is ended by the server (end_time = its last activity).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Requests per second one session may make (appends, /log_event, /query), bursts up to twice that. Kept by the
    /// session's grain, so it holds across every gateway; above it the gateway answers 429 with Retry-After.
    /// </summary>
    [Range(1, 10_000_000)]
    public int RequestsPerSecond { get; set; } = 10_000;

    /// <summary>
    /// The largest clock skew (server receive time − the batch's <c>sent_at</c>) taken as a real client clock error;
    /// beyond it <c>sent_at</c> counts as absurd and the event's time is not shifted (docs/tracker.md, Event time).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How far a batch's <c>sent_at</c> may lie before one of its events' <c>t</c> (a batch cannot be sent before its
    /// event happened; a few milliseconds of clock adjustment can make it look so) before <c>sent_at</c> counts as wrong.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan SentAtTolerance { get; set; } = TimeSpan.FromSeconds(1);
}
