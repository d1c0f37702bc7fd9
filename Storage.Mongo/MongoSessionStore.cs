using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Configuration;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// MongoDB adapter. Sessions in <c>sessions</c> (the guide's fields), events appended with <c>$push</c>/<c>$each</c>
/// into bucket documents bounded by count and bytes (<see cref="EventBuckets"/>) in <c>session_events</c>, legacy rows in
/// <c>queries</c> and <c>events</c>. Each session document carries its read-model <c>summary</c>, and the experiment
/// aggregates (<see cref="MongoReadModelDocuments"/>) change with it. A flush, and a new session, is one multi-document
/// transaction with explicit options (<see cref="MongoConnection.Transaction"/>); every failure leaves as one of the
/// port's exceptions (<see cref="MongoErrors"/>). Custom metrics: the session's custom row is <c>summary.custom</c>, part
/// of the summary's version; its users' rows and the per-metric aggregates change in the same transaction, and metrics
/// defined after sessions were stored are folded by a background backfill (<see cref="MongoCustomMetricBackfill"/>).
/// </summary>
public sealed partial class MongoSessionStore : ISessionStore, IAsyncDisposable
{
    private const string StoreName = "MongoDB session store";
    private const string HealthCollection = "store_health";

    private readonly MongoStoreOptions _options;
    private readonly ILogger<MongoSessionStore> _logger;
    private readonly EventBuckets _buckets;
    private readonly TransactionOptions _transactionOptions;
    private readonly IMongoClient _client;
    private readonly IMongoDatabase _database;
    private readonly IMongoCollection<BsonDocument> _sessions;
    private readonly IMongoCollection<BsonDocument> _eventBuckets;
    private readonly IMongoCollection<BsonDocument> _queries;
    private readonly IMongoCollection<BsonDocument> _events;
    private readonly IMongoCollection<BsonDocument> _health;
    private readonly MongoReadModelWriter _readModel;
    private readonly MetricCatalog _metrics;
    private readonly CancellationTokenSource _stopping = new();
    private Task _customBackfill = Task.CompletedTask;
    private int _disposed;

    /// <param name="metrics">The custom metrics flushes aggregate and the backfill folds (none when not given).</param>
    public MongoSessionStore(IOptions<MongoStoreOptions> options, ILogger<MongoSessionStore> logger, MetricCatalog? metrics = null)
        : this(options, logger, configureCluster: null, metrics)
    {
    }

    /// <summary>With hooks on the driver's cluster: tests watch the commands sent (the commit's write concern).</summary>
    internal MongoSessionStore(IOptions<MongoStoreOptions> options, ILogger<MongoSessionStore> logger, Action<ClusterBuilder>? configureCluster, MetricCatalog? metrics = null)
    {
        _options = options.Value;
        _logger = logger;
        _metrics = metrics ?? MetricCatalog.None;
        _buckets = new EventBuckets(_options.BucketSize, _options.MaxBucketBytes);
        _transactionOptions = MongoConnection.Transaction(_options);
        _client = new MongoClient(MongoConnection.ClientSettings(_options, configureCluster));
        _database = _client.GetDatabase(_options.Database).WithWriteConcern(MongoConnection.WriteConcern(_options)).WithReadConcern(ReadConcern.Majority);
        _sessions = _database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _eventBuckets = _database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        _queries = _database.GetCollection<BsonDocument>(MongoDocuments.Queries);
        _events = _database.GetCollection<BsonDocument>(MongoDocuments.Events);
        _health = _database.GetCollection<BsonDocument>(HealthCollection)
            .WithWriteConcern(new WriteConcern(WriteConcern.WValue.Parse(_options.WriteConcern), wTimeout: _options.HealthTimeout, journal: _options.Journal));
        _readModel = new MongoReadModelWriter(_database, _metrics);
    }

    /// <summary>
    /// Refuses a deployment the options cannot work with (before anything is written), then creates what is missing —
    /// indexes, the bucket layout and its metadata, the view, the read model — each step safe when several silos start
    /// at once (<see cref="MongoStartup"/>).
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (MongoConnection.RefuseConnectionString(MongoConnection.ConnectionString(_options)) is { } refusedUrl)
        {
            throw new InvalidOperationException(refusedUrl);
        }

