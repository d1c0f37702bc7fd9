namespace SessionTracking.Analytics;

/// <summary>
/// Analytics, exports and privacy deletion, answered by the silo (which owns the store) so that a gateway running as a
/// plain Orleans client can serve them. Stateless: any silo answers, several calls run at once.
/// </summary>
[Alias("SessionTracking.Analytics.IAnalyticsGrain")]
public interface IAnalyticsGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// One report per experiment matching the filter, with group comparisons against <paramref name="baseline"/> (default:
    /// the first group by name), at <paramref name="unit"/> (default: users when the experiment's split is configured —
    /// assignment is by user —, else sessions).
    /// </summary>
    [Alias("Reports")]
    ValueTask<ReportsResult> GetReportsAsync(AnalyticsFilter filter, string? baseline, AnalysisUnit? unit);

    /// <summary>Sample-size planning for one metric (docs/analytics.md, "Planning").</summary>
    [Alias("Plan")]
    ValueTask<SamplePlan> PlanAsync(PlanRequest request);

    /// <summary>Every metric the report knows, built-in and custom, with each custom metric's backfill state, and the price table.</summary>
    [Alias("Metrics")]
    ValueTask<MetricCatalogReport> ListMetricsAsync();

    [Alias("Guide")]
    ValueTask<GuideAverages> GetGuideAveragesAsync(AnalyticsFilter filter);

    [Alias("Sessions")]
    ValueTask<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit);

    [Alias("DeleteUser")]
    ValueTask<UserDeletion> DeleteUserAsync(string userId);
}

/// <summary>
/// One streamed export. Not a stateless worker: an async enumeration keeps its cursor in the activation that started
/// it, and a stateless worker may route the next batch request to another activation. Callers use a fresh key per export.
/// </summary>
[Alias("SessionTracking.Analytics.IExportGrain")]
public interface IExportGrain : IGrainWithGuidKey
{
    [Alias("ExportSessions")]
    IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter);

    [Alias("ExportEvents")]
    IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter);
}
