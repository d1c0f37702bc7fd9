using System.Diagnostics.Metrics;

namespace SessionTracking.Telemetry;

/// <summary>
/// The service's own instruments (meter <see cref="MeterName"/>), exported beside Orleans' meters: events accepted and
/// rejected by reason, store flush latency, and session grains active in memory.
/// </summary>
public static class SessionMetrics
{
    public const string MeterName = "SessionTracking";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> EventsAccepted = Meter.CreateCounter<long>(
        "sessiontracking.events.accepted", "{event}", "Events numbered and buffered or stored by a session grain.");

    public static readonly Counter<long> EventsRejected = Meter.CreateCounter<long>(
        "sessiontracking.events.rejected", "{event}", "Events not stored, by reason (duplicate, session_ended, session_not_found).");

    public static readonly Histogram<double> FlushDuration = Meter.CreateHistogram<double>(
        "sessiontracking.flush.duration", "ms", "Time of one group commit of a session grain to the store.");

    public static readonly UpDownCounter<long> ActiveSessions = Meter.CreateUpDownCounter<long>(
        "sessiontracking.sessions.active", "{session}", "Session grains active in memory on this silo.");

    public static void Rejected(long count, string reason)
    {
        if (count > 0)
        {
            EventsRejected.Add(count, new KeyValuePair<string, object?>("reason", reason));
        }
    }
}
