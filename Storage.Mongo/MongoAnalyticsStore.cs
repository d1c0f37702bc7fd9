using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Analytics;
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

    private readonly MongoStoreOptions _options;
    private readonly WriteConcern _writeConcern;
    private readonly IMongoClient _client;
    private readonly IMongoDatabase _database;
    private readonly MongoReadModelWriter _readModel;
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
        var database = _database = _client.GetDatabase(_options.Database).WithWriteConcern(_writeConcern).WithReadConcern(ReadConcern.Majority);
        _readModel = new MongoReadModelWriter(database);
        _sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _eventBuckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        _queries = database.GetCollection<BsonDocument>(MongoDocuments.Queries);
        _events = database.GetCollection<BsonDocument>(MongoDocuments.Events);
    }

    public Task<IReadOnlyList<GroupFigures>> ReadGroupFiguresAsync(string? experimentId, DateTimeOffset? from, DateTimeOffset? to, bool usersAsUnits, CancellationToken cancellationToken) =>
        Guard(() => MongoGroupFigures.ReadAsync(_database, experimentId, from?.ToUnixTimeMilliseconds(), to?.ToUnixTimeMilliseconds(), usersAsUnits, cancellationToken));

    /// <summary>The earliest start of the experiment's sessions, on the (experiment_id, model_group, start_time) index.</summary>
    public Task<DateTimeOffset?> ExperimentStartAsync(string experimentId, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var first = await _sessions.Find(new BsonDocument("experiment_id", experimentId))
                .Sort(new BsonDocument("start_time", 1))
                .Project(new BsonDocument("start_time", 1))
                .FirstOrDefaultAsync(cancellationToken);
            return first is null ? (DateTimeOffset?)null : new DateTimeOffset(first["start_time"].ToUniversalTime(), TimeSpan.Zero);
        });

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
    /// One multi-document transaction (snapshot reads, so the counts are of the rows deleted, and the aggregates lose
    /// exactly what the deleted sessions had added) when <see cref="MongoStoreOptions.UseTransactions"/> says the
    /// deployment supports it, as the session store decides; otherwise the same steps in order, deleting by the session
    /// ids read first so no bucket of a counted session is left behind.
    /// </summary>
    public Task<UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken) =>
        Guard(() => MongoTransactions.RunAsync(
            _client,
            _options.UseTransactions,
            new TransactionOptions(readConcern: ReadConcern.Snapshot, writeConcern: _writeConcern),
            (s, ct) => DeleteUserCoreAsync(s, userId, ct),
            cancellationToken));

    private async Task<UserDeletion> DeleteUserCoreAsync(IClientSessionHandle? session, string userId, CancellationToken cancellationToken)
    {
        // One user's session ids (not all sessions): the keys of their buckets and legacy rows.
        var userSessions = MongoAnalyticsPipelines.UserSessions(userId);
        var found = await (session is null ? _sessions.Find(userSessions) : _sessions.Find(session, userSessions))
            .Project(MongoReadModelDocuments.KeyProjection())
            .ToListAsync(cancellationToken);
        var ids = found.Select(d => d["_id"]).ToList();
        await RemoveFromReadModelAsync(session, userId, found, cancellationToken);

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

    /// <summary>
    /// Takes the user's sessions out of the experiment aggregates: each summary leaves the moments, each duration and
    /// response value leaves the sketch bins it was counted in (read as a report reads them), and the user's rows go.
    /// </summary>
    private async Task RemoveFromReadModelAsync(IClientSessionHandle? session, string userId, List<BsonDocument> userSessions, CancellationToken cancellationToken)
    {
        var summarised = userSessions.Where(d => d.Contains("summary")).ToList();
        var samples = summarised.ToDictionary(d => d["_id"].AsString, _ => new List<MetricSample>(), StringComparer.Ordinal);
        if (summarised.Count > 0)
        {
            // No allowDiskUse: one user's responses, read inside the deletion's transaction like its other reads.
            var pipeline = MongoReadModelDocuments.ResponseValuesPipeline(MongoAnalyticsPipelines.UserSessions(userId));
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

        var changes = new MongoReadModelChanges(_options.AggregateShards);
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
        var users = _database.GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries);
        var filter = new BsonDocument("user_id", userId);
        await (session is null ? users.DeleteManyAsync(filter, cancellationToken) : users.DeleteManyAsync(session, filter, cancellationToken: cancellationToken));
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
