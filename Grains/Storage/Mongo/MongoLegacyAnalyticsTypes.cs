namespace SessionTracking.Storage.Mongo;

// TEMPORARY: the event-based analytics types the MongoDB adapter still uses until it reads the read model.
public enum AnalyticsMetric
{
    /// <summary>end_time − start_time of ended sessions.</summary>
    DurationMs,

    /// <summary>data.latency_ms of model_response events (numbers only, as MongoDB's $avg).</summary>
    LatencyMs,

    /// <summary>data.ttft_ms of model_response events, when the client or streaming /query recorded it.</summary>
    TimeToFirstTokenMs,
}

/// <summary>What one GROUP BY row of the store returns.</summary>
public sealed record GroupAggregate(
    string ExperimentId,
    string ModelGroup,
    long Sessions,
    long EndedSessions,
    double? MeanDurationMs,
    long Prompts,
    long Responses,
    long LatencyCount,
    double? MeanLatencyMs,
    long TtftCount,
    double? MeanTtftMs,
    long FeedbackUp,
    long FeedbackDown,
    long FeedbackNeutral,
    long Copies,
    long Selections,
    long SessionsWithCopy,
    long SessionsWithSelection);

public sealed record MetricQuantiles(string ExperimentId, string ModelGroup, long Count, double? P50, double? P95, IReadOnlyList<double> Sketch);
