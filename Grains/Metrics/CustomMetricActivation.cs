using SessionTracking.Analytics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Metrics;

/// <summary>
/// What a session grain does about custom metrics when it starts or activates: the context its events are folded with
/// (the unit's first exposure), and completing a stored row that lacks a metric defined after the session's first events
/// were stored — by folding the session's stored events once and writing the row, before any new event.
/// </summary>
internal static class CustomMetricActivation
{
    private const int ReadPage = 10_000;

    /// <summary>Null without custom metrics; else the set, the session's start and its unit's first exposure.</summary>
    public static async Task<CustomMetricContext?> ContextAsync(MetricCatalog catalog, ISessionStore store, SessionInfo session, CancellationToken cancellationToken)
    {
        if (catalog.IsEmpty)
        {
            return null;
        }

        var exposure = session.StartTime;
        if (catalog.UsesExposure && catalog.UnitOf(session.ExperimentId) == AnalysisUnit.User)
        {
            exposure = await store.FirstStartOfUserAsync(session.ExperimentId, session.UserId, session.StartTime, cancellationToken) ?? session.StartTime;
        }

        return new CustomMetricContext(catalog.Set, session.StartTime.ToUnixTimeMilliseconds(), exposure.ToUnixTimeMilliseconds());
    }

    /// <summary>
    /// The snapshot to continue from: <paramref name="snapshot"/> itself when its row has every metric of
    /// <paramref name="context"/>, else with the missing ones folded from the stored events and written (a flush with no
    /// events). Should a backfill or another activation write the row first, the store's row is taken when complete.
    /// </summary>
    public static async Task<SessionSnapshot> CompleteAsync(ISessionStore store, SessionSnapshot snapshot, CustomMetricContext context, int recentIdCount, CancellationToken cancellationToken)
    {
        var builder = new SessionSummaryBuilder(snapshot.Metrics, countsExclusions: false, custom: context);
        if (builder.MissingMetrics.Count == 0)
        {
            return snapshot;
        }

        if (snapshot.LastSeq > 0)
        {
            builder.FoldMissing(await ReadAllAsync(store, snapshot.Session.SessionId, cancellationToken));
        }

        var complete = builder.Snapshot();
        try
        {
            await store.AppendAsync(new SessionFlush(snapshot.Session.SessionId, [], [], [], null, snapshot.Session, new ReadModelUpdate(snapshot.Metrics, complete, [])), cancellationToken);
            return snapshot with { Metrics = complete };
        }
        catch (StoreConflictException)
        {
            var reloaded = await store.LoadSessionAsync(snapshot.Session.SessionId, recentIdCount, cancellationToken)
                ?? throw new StoreUnavailableException($"Session {snapshot.Session.SessionId} disappeared while its custom metrics were completed.");
            return new SessionSummaryBuilder(reloaded.Metrics, countsExclusions: false, custom: context).MissingMetrics.Count == 0
                ? reloaded
                : throw new StoreUnavailableException($"Session {snapshot.Session.SessionId}: its custom metrics changed while they were completed. Retry.");
        }
    }

    private static async Task<List<StoredEvent>> ReadAllAsync(ISessionStore store, string sessionId, CancellationToken cancellationToken)
    {
        var events = new List<StoredEvent>();
        while (true)
        {
            var page = await store.ReadEventsAsync(sessionId, events.Count == 0 ? 0 : events[^1].Seq, ReadPage, cancellationToken);
            events.AddRange(page);
            if (page.Count < ReadPage)
            {
                return events;
            }
        }
    }
}
