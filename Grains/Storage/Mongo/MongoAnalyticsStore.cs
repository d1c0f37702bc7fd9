using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Analytics on MongoDB: the pipelines of <see cref="MongoAnalyticsPipelines"/>, computed by the server; only group
/// rows, picked ranks, listed sessions and cursor batches reach this process. Reads use majority read concern as the
/// session store does, and <c>allowDiskUse</c> so that large sorts and window stages spill instead of failing.
/// </summary>
public sealed class MongoAnalyticsStore : IAnalyticsStore
{
    // TEMPORARY until the MongoDB adapter reads its read model.
    public Task<IReadOnlyList<GroupFigures>> ReadGroupFiguresAsync(string? experimentId, DateTimeOffset? from, DateTimeOffset? to, bool usersAsUnits, CancellationToken cancellationToken) =>
        throw new NotSupportedException("MongoDB read model: not yet.");

    /// <summary>Documents per cursor batch of an export: a few hundred KB of events per round trip.</summary>
    private const int ExportBatchSize = 1000;

    private static readonly AggregateOptions ReadOptions = new() { AllowDiskUse = true };
    private static readonly AggregateOptions ExportOptions = new() { AllowDiskUse = true, BatchSize = ExportBatchSize };

    private readonly MongoStoreOptions _options;
    private readonly WriteConcern _writeConcern;
    private readonly IMongoClient _client;
    private readonly IMongoCollection<BsonDocument> _sessions;
    private readonly IMongoCollection<BsonDocument> _eventBuckets;
    private readonly IMongoCollection<BsonDocument> _queries;
    private readonly IMongoCollection<BsonDocument> _events;

    public MongoAnalyticsStore(IOptions<MongoStoreOptions> options)
    {
        _options = options.Value;
        var connectionString = _options.ConnectionString ?? Environment.GetEnvironmentVariable("MONGODB_URI")
            ?? throw new InvalidOperationException("Storage:Mongo:ConnectionString or MONGODB_URI is required for the MongoDB store.");

        // A client of its own, built from the same settings as MongoSessionStore's: the driver shares one cluster
        // (connection pools, server monitoring) between clients whose settings are equal.
        _client = new MongoClient(connectionString);
        _writeConcern = new WriteConcern(WriteConcern.WValue.Parse(_options.WriteConcern), journal: _options.Journal);
        var database = _client.GetDatabase(_options.Database).WithWriteConcern(_writeConcern).WithReadConcern(ReadConcern.Majority);
        _sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _eventBuckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        _queries = database.GetCollection<BsonDocument>(MongoDocuments.Queries);
        _events = database.GetCollection<BsonDocument>(MongoDocuments.Events);
    }

