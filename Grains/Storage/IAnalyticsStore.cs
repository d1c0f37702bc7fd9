using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage;

/// <summary>
/// The analytics port. Experiment figures come from the read model the session grains keep (per-session summaries and
/// the aggregates built from them), never from the events; the statistics live in <see cref="AnalyticsGrain"/>.
/// </summary>
public interface IAnalyticsStore
{
    /// <summary>
    /// Per experiment × model_group, of the sessions whose start lies in [from, to): the moments with sessions as units,
    /// with users as units when <paramref name="usersAsUnits"/>, and the percentile sketches. Every group of the selected
    /// experiment(s): a group filter is the report's business (the sample-ratio check needs every group).
    /// </summary>
    Task<IReadOnlyList<GroupFigures>> ReadGroupFiguresAsync(string? experimentId, DateTimeOffset? from, DateTimeOffset? to, bool usersAsUnits, CancellationToken cancellationToken);

    /// <summary>
    /// The backfill state of every custom metric key the store knows (docs/custom-metrics.md, "Backfill"): a key whose
    /// state is not <c>complete</c> has aggregates that do not cover every session yet.
    /// </summary>
    Task<IReadOnlyList<MetricBackfillState>> ReadMetricStatesAsync(CancellationToken cancellationToken);

    /// <summary>The start time of the experiment's first session (the origin of its sequential results); null without sessions.</summary>
    Task<DateTimeOffset?> ExperimentStartAsync(string experimentId, CancellationToken cancellationToken);

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

/// <summary>The read model of one experiment × model_group (see <see cref="IAnalyticsStore.ReadGroupFiguresAsync"/>).</summary>
public sealed record GroupFigures(
    string ExperimentId,
    string ModelGroup,
    Moments Sessions,
    Moments? Users,
    QuantileSketch DurationMs,
    QuantileSketch LatencyMs,
    QuantileSketch TimeToFirstTokenMs)
{
    /// <summary>The custom metrics' aggregates with sessions as units, by metric key (<see cref="MetricSet.KeyOf"/>).</summary>
    public IReadOnlyDictionary<string, MetricMoments> CustomSessions { get; init; } = new Dictionary<string, MetricMoments>();

    /// <summary>The custom metrics' aggregates with users as units (only when users were read).</summary>
    public IReadOnlyDictionary<string, MetricMoments>? CustomUsers { get; init; }

    /// <summary>The custom aggregates of the report's unit.</summary>
    public IReadOnlyDictionary<string, MetricMoments> CustomUnits(AnalysisUnit unit) =>
        unit == AnalysisUnit.User ? CustomUsers ?? throw new InvalidOperationException("Users as units were not read.") : CustomSessions;

    /// <summary>The moments of the report's unit (users only when they were read).</summary>
    public Moments Units(AnalysisUnit unit) =>
        unit == AnalysisUnit.User ? Users ?? throw new InvalidOperationException("Users as units were not read.") : Sessions;

    public QuantileSketch Sketch(QuantileMetric metric) => metric switch
    {
        QuantileMetric.DurationMs => DurationMs,
        QuantileMetric.LatencyMs => LatencyMs,
        _ => TimeToFirstTokenMs,
    };
}
