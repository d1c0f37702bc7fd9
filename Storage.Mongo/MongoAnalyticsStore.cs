using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Analytics on MongoDB. Experiment figures come from the read model (<see cref="MongoGroupFigures"/>); the guide's
/// averages, session lists and exports from the pipelines of <see cref="MongoAnalyticsPipelines"/>, computed by the
/// server, so only group rows, listed sessions and cursor batches reach this process. Reads use majority read concern
/// as the session store does, and <c>allowDiskUse</c> so that large sorts spill instead of failing.
/// </summary>
public sealed class MongoAnalyticsStore : IAnalyticsStore
{
    /// <summary>Documents per cursor batch of an export: a few hundred KB of events per round trip.</summary>
    private const int ExportBatchSize = 1000;

    private static readonly AggregateOptions ReadOptions = new() { AllowDiskUse = true };
    private static readonly AggregateOptions ExportOptions = new() { AllowDiskUse = true, BatchSize = ExportBatchSize };

    private const string StoreName = "MongoDB analytics store";

    private readonly MongoStoreOptions _options;
    private readonly TransactionOptions _deletionTransaction;
    private readonly IMongoClient _client;
    private readonly IMongoDatabase _database;
    private readonly MongoReadModelWriter _readModel;
    private readonly IMongoCollection<BsonDocument> _sessions;
    private readonly IMongoCollection<BsonDocument> _eventBuckets;
    private readonly IMongoCollection<BsonDocument> _queries;
    private readonly IMongoCollection<BsonDocument> _events;
    private readonly MetricCatalog _metrics;

    /// <param name="metrics">The custom metrics the reports read and a deletion takes out (none when not given).</param>
    public MongoAnalyticsStore(IOptions<MongoStoreOptions> options, MetricCatalog? metrics = null)
    {
        _options = options.Value;
        _metrics = metrics ?? MetricCatalog.None;

        // A client of its own, built from the same settings as MongoSessionStore's: the driver shares one cluster
        // (connection pools, server monitoring) between clients whose settings are equal.
        _client = new MongoClient(MongoConnection.ClientSettings(_options));
        _deletionTransaction = MongoConnection.Transaction(_options, ReadConcern.Snapshot);
        var database = _database = _client.GetDatabase(_options.Database).WithWriteConcern(MongoConnection.WriteConcern(_options)).WithReadConcern(ReadConcern.Majority);
        _readModel = new MongoReadModelWriter(database, _metrics);
        _sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _eventBuckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        _queries = database.GetCollection<BsonDocument>(MongoDocuments.Queries);
        _events = database.GetCollection<BsonDocument>(MongoDocuments.Events);
    }

    /// <summary>Sessions per deletion transaction (and per page of session ids when legacy rows are deleted).</summary>
    internal int SessionsPerDeletion { get; init; } = 100;

    /// <summary>Bucket documents per deletion transaction, unless one session alone has more (it then goes alone).</summary>
    internal int BucketsPerDeletion { get; init; } = 1000;

    /// <summary>Legacy rows deleted per <c>deleteMany</c>.</summary>
    internal int LegacyRowsPerDeletion { get; init; } = 1000;

    public Task<IReadOnlyList<GroupFigures>> ReadGroupFiguresAsync(string? experimentId, DateTimeOffset? from, DateTimeOffset? to, bool usersAsUnits, CancellationToken cancellationToken) =>
        Guard(token => MongoGroupFigures.ReadAsync(_database, _metrics.Set, experimentId, from?.ToUnixTimeMilliseconds(), to?.ToUnixTimeMilliseconds(), usersAsUnits, token), cancellationToken);