    public Task<IReadOnlyList<GroupAggregate>> AggregateGroupsAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var rows = await AggregateAsync(_sessions, MongoAnalyticsPipelines.AggregateGroups(filter), cancellationToken);
            return (IReadOnlyList<GroupAggregate>)rows.Select(MongoAnalyticsResults.ToGroupAggregate).ToList();
        });

    public Task<IReadOnlyList<MetricQuantiles>> QuantilesAsync(AnalyticsFilter filter, AnalyticsMetric metric, int sketchSize, CancellationToken cancellationToken) =>
        Guard(async () => MongoAnalyticsResults.ToQuantiles(
            await AggregateAsync(_sessions, MongoAnalyticsPipelines.Quantiles(filter, metric, sketchSize), cancellationToken),
            sketchSize));

    public Task<GuideAverages> GuideAveragesAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var latency = AggregateAsync(_sessions, MongoAnalyticsPipelines.GuideLatency(filter), cancellationToken);
            var duration = AggregateAsync(_sessions, MongoAnalyticsPipelines.GuideDuration(filter), cancellationToken);
            await Task.WhenAll(latency, duration);
            return new GuideAverages(
                (await latency).Select(d => MongoAnalyticsResults.ToGroupAverage(d, "avg_latency")).ToList(),
                (await duration).Select(d => MongoAnalyticsResults.ToGroupAverage(d, "avg_duration_ms")).ToList());
        });

    public Task<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            if (limit == 0)
            {
                return (IReadOnlyList<SessionListItem>)[];
            }

            var rows = await AggregateAsync(_sessions, MongoAnalyticsPipelines.ListSessions(filter, limit), cancellationToken);
            return rows.Select(MongoAnalyticsResults.ToSessionListItem).ToList();
        });

    public IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        StreamAsync(MongoAnalyticsPipelines.ExportSessions(filter), MongoAnalyticsResults.ToExportSession, cancellationToken);

    public IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        StreamAsync(MongoAnalyticsPipelines.ExportEvents(filter), MongoAnalyticsResults.ToExportEvent, cancellationToken);

    public Task<IReadOnlyList<string>> SessionIdsOfUserAsync(string userId, CancellationToken cancellationToken) =>
        Guard<IReadOnlyList<string>>(async () =>
        {
            var found = await _sessions.Find(MongoAnalyticsPipelines.UserSessions(userId))
                .Project(new BsonDocument("_id", 1))
                .ToListAsync(cancellationToken);
            return [.. found.Select(d => d["_id"].AsString)];
        });

    /// <summary>
    /// One multi-document transaction (snapshot reads, so the counts are of the rows deleted) when
    /// <see cref="MongoStoreOptions.UseTransactions"/> says the deployment supports it, as the session store decides;
    /// otherwise the same steps in order, deleting by the session ids read first so no bucket of a counted session
    /// is left behind.
    /// </summary>
    public Task<UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            if (!_options.UseTransactions)
            {
                return await DeleteUserCoreAsync(null, userId, cancellationToken);
            }

            using var session = await _client.StartSessionAsync(cancellationToken: cancellationToken);
            return await session.WithTransactionAsync(
                (s, ct) => DeleteUserCoreAsync(s, userId, ct),
                new TransactionOptions(readConcern: ReadConcern.Snapshot, writeConcern: _writeConcern),
                cancellationToken);
        });

    private async Task<UserDeletion> DeleteUserCoreAsync(IClientSessionHandle? session, string userId, CancellationToken cancellationToken)
    {
        // One user's session ids (not all sessions): the keys of their buckets and legacy rows.
        var userSessions = MongoAnalyticsPipelines.UserSessions(userId);
        var projection = new BsonDocument("_id", 1);
        var found = await (session is null ? _sessions.Find(userSessions) : _sessions.Find(session, userSessions))
            .Project(projection)
            .ToListAsync(cancellationToken);
        var ids = found.Select(d => d["_id"]).ToList();

        // SessionEvents counts events, as the SQLite rows are events: the buckets' array sizes, before deleting them.
        var buckets = MongoAnalyticsPipelines.BucketsOf(ids);
        BsonDocument[] countPipeline = [new("$match", buckets), .. MongoAnalyticsPipelines.EventCount()];
        var counted = await (session is null
            ? _eventBuckets.AggregateAsync<BsonDocument>(countPipeline, cancellationToken: cancellationToken)
            : _eventBuckets.AggregateAsync<BsonDocument>(session, countPipeline, cancellationToken: cancellationToken));
        var sessionEvents = (await counted.FirstOrDefaultAsync(cancellationToken))?["n"].ToInt64() ?? 0;

        await DeleteAsync(_eventBuckets, buckets);
        var legacy = MongoAnalyticsPipelines.LegacyRowsOf(userId, ids);
        var queries = await DeleteAsync(_queries, legacy);
        var events = await DeleteAsync(_events, legacy);
        var sessions = await DeleteAsync(_sessions, new BsonDocument("_id", new BsonDocument("$in", new BsonArray(ids))));
        return new UserDeletion(userId, sessions, sessionEvents, queries, events);

        async Task<long> DeleteAsync(IMongoCollection<BsonDocument> collection, BsonDocument filter) =>
            (await (session is null
                ? collection.DeleteManyAsync(filter, cancellationToken)
                : collection.DeleteManyAsync(session, filter, cancellationToken: cancellationToken))).DeletedCount;
    }

    private async IAsyncEnumerable<T> StreamAsync<T>(BsonDocument[] pipeline, Func<BsonDocument, T> map, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var cursor = await Guard(() => _sessions.AggregateAsync<BsonDocument>(pipeline, ExportOptions, cancellationToken));
        while (await Guard(() => cursor.MoveNextAsync(cancellationToken)))
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

    /// <summary>Driver failures become the port's <see cref="StoreUnavailableException"/> (503 with Retry-After).</summary>
    private static async Task<T> Guard<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception ex) when (ex is MongoException or TimeoutException)
        {
            throw new StoreUnavailableException("The MongoDB analytics store is unavailable.", ex);
        }
    }
}
