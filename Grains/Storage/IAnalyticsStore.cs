using SessionTracking.Analytics;

namespace SessionTracking.Storage;

/// <summary>
/// The analytics port: aggregations computed by the database (SQL on SQLite, aggregation pipelines on MongoDB), never
/// by loading sessions into memory. Adapters return raw figures; the statistics live in <see cref="AnalyticsGrain"/>.
/// </summary>
public interface IAnalyticsStore
{
    /// <summary>Counts and means per experiment × model_group of the sessions the filter selects.</summary>
    Task<IReadOnlyList<GroupAggregate>> AggregateGroupsAsync(AnalyticsFilter filter, CancellationToken cancellationToken);

    /// <summary>
    /// Per experiment × model_group, the order statistics of one metric: count, p50, p95 and an evenly spaced sketch of at
    /// most <paramref name="sketchSize"/> sorted values (all of them when fewer) for bootstrap intervals.
    /// </summary>
    Task<IReadOnlyList<MetricQuantiles>> QuantilesAsync(AnalyticsFilter filter, AnalyticsMetric metric, int sketchSize, CancellationToken cancellationToken);

    /// <summary>The guide's two pipelines: mean model_response latency_ms and mean end − start, by model_group.</summary>
    Task<GuideAverages> GuideAveragesAsync(AnalyticsFilter filter, CancellationToken cancellationToken);

    /// <summary>The newest sessions the filter selects, with their event counts.</summary>
    Task<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit, CancellationToken cancellationToken);

    /// <summary>Sessions in start order, read lazily from an open cursor.</summary>
    IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter, CancellationToken cancellationToken);

    /// <summary>Events in (session start, session, seq) order, read lazily from an open cursor.</summary>
    IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter, CancellationToken cancellationToken);

    /// <summary>Ids of every session of the user, open or ended: their grains are told before the deletion.</summary>
    Task<IReadOnlyList<string>> SessionIdsOfUserAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Deletes, in one transaction, every row of the user: sessions, their events, queries and legacy events.</summary>
    Task<UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken);
}

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
