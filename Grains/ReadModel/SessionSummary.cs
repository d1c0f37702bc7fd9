using SessionTracking.Metrics;

namespace SessionTracking.ReadModel;

/// <summary>
/// A session's figures as of <see cref="ThroughSeq"/> (the last of its events that changed a figure) and its end. (ThroughSeq, Ended) is the
/// row's version: a flush replaces the stored row only when the stored version is the one the grain started from, so a
/// replayed flush or a second activation can never count events twice.
/// </summary>
public sealed class SessionSummary
{
    private readonly double[] _values;

    public SessionSummary(long throughSeq, double[] values, CustomRow? custom = null)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(values.Length, MetricFields.Count);
        ThroughSeq = throughSeq;
        _values = values;
        Custom = custom;
    }

    public long ThroughSeq { get; }

    /// <summary>
    /// The session's custom metric values (<see cref="CustomRow"/>); null when no metric was defined when it was written.
    /// Part of the row's version: a flush replaces the stored row only when its custom values are the ones it started from.
    /// </summary>
    public CustomRow? Custom { get; }

    public bool Ended => _values[(int)MetricField.Ended] > 0;

    public ReadOnlySpan<double> Values => _values;

    public double this[MetricField field] => _values[(int)field];

    /// <summary>A new session with its first events (e.g. the exposure a start records); their values go to <paramref name="samples"/>.</summary>
    public static SessionSummary OfNewSession(IReadOnlyList<StoredEvent> initialEvents, List<MetricSample> samples, CustomMetricContext? custom = null)
    {
        var builder = new SessionSummaryBuilder(Started(), custom: custom);
        foreach (var e in initialEvents)
        {
            builder.Add(e, samples);
        }

        return builder.Snapshot();
    }

    /// <summary>A new session: one session, nothing else yet.</summary>
    public static SessionSummary Started()
    {
        var values = new double[MetricFields.Count];
        values[(int)MetricField.Sessions] = 1;
        return new SessionSummary(0, values);
    }
}

/// <summary>A latency, TTFT or duration value for the percentile sketches.</summary>
public enum QuantileMetric
{
    DurationMs = 0,
    LatencyMs = 1,
    TimeToFirstTokenMs = 2,
}

public readonly record struct MetricSample(QuantileMetric Metric, double Value);

/// <summary>
/// What a flush changes in the read model: the session's row goes from <see cref="Previous"/> (null: the session is new)
/// to <see cref="Current"/>, and <see cref="Samples"/> are the values the flush adds to the percentile sketches.
/// </summary>
public sealed record ReadModelUpdate(SessionSummary? Previous, SessionSummary Current, IReadOnlyList<MetricSample> Samples)
{
    /// <summary>False when the flush changes no figure (interactions only): the stores then skip the read model.</summary>
    public bool ChangesFigures =>
        Previous is null || Previous.ThroughSeq != Current.ThroughSeq || Previous.Ended != Current.Ended || Samples.Count > 0 || !ReferenceEquals(Previous.Custom, Current.Custom);
}