    /// <summary>The <c>custom_metric_state</c> documents, by name (as SQLite orders them).</summary>
    public Task<IReadOnlyList<MetricBackfillState>> ReadMetricStatesAsync(CancellationToken cancellationToken) =>
        Guard<IReadOnlyList<MetricBackfillState>>(async token =>
        {
            var states = await _database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.States).Find(FilterDefinition<BsonDocument>.Empty).ToListAsync(token);
            return [.. states.Select(MongoCustomMetricDocuments.ToState).OrderBy(s => s.Name, StringComparer.Ordinal)];
        }, cancellationToken);

    /// <summary>The earliest start of the experiment's sessions, on the (experiment_id, model_group, start_time) index.</summary>
    public Task<DateTimeOffset?> ExperimentStartAsync(string experimentId, CancellationToken cancellationToken) =>
        Guard(async token =>
        {
            var first = await _sessions.Find(new BsonDocument("experiment_id", experimentId))
                .Sort(new BsonDocument("start_time", 1))
                .Project(new BsonDocument("start_time", 1))
                .FirstOrDefaultAsync(token);
            return first is null ? (DateTimeOffset?)null : new DateTimeOffset(first["start_time"].ToUniversalTime(), TimeSpan.Zero);
        }, cancellationToken);

    public Task<GuideAverages> GuideAveragesAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        Guard(async token =>
        {
            var latency = AggregateAsync(_sessions, MongoAnalyticsPipelines.GuideLatency(filter), token);
            var duration = AggregateAsync(_sessions, MongoAnalyticsPipelines.GuideDuration(filter), token);
            await Task.WhenAll(latency, duration);
            return new GuideAverages(
                (await latency).Select(d => MongoAnalyticsResults.ToGroupAverage(d, "avg_latency")).ToList(),
                (await duration).Select(d => MongoAnalyticsResults.ToGroupAverage(d, "avg_duration_ms")).ToList());
        }, cancellationToken);

    public Task<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit, CancellationToken cancellationToken) =>
        Guard(async token =>
        {
            if (limit == 0)
            {
                return (IReadOnlyList<SessionListItem>)[];
            }

            var rows = await AggregateAsync(_sessions, MongoAnalyticsPipelines.ListSessions(filter, limit), token);
            return rows.Select(MongoAnalyticsResults.ToSessionListItem).ToList();
        }, cancellationToken);

    public IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        StreamAsync(MongoAnalyticsPipelines.ExportSessions(filter), MongoAnalyticsResults.ToExportSession, cancellationToken);

    public IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        StreamAsync(MongoAnalyticsPipelines.ExportEvents(filter), MongoAnalyticsResults.ToExportEvent, cancellationToken);

    public Task<IReadOnlyList<string>> SessionIdsOfUserAsync(string userId, CancellationToken cancellationToken) =>
        Guard<IReadOnlyList<string>>(async token =>
        {
            var found = await _sessions.Find(MongoAnalyticsPipelines.UserSessions(userId))
                .Project(new BsonDocument("_id", 1))
                .ToListAsync(token);
            return [.. found.Select(d => d["_id"].AsString)];
        }, cancellationToken);

    /// <summary>
    /// In steps that each fit a transaction, so a heavy user's deletion never meets the 60 s transaction lifetime nor
    /// holds the hot aggregate documents long: first the legacy rows of the user and of the user's sessions (no read
    /// model depends on them, so plain bounded deletes), then the sessions in batches of at most
    /// <see cref="SessionsPerDeletion"/> sessions and <see cref="BucketsPerDeletion"/> buckets, each batch's read-model
    /// removal, buckets and session documents in one transaction (snapshot reads, when the deployment has transactions),
    /// and last the user's <c>user_summaries</c>, which every batch has already brought to zero. Each step deletes what
    /// it counts, so an interrupted deletion run again finishes the rest and counts nothing twice; the counts are those
    /// of this run.
    /// </summary>
    public Task<UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken) =>
        MongoErrors.Guard(
            async token =>
            {
                var (queries, events) = await DeleteLegacyRowsAsync(userId, token);
                long sessions = 0, sessionEvents = 0;
                while (true)
                {
                    // The limit is per batch: a heavy user takes many batches, each as short as a light user's deletion.
                    using var batchLimit = CancellationTokenSource.CreateLinkedTokenSource(token);
                    batchLimit.CancelAfter(_options.AnalyticsTimeout);
                    var (deleted, deletedEvents) = await MongoTransactions.RunAsync(
                        _client,
                        _options.UseTransactions,
                        _deletionTransaction,
                        (s, ct) => DeleteSessionBatchAsync(s, userId, ct),
                        batchLimit.Token);
                    if (deleted == 0)
                    {
                        break;
                    }

                    sessions += deleted;
                    sessionEvents += deletedEvents;
                }

                await _database.GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries).DeleteManyAsync(new BsonDocument("user_id", userId), token);
                return new UserDeletion(userId, sessions, sessionEvents, queries, events);
            },
            StoreName,
            Timeout.InfiniteTimeSpan,
            cancellationToken);

    /// <summary>The user's <c>queries</c>/<c>events</c> rows, and those of the user's sessions, a bounded page at a time.</summary>
    private async Task<(long Queries, long Events)> DeleteLegacyRowsAsync(string userId, CancellationToken cancellationToken)
    {
        long queries = 0, events = 0;
        string? after = null;
        while (true)
        {
            var page = await _sessions.Find(after is null ? MongoAnalyticsPipelines.UserSessions(userId) : new BsonDocument(MongoAnalyticsPipelines.UserSessions(userId)).Add("_id", new BsonDocument("$gt", after)))
                .Sort(new BsonDocument("_id", 1)).Limit(SessionsPerDeletion).Project(new BsonDocument("_id", 1)).ToListAsync(cancellationToken);
            var filter = MongoAnalyticsPipelines.LegacyRowsOf(userId, page.Select(d => d["_id"]));
            queries += await DeleteInPagesAsync(_queries, filter);
            events += await DeleteInPagesAsync(_events, filter);
            if (page.Count < SessionsPerDeletion)
            {
                return (queries, events);
            }

            after = page[^1]["_id"].AsString;
        }

        async Task<long> DeleteInPagesAsync(IMongoCollection<BsonDocument> collection, BsonDocument filter)
        {
            long deleted = 0;
            while (true)
            {
                var ids = await collection.Find(filter).Limit(LegacyRowsPerDeletion).Project(new BsonDocument("_id", 1)).ToListAsync(cancellationToken);
                if (ids.Count == 0)
                {
                    return deleted;
                }

                deleted += (await collection.DeleteManyAsync(new BsonDocument("_id", new BsonDocument("$in", new BsonArray(ids.Select(d => d["_id"])))), cancellationToken)).DeletedCount;
            }
        }
    }

    /// <summary>
    /// One batch of the user's sessions, in the caller's transaction: out of the read model, their buckets (events
    /// counted from the buckets' stored <c>count</c>) and the session documents. Zero sessions: nothing left.
    /// </summary>
    private async Task<(long Sessions, long Events)> DeleteSessionBatchAsync(IClientSessionHandle? session, string userId, CancellationToken cancellationToken)
    {
        var userSessions = MongoAnalyticsPipelines.UserSessions(userId);
        var found = await (session is null ? _sessions.Find(userSessions) : _sessions.Find(session, userSessions))
            .Sort(new BsonDocument("_id", 1))
            .Limit(SessionsPerDeletion)
            .Project(MongoReadModelDocuments.KeyProjection())
            .ToListAsync(cancellationToken);
        if (found.Count == 0)
        {
            return (0, 0);
        }

        var countPipeline = MongoAnalyticsPipelines.BucketCounts(found.Select(d => d["_id"]));
        using var counted = await (session is null
            ? _eventBuckets.AggregateAsync<BsonDocument>(countPipeline, cancellationToken: cancellationToken)
            : _eventBuckets.AggregateAsync<BsonDocument>(session, countPipeline, cancellationToken: cancellationToken));
        var perSession = (await counted.ToListAsync(cancellationToken)).ToDictionary(d => d["_id"].AsString, d => (Buckets: d["buckets"].ToInt64(), Events: d["n"].ToInt64()), StringComparer.Ordinal);
        var batch = TakeWithinBuckets(found, perSession, BucketsPerDeletion);
        var ids = batch.Select(d => d["_id"]).ToList();

        await RemoveFromReadModelAsync(session, batch, cancellationToken);
        await DeleteAsync(_eventBuckets, MongoAnalyticsPipelines.BucketsOf(ids));
        var sessions = await DeleteAsync(_sessions, new BsonDocument("_id", new BsonDocument("$in", new BsonArray(ids))));
        return (sessions, batch.Sum(d => perSession.TryGetValue(d["_id"].AsString, out var c) ? c.Events : 0));

        async Task<long> DeleteAsync(IMongoCollection<BsonDocument> collection, BsonDocument filter) =>
            (await (session is null
                ? collection.DeleteManyAsync(filter, cancellationToken)
                : collection.DeleteManyAsync(session, filter, cancellationToken: cancellationToken))).DeletedCount;
    }

    /// <summary>The leading sessions whose buckets add up to at most <paramref name="maxBuckets"/>; never fewer than one.</summary>
    internal static List<BsonDocument> TakeWithinBuckets(List<BsonDocument> sessions, IReadOnlyDictionary<string, (long Buckets, long Events)> counts, int maxBuckets)
    {
        var taken = new List<BsonDocument>();
        long buckets = 0;
        foreach (var d in sessions)
        {
            var own = counts.TryGetValue(d["_id"].AsString, out var c) ? c.Buckets : 0;
            if (taken.Count > 0 && buckets + own > maxBuckets)
            {
                break;
            }

            taken.Add(d);
            buckets += own;
        }

        return taken;
    }

    /// <summary>
    /// Takes the user's sessions out of the experiment aggregates: each summary leaves the moments, each duration and
    /// response value leaves the sketch bins it was counted in (read as a report reads them), and the user's rows go.
    /// </summary>
    private async Task RemoveFromReadModelAsync(IClientSessionHandle? session, List<BsonDocument> userSessions, CancellationToken cancellationToken)
    {
        var summarised = userSessions.Where(d => d.Contains("summary")).ToList();
        var samples = summarised.ToDictionary(d => d["_id"].AsString, _ => new List<MetricSample>(), StringComparer.Ordinal);
        if (summarised.Count > 0)
        {
            // No allowDiskUse: one batch's responses, read inside the deletion's transaction like its other reads.
            var pipeline = MongoReadModelDocuments.ResponseValuesPipeline(new BsonDocument("_id", new BsonDocument("$in", new BsonArray(summarised.Select(d => d["_id"])))));
            using var cursor = await (session is null
                ? _sessions.AggregateAsync<BsonDocument>(pipeline, cancellationToken: cancellationToken)
                : _sessions.AggregateAsync<BsonDocument>(session, pipeline, cancellationToken: cancellationToken));
            while (await cursor.MoveNextAsync(cancellationToken))
            {
                foreach (var d in cursor.Current)
                {
                    if (!samples.TryGetValue(d["s"].AsString, out var values))
                    {
                        continue;
                    }

                    if (d.TryGetValue("l", out var latency) && latency.IsNumeric && ValueBounds.Within(latency.ToDouble(), ValueBounds.MaxLatencyMs))
                    {
                        values.Add(new MetricSample(QuantileMetric.LatencyMs, latency.ToDouble()));
                    }

                    if (d.TryGetValue("t", out var ttft) && ttft.IsNumeric && ValueBounds.Within(ttft.ToDouble(), ValueBounds.MaxLatencyMs))
                    {
                        values.Add(new MetricSample(QuantileMetric.TimeToFirstTokenMs, ttft.ToDouble()));
                    }
                }
            }
        }

        var changes = new MongoReadModelChanges(_options.AggregateShards, _metrics.Set);
        foreach (var d in summarised)
        {
            var summary = MongoDocuments.ToSummary(d);
            var sessionSamples = samples[d["_id"].AsString];
            if (summary.Ended)
            {
                sessionSamples.Add(new MetricSample(QuantileMetric.DurationMs, summary[MetricField.DurationMs]));
            }

            changes.Remove(MongoReadModelDocuments.ToSessionKeys(d), summary, sessionSamples);
        }

        await _readModel.WriteAsync(session, changes, cancellationToken);
    }

    private async IAsyncEnumerable<T> StreamAsync<T>(BsonDocument[] pipeline, Func<BsonDocument, T> map, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var cursor = await Guard(token => _sessions.AggregateAsync<BsonDocument>(pipeline, ExportOptions, token), cancellationToken);
        while (await Guard(token => cursor.MoveNextAsync(token), cancellationToken))
        {
            foreach (var document in cursor.Current)
            {
                yield return map(document);
            }
        }
    }

    private static async Task<List<BsonDocument>> AggregateAsync(IMongoCollection<BsonDocument> collection, BsonDocument[] pipeline, CancellationToken cancellationToken)
    {
        using var cursor = await collection.AggregateAsync<BsonDocument>(pipeline, ReadOptions, cancellationToken);
        return await cursor.ToListAsync(cancellationToken);
    }

    /// <summary>Every failure leaves as the port's exception (<see cref="MongoErrors"/>): 503 with Retry-After.</summary>
    private Task<T> Guard<T>(Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken) =>
        MongoErrors.Guard(operation, StoreName, _options.AnalyticsTimeout, cancellationToken);
}
