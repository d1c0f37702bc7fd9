using System.Diagnostics;
using Microsoft.Extensions.Logging;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Folds the custom metrics defined after sessions were stored (docs/custom-metrics.md, "Backfill"), with SQLite's
/// semantics. At start-up (<see cref="PrepareAsync"/>) every configured key without a complete state is set to
/// <c>backfilling</c>, and the states and aggregates of keys no longer configured are deleted. Then, in the background
/// and on one silo at a time (a lease document, as <see cref="MongoReadModelBackfill"/>'s), <see cref="RunAsync"/>
/// walks the sessions in (start_time, session_id) order and completes each row that lacks a configured key from its
/// stored events, through the flush's own versioned write: a grain that wrote the row meanwhile makes it a conflict,
/// and the row is read again.
/// </summary>
internal sealed partial class MongoCustomMetricBackfill(MongoSessionStore store, IMongoDatabase database, MetricCatalog catalog, ILogger logger)
{
    public const string LeaseId = "custom_metric_backfill_lease";

    /// <summary>Sessions per step: one read of their documents and buckets, then one short transaction per incomplete row.</summary>
    private const int SessionsPerBatch = 200;

    // Far longer than a batch, so only a silo that stopped loses it; renewed before every batch.
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(10);

    private readonly IMongoCollection<BsonDocument> _sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
    private readonly IMongoCollection<BsonDocument> _buckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
    private readonly IMongoCollection<BsonDocument> _states = database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.States);
    private readonly IMongoCollection<BsonDocument> _metadata = database.GetCollection<BsonDocument>(MongoReadModelDocuments.Metadata);

    /// <summary>
    /// The states of this silo's keys: deletes those (and the aggregates) of keys no longer configured, starts a backfill
    /// of every key not complete. True when some key is backfilling, so <see cref="RunAsync"/> has work.
    /// </summary>
    public static async Task<bool> PrepareAsync(IMongoDatabase database, MetricSet set, CancellationToken cancellationToken)
    {
        var configured = set.StoredMetrics.Select(name => (Key: set.KeyOf(name), Name: name)).ToList();
        var keys = new BsonArray(configured.Select(c => c.Key));
        var states = database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.States);
        await states.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$nin", keys)), cancellationToken);
        await database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.MetricMoments)
            .DeleteManyAsync(new BsonDocument("metric", new BsonDocument("$nin", keys)), cancellationToken);
        if (configured.Count == 0)
        {
            return false;
        }

        var total = await database.GetCollection<BsonDocument>(MongoDocuments.Sessions).CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: cancellationToken);
        foreach (var (key, name) in configured)
        {
            var (filter, update) = MongoCustomMetricDocuments.StartBackfill(key, name, total, DateTime.UtcNow);
            try
            {
                await states.UpdateOneAsync(filter, update, new UpdateOptions { IsUpsert = true }, cancellationToken);
            }
            catch (Exception ex) when (MongoErrors.IsDuplicateKey(ex))
            {
                // The key's backfill is complete: its state stays as it is.
            }
        }

        return await states.CountDocumentsAsync(MongoCustomMetricDocuments.StillBackfilling(configured.Select(c => c.Key)), cancellationToken: cancellationToken) > 0;
    }

    /// <summary>
    /// Until every configured key is complete: takes the lease (else waits: another silo walks), walks the sessions,
    /// marks the keys complete. A failure (the store unavailable, the lease lost) is logged and the walk starts over
    /// later; rows completed before it are skipped quickly then.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var owner = Guid.NewGuid().ToString("N");
        var keys = catalog.Set.StoredMetrics.Select(catalog.Set.KeyOf).Distinct().ToList();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var pending = await _states.Find(MongoCustomMetricDocuments.StillBackfilling(keys)).Project(new BsonDocument("_id", 1)).ToListAsync(cancellationToken);
                if (pending.Count == 0)
                {
                    return;
                }

                if (!await MongoReadModelBackfill.TryAcquireAsync(_metadata, LeaseId, owner, LeaseDuration, cancellationToken))
                {
                    LogWaiting(logger);
                    await Task.Delay(RetryInterval, cancellationToken);
                    continue;
                }

                try
                {
                    await WalkAsync(owner, [.. pending.Select(d => d["_id"].AsString)], cancellationToken);
                }
                finally
                {
                    await MongoReadModelBackfill.ReleaseAsync(_metadata, LeaseId, owner, CancellationToken.None);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                LogFailed(logger, ex, RetryInterval.TotalSeconds);
                try
                {
                    await Task.Delay(RetryInterval, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task WalkAsync(string owner, List<string> pending, CancellationToken cancellationToken)
    {
        var total = await _sessions.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: cancellationToken);
        LogStarted(logger, pending.Count, total);
        var clock = Stopwatch.StartNew();
        var lastLog = TimeSpan.Zero;
        long done = 0, completed = 0;
        (DateTime Start, string Id)? after = null;
        while (true)
        {
            var (leaseFilter, renewal) = MongoReadModelBackfill.RenewLease(LeaseId, owner, LeaseDuration);
            if ((await _metadata.UpdateOneAsync(leaseFilter, new PipelineUpdateDefinition<BsonDocument>(renewal), cancellationToken: cancellationToken)).MatchedCount == 0)
            {
                throw new StoreUnavailableException("The custom metric backfill lost its lease to another silo (it was silent longer than the lease).");
            }

            var batch = await _sessions.Find(After(after)).Sort(new BsonDocument { { "start_time", 1 }, { "session_id", 1 } }).Limit(SessionsPerBatch)
                .Project(MongoReadModelDocuments.KeyProjection()).ToListAsync(cancellationToken);
            if (batch.Count == 0)
            {
                break;
            }

            var incomplete = batch.Where(d => d.GetValue("summary", BsonNull.Value) is BsonDocument summary && Lacks(MongoCustomMetricDocuments.ToCustomRow(summary))).ToList();
            var events = await ReadEventsAsync(incomplete.Select(d => d["_id"].AsString).ToList(), cancellationToken);
            foreach (var document in incomplete)
            {
                completed += await CompleteAsync(document, events.GetValueOrDefault(document["_id"].AsString) ?? [], cancellationToken) ? 1 : 0;
            }

            done += batch.Count;
            after = (batch[^1]["start_time"].ToUniversalTime(), batch[^1]["_id"].AsString);
            await _states.UpdateManyAsync(MongoCustomMetricDocuments.StillBackfilling(pending), new BsonDocument("$set", new BsonDocument("sessions_done", done)), cancellationToken: cancellationToken);
            if (clock.Elapsed - lastLog >= ProgressInterval)
            {
                lastLog = clock.Elapsed;
                LogProgress(logger, done, total, completed, clock.Elapsed.TotalSeconds);
            }
        }

        await _states.UpdateManyAsync(
            MongoCustomMetricDocuments.StillBackfilling(pending),
            new BsonDocument("$set", new BsonDocument { { "state", MongoCustomMetricDocuments.Complete }, { "sessions_done", done }, { "completed_at", DateTime.UtcNow } }),
            cancellationToken: cancellationToken);
        LogFinished(logger, pending.Count, done, completed, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Sessions after (start, id) in the walk's order, on the <c>{start_time, session_id}</c> index.</summary>
    internal static BsonDocument After((DateTime Start, string Id)? after) => after is not { } a
        ? new BsonDocument()
        : new BsonDocument("$or", new BsonArray
        {
            new BsonDocument("start_time", new BsonDocument("$gt", a.Start)),
            new BsonDocument { { "start_time", a.Start }, { "session_id", new BsonDocument("$gt", a.Id) } },
        });

    /// <summary>Whether a stored row lacks a configured key (a cheap look before the fold, which checks the slices too).</summary>
    private bool Lacks(CustomRow? row) => row is null || catalog.Set.StoredMetrics.Any(m => !row.Has(catalog.Set.KeyOf(m)));

    /// <summary>
    /// Folds the row's missing metrics from the session's stored events and writes the row as a zero-event flush would.
    /// A conflict (a grain or another walk wrote the row meanwhile) reads the session again: skipped when complete,
    /// else folded and written once more; a second conflict fails the walk, which starts over later.
    /// </summary>
    private async Task<bool> CompleteAsync(BsonDocument document, List<StoredEvent> events, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var session = MongoReadModelDocuments.ToSessionKeys(document);
            var stored = MongoDocuments.ToSummary(document);
            var builder = new SessionSummaryBuilder(stored, countsExclusions: false, custom: await ContextAsync(session, cancellationToken));
            if (builder.MissingMetrics.Count == 0)
            {
                return false;
            }

            builder.FoldMissing(events);
            try
            {
                await store.AppendAsync(new SessionFlush(session.SessionId, [], [], [], null, session, new ReadModelUpdate(stored, builder.Snapshot(), [])), cancellationToken);
                return true;
            }
            catch (StoreConflictException) when (attempt == 1)
            {
                var reloaded = await _sessions.Find(new BsonDocument("_id", session.SessionId)).Project(MongoReadModelDocuments.KeyProjection()).FirstOrDefaultAsync(cancellationToken);
                if (reloaded is null)
                {
                    return false; // deleted meanwhile (privacy deletion)
                }

                document = reloaded;
                events = (await ReadEventsAsync([session.SessionId], cancellationToken)).GetValueOrDefault(session.SessionId) ?? [];
            }
        }
    }

    /// <summary>The context a session grain folds with: exposure at the user's first start when users are the unit, else the session's start.</summary>
    private async Task<CustomMetricContext> ContextAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        var exposure = session.StartTime;
        if (catalog.UsesExposure && catalog.UnitOf(session.ExperimentId) == AnalysisUnit.User)
        {
            exposure = await store.FirstStartOfUserAsync(session.ExperimentId, session.UserId, session.StartTime, cancellationToken) ?? session.StartTime;
        }

        return new CustomMetricContext(catalog.Set, session.StartTime.ToUnixTimeMilliseconds(), exposure.ToUnixTimeMilliseconds());
    }

    private Task<Dictionary<string, List<StoredEvent>>> ReadEventsAsync(List<string> sessionIds, CancellationToken cancellationToken) =>
        EventBuckets.ReadAllAsync(_buckets, session: null, sessionIds, cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: another silo is backfilling; waiting")]
    private static partial void LogWaiting(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: backfilling {Keys} metric keys over {Total} sessions")]
    private static partial void LogStarted(ILogger logger, int keys, long total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics backfill: {Done} of {Total} sessions read, {Completed} rows completed, after {Seconds:F1} s")]
    private static partial void LogProgress(ILogger logger, long done, long total, long completed, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: backfill of {Keys} metric keys complete: {Done} sessions read, {Completed} rows completed, in {Seconds:F1} s")]
    private static partial void LogFinished(ILogger logger, int keys, long done, long completed, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Custom metrics: the backfill failed; it starts over in {Seconds:F0} s (rows already completed are skipped)")]
    private static partial void LogFailed(ILogger logger, Exception exception, double seconds);
}