        var hello = await Guard(token => _client.GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument("hello", 1), cancellationToken: token), cancellationToken);
        if (MongoConnection.RefuseDeployment(hello, _options.UseTransactions) is { } refusedDeployment)
        {
            throw new InvalidOperationException(refusedDeployment);
        }

        // No overall limit: the backfill of an old database takes what it takes (each of its batches is bounded).
        var backfill = await MongoErrors.Guard(
            async token =>
            {
                await MongoStartup.CreateIndexesAsync(_database, token);
                await MongoStartup.PrepareBucketLayoutAsync(_database, _options, _logger, token);
                await MongoStartup.EnsureViewAsync(_database, token);
                await MongoReadModelBackfill.RunAsync(_client, _database, _options, _logger, token);
                return await MongoCustomMetricBackfill.PrepareAsync(_database, _metrics.Set, token);
            },
            StoreName,
            Timeout.InfiniteTimeSpan,
            cancellationToken);
        LogInitialized(_logger, _options.Database);

        // Not awaited: start-up does not wait for the backfill; the report says "incomplete" for its keys meanwhile.
        if (backfill && _customBackfill.IsCompleted)
        {
            var job = new MongoCustomMetricBackfill(this, _database, _metrics, _logger);
            _customBackfill = Task.Run(() => job.RunAsync(_stopping.Token), CancellationToken.None);
        }
    }

    /// <summary>The custom metric backfill started by <see cref="InitializeAsync"/> (completed when there was none).</summary>
    internal Task CustomMetricBackfill => _customBackfill;

    /// <summary>Stops the custom metric backfill (it starts over at the next start-up).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        try
        {
            await _customBackfill;
        }
        catch (OperationCanceledException)
        {
            // Stopped as asked.
        }

        _stopping.Dispose();
    }

    /// <summary>
    /// The session document, counted in the aggregates, and its first events with their summary (the same flush a grain
    /// would send from a new session's summary), in one transaction, as SQLite's writer does.
    /// </summary>
    public Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, SessionSummary? summary, CancellationToken cancellationToken) =>
        Guard(
            token => MongoTransactions.RunAsync(
                _client,
                _options.UseTransactions,
                _transactionOptions,
                async (s, ct) =>
                {
                    var document = MongoDocuments.Session(session);
                    await (s is null ? _sessions.InsertOneAsync(document, cancellationToken: ct) : _sessions.InsertOneAsync(s, document, cancellationToken: ct));
                    var changes = new MongoReadModelChanges(_options.AggregateShards, _metrics.Set);
                    changes.Apply(session, new ReadModelUpdate(null, SessionSummary.Started(), []));
                    await _readModel.WriteAsync(s, changes, ct);
                    if (initialEvents.Count > 0 || summary?.Custom is not null)
                    {
                        var samples = new List<MetricSample>();
                        var computed = SessionSummary.OfNewSession(initialEvents, samples);
                        await WriteFlushAsync(s, new SessionFlush(session.SessionId, initialEvents, [], [], null, session, new ReadModelUpdate(SessionSummary.Started(), summary ?? computed, samples)), ct);
                    }

                    return true;
                },
                token),
            cancellationToken);

    public Task<DateTimeOffset?> FirstStartOfUserAsync(string experimentId, string userId, DateTimeOffset notAfter, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                var filter = new BsonDocument
                {
                    { "user_id", userId },
                    { "experiment_id", experimentId },
                    { "start_time", new BsonDocument("$lte", notAfter.UtcDateTime) },
                };
                var first = await _sessions.Find(filter).Sort(new BsonDocument("start_time", 1)).Limit(1)
                    .Project(new BsonDocument { { "_id", 0 }, { "start_time", 1 } }).FirstOrDefaultAsync(token);
                return first is null ? (DateTimeOffset?)null : new DateTimeOffset(first["start_time"].ToUniversalTime(), TimeSpan.Zero);
            },
            cancellationToken);

    /// <summary>
    /// The session, its last seq (the newest bucket on <c>{session_id, last_seq}</c>) and the ids of its newest events,
    /// from only the buckets that hold them.
    /// </summary>
    public Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                var document = await _sessions.Find(new BsonDocument("_id", sessionId)).FirstOrDefaultAsync(token);
                if (document is null)
                {
                    return null;
                }

                var newest = await _eventBuckets.Find(new BsonDocument("session_id", sessionId))
                    .Sort(new BsonDocument("last_seq", -1))
                    .Project(new BsonDocument { { "last_seq", 1 } })
                    .FirstOrDefaultAsync(token);
                var lastSeq = newest?["last_seq"].ToInt64() ?? 0;
                var ids = new List<string>();
                if (lastSeq > 0 && recentIdCount > 0)
                {
                    var since = lastSeq - recentIdCount;
                    var buckets = await _eventBuckets.Find(EventBuckets.After(sessionId, since))
                        .Project(new BsonDocument("events.id", 1).Add("events.seq", 1))
                        .ToListAsync(token);
                    ids.AddRange(buckets
                        .SelectMany(b => b["events"].AsBsonArray.Select(e => e.AsBsonDocument))
                        .Where(e => e["seq"].ToInt64() > since && e.Contains("id"))
                        .Select(e => e["id"].AsString));
                }

                return new SessionSnapshot(MongoDocuments.ToSession(document), lastSeq, ids, MongoDocuments.ToSummary(document));
            },
            cancellationToken);

    public Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) =>
        Guard(
            token => MongoTransactions.RunAsync(
                _client,
                _options.UseTransactions,
                _transactionOptions,
                async (s, ct) =>
                {
                    await WriteFlushAsync(s, flush, ct);
                    return true;
                },
                token),
            cancellationToken);

    /// <summary>
    /// At most <paramref name="limit"/> buckets (each holds at least one wanted event), in seq order, read a few at a time
    /// and no further than the page needs.
    /// </summary>
    public Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                var events = new List<StoredEvent>(Math.Clamp(limit, 0, 1024));
                if (limit <= 0)
                {
                    return (IReadOnlyList<StoredEvent>)events;
                }

                using var cursor = await _eventBuckets.Find(EventBuckets.After(sessionId, afterSeq))
                    .Sort(new BsonDocument("last_seq", 1))
                    .Limit(limit)
                    .Project(new BsonDocument("events", 1))
                    .ToCursorAsync(token);
                while (events.Count < limit && await cursor.MoveNextAsync(token))
                {
                    foreach (var e in cursor.Current.SelectMany(b => b["events"].AsBsonArray))
                    {
                        var stored = MongoDocuments.ToEvent(e.AsBsonDocument);
                        if (stored.Seq > afterSeq && events.Count < limit)
                        {
                            events.Add(stored);
                        }
                    }
                }

                return (IReadOnlyList<StoredEvent>)events;
            },
            cancellationToken);

    /// <summary>The session's buckets projected to their events' ids, hashed here: MongoDB keeps no hash beside them.</summary>
    public Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                var buckets = await _eventBuckets.Find(new BsonDocument("session_id", sessionId))
                    .Project(new BsonDocument("events.id", 1))
                    .ToListAsync(token);
                return (IReadOnlyCollection<ulong>)buckets.SelectMany(b => b.GetValue("events", new BsonArray()).AsBsonArray)
                    .Select(e => e.AsBsonDocument.GetValue("id", BsonNull.Value))
                    .Where(id => id.IsString)
                    .Select(id => ClientIdHash.Of(id.AsString))
                    .ToArray();
            },
            cancellationToken);

    public Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                if (clientIds.Count == 0)
                {
                    return (IReadOnlyCollection<string>)[];
                }

                var wanted = new BsonArray(clientIds);
                var buckets = await _eventBuckets.Find(new BsonDocument { { "session_id", sessionId }, { "events.id", new BsonDocument("$in", wanted) } })
                    .Project(new BsonDocument("events.id", 1))
                    .ToListAsync(token);
                var requested = clientIds.ToHashSet(StringComparer.Ordinal);
                return buckets.SelectMany(b => b["events"].AsBsonArray)
                    .Select(e => e.AsBsonDocument.GetValue("id", BsonNull.Value))
                    .Where(id => id.IsString && requested.Contains(id.AsString))
                    .Select(id => id.AsString)
                    .Distinct()
                    .ToArray();
            },
            cancellationToken);

    public Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken) =>
        Guard(
            async token =>
            {
                await WriteLegacyAsync(null, null, queries, legacyEvents, token);
                return true;
            },
            cancellationToken);

    /// <summary>
    /// Ready only while a write with the configured write concern (majority by default) is acknowledged within
    /// <see cref="MongoStoreOptions.HealthTimeout"/>: a <c>ping</c> answers on a primary that has lost its majority,
    /// where every flush would wait and fail.
    /// </summary>
    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        using var limited = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limited.CancelAfter(_options.HealthTimeout);
        try
        {
            await _health.ReplaceOneAsync(
                new BsonDocument("_id", Environment.MachineName),
                new BsonDocument { { "_id", Environment.MachineName }, { "at", DateTime.UtcNow } },
                new ReplaceOptions { IsUpsert = true },
                limited.Token);
            return true;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task WriteFlushAsync(IClientSessionHandle? session, SessionFlush flush, CancellationToken cancellationToken)
    {
        if (flush.SessionId is { } sessionId)
        {
            await _buckets.AppendAsync(new BucketWrites(_eventBuckets, session, cancellationToken), sessionId, flush.Events);

            if (flush.ReadModel is { ChangesFigures: true } readModel)
            {
                // The stored keys (experiment, group, user, start) come back with the compare-and-set: the aggregates
                // are keyed by what is stored, whatever the flush carries.
                var (filter, update) = MongoDocuments.UpdateSummary(sessionId, readModel, flush.EndTime);
                var options = new FindOneAndUpdateOptions<BsonDocument> { Projection = MongoReadModelDocuments.KeyProjection(), ReturnDocument = ReturnDocument.Before };
                var stored = await (session is null
                    ? _sessions.FindOneAndUpdateAsync(filter, update, options, cancellationToken)
                    : _sessions.FindOneAndUpdateAsync(session, filter, update, options, cancellationToken));
                if (stored is null)
                {
                    throw new StoreConflictException($"The read-model summary of session {sessionId} changed since the flush was prepared.");
                }

                var changes = new MongoReadModelChanges(_options.AggregateShards, _metrics.Set);
                changes.Apply(MongoReadModelDocuments.ToSessionKeys(stored), readModel);
                await _readModel.WriteAsync(session, changes, cancellationToken);
            }
            else if (flush.EndTime is { } end)
            {
                var filter = new BsonDocument { { "_id", sessionId }, { "end_time", BsonNull.Value } };
                var update = new BsonDocument("$set", new BsonDocument("end_time", end.UtcDateTime));
                await (session is null
                    ? _sessions.UpdateOneAsync(filter, update, cancellationToken: cancellationToken)
                    : _sessions.UpdateOneAsync(session, filter, update, cancellationToken: cancellationToken));
            }
        }

        var flushKey = flush.SessionId is { } id && flush.Events.Count > 0 ? (id, flush.Events[0].Seq) : ((string, long)?)null;
        await WriteLegacyAsync(session, flushKey, flush.Queries, flush.LegacyEvents, cancellationToken);
    }

    /// <summary><c>session_events</c> writes of one flush, in its transaction when there is one.</summary>
    private sealed class BucketWrites(IMongoCollection<BsonDocument> collection, IClientSessionHandle? session, CancellationToken cancellationToken) : IBucketWrites
    {
        public async Task<bool> UpdateOneAsync(BsonDocument filter, BsonDocument update) =>
            (await (session is null
                ? collection.UpdateOneAsync(filter, update, cancellationToken: cancellationToken)
                : collection.UpdateOneAsync(session, filter, update, cancellationToken: cancellationToken))).MatchedCount == 1;

        public Task InsertOneAsync(BsonDocument bucket) => session is null
            ? collection.InsertOneAsync(bucket, cancellationToken: cancellationToken)
            : collection.InsertOneAsync(session, bucket, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Legacy rows. Those of a session's flush are keyed by the flush (<see cref="MongoDocuments.LegacyRowId"/>) and
    /// upserted, so a flush retried after an unknown commit result stores each row once; rows without a session are
    /// plain inserts (the driver's retryable writes already make a retried insert a no-op).
    /// </summary>
    private async Task WriteLegacyAsync(IClientSessionHandle? session, (string SessionId, long FirstSeq)? flushKey, IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken)
    {
        await WriteAsync(_queries, "q", queries.Select(MongoDocuments.Query).ToList());
        await WriteAsync(_events, "e", legacyEvents.Select(MongoDocuments.LegacyEvent).ToList());

        async Task WriteAsync(IMongoCollection<BsonDocument> collection, string kind, List<BsonDocument> documents)
        {
            if (documents.Count == 0)
            {
                return;
            }

            if (flushKey is not { } key)
            {
                await (session is null ? collection.InsertManyAsync(documents, cancellationToken: cancellationToken) : collection.InsertManyAsync(session, documents, cancellationToken: cancellationToken));
                return;
            }

            var writes = documents.Select((d, i) =>
            {
                var id = MongoDocuments.LegacyRowId(key.SessionId, key.FirstSeq, kind, i);
                d.InsertAt(0, new BsonElement("_id", id));
                return (WriteModel<BsonDocument>)new ReplaceOneModel<BsonDocument>(new BsonDocument("_id", id), d) { IsUpsert = true };
            }).ToList();
            await (session is null ? collection.BulkWriteAsync(writes, cancellationToken: cancellationToken) : collection.BulkWriteAsync(session, writes, cancellationToken: cancellationToken));
        }
    }

    /// <summary>Each call of the port within <see cref="MongoStoreOptions.OperationTimeout"/>, failures as the port's exceptions.</summary>
    private Task<T> Guard<T>(Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken) =>
        MongoErrors.Guard(operation, StoreName, _options.OperationTimeout, cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "MongoDB session store ready (database {Database})")]
    private static partial void LogInitialized(ILogger logger, string database);
}
