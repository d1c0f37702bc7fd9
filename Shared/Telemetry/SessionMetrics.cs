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

    /// <summary>
    /// Seconds (the base unit). A group commit takes from tens of microseconds to a few milliseconds, seconds when the
    /// store struggles: the default buckets (0, 5, 10, 25… in the recorded unit) would put nearly every flush in the
    /// first one, so the boundaries start at 50 µs.
    /// </summary>
    public static readonly Histogram<double> FlushDuration = Meter.CreateHistogram(
        "sessiontracking.flush.duration",
        "s",
        "Time of one group commit of a session grain to the store.",
        tags: null,
        advice: new InstrumentAdvice<double>
        {
            HistogramBucketBoundaries = [0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        });

    public static readonly UpDownCounter<long> ActiveSessions = Meter.CreateUpDownCounter<long>(
        "sessiontracking.sessions.active", "{session}", "Session grains active in memory on this silo.");

    public static readonly Counter<long> RateLimited = Meter.CreateCounter<long>(
        "sessiontracking.requests.rate_limited", "{request}", "Requests refused because their session exceeded Sessions:RequestsPerSecond.");

    public static readonly Counter<long> ConflictRetries = Meter.CreateCounter<long>(
        "sessiontracking.conflicts.retried", "{call}", "Calls run again after another activation of the same session had written to the store first.");

    public static readonly Counter<long> ValuesExcluded = Meter.CreateCounter<long>(
        "sessiontracking.values.excluded", "{value}", "Numeric event fields outside their documented bounds, stored as sent but left out of the figures, by field.");

    public static void Rejected(long count, string reason)
    {
        if (count > 0)
        {
            EventsRejected.Add(count, new KeyValuePair<string, object?>("reason", reason));
        }
    }
}
