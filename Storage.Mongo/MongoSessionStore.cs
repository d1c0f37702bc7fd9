using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// MongoDB adapter. Sessions in <c>sessions</c> (the guide's fields), events appended with <c>$push</c>/<c>$each</c>
/// into bucket documents of <see cref="MongoStoreOptions.BucketSize"/> events in <c>session_events</c>, legacy rows in
/// <c>queries</c> and <c>events</c>. Each session document carries its read-model <c>summary</c>, and the experiment
/// aggregates (<see cref="MongoReadModelDocuments"/>) change with it. A flush, and a new session, is one multi-document
/// transaction when the server supports it.
/// </summary>
public sealed partial class MongoSessionStore : ISessionStore
{
    private const int DuplicateKey = 11000;

    private readonly MongoStoreOptions _options;
    private readonly ILogger<MongoSessionStore> _logger;
    private readonly EventBuckets _buckets;
    private readonly IMongoClient _client;
    private readonly IMongoDatabase _database;
    private readonly IMongoCollection<BsonDocument> _sessions;
    private readonly IMongoCollection<BsonDocument> _eventBuckets;
    private readonly IMongoCollection<BsonDocument> _queries;
    private readonly IMongoCollection<BsonDocument> _events;
    private readonly MongoReadModelWriter _readModel;

    public MongoSessionStore(IOptions<MongoStoreOptions> options, ILogger<MongoSessionStore> logger)
    {
        _options = options.Value;
        _logger = logger;
        _buckets = new EventBuckets(_options.BucketSize);
        var connectionString = _options.ConnectionString ?? Environment.GetEnvironmentVariable("MONGODB_URI")
            ?? throw new InvalidOperationException("Storage:Mongo:ConnectionString or MONGODB_URI is required for the MongoDB store.");
        _client = new MongoClient(connectionString);
        var writeConcern = new WriteConcern(
            WriteConcern.WValue.Parse(_options.WriteConcern),
            journal: _options.Journal);
        _database = _client.GetDatabase(_options.Database).WithWriteConcern(writeConcern).WithReadConcern(ReadConcern.Majority);
        _sessions = _database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _eventBuckets = _database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        _queries = _database.GetCollection<BsonDocument>(MongoDocuments.Queries);
        _events = _database.GetCollection<BsonDocument>(MongoDocuments.Events);
        _readModel = new MongoReadModelWriter(_database);
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await Guard(async () =>
        {
            await _sessions.Indexes.CreateManyAsync(
                [
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id"), new CreateIndexOptions { Unique = true }),
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("experiment_id").Ascending("model_group").Ascending("start_time")),
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("user_id")),
                    // Exports and unfiltered reads walk sessions in (start_time, session_id) order (MongoAnalyticsStore).
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("start_time").Ascending("session_id")),
                ],
                cancellationToken);
            await _eventBuckets.Indexes.CreateManyAsync(
                [
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id").Ascending("bucket"), new CreateIndexOptions { Unique = true }),
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id").Ascending("events.id")),
                ],
                cancellationToken);
            await _queries.Indexes.CreateManyAsync(
                [
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id")),
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("user_id")),
                ],
                cancellationToken);
            await _events.Indexes.CreateManyAsync(
                [
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("user_id")),
                    // The privacy deletion removes the legacy events of the user's sessions too.
                    new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id")),
                ],
                cancellationToken);
            await CreateReadModelIndexesAsync(cancellationToken);
            await EnsureViewAsync(cancellationToken);
            await MongoReadModelBackfill.RunAsync(_client, _database, _options, _logger, cancellationToken);
            return true;
        });
        LogInitialized(_logger, _options.Database);
    }

    /// <summary>
    /// The session document, counted in the aggregates, and its first events with their summary (the same flush a grain
    /// would send from a new session's summary), in one transaction, as SQLite's writer does.
    /// </summary>
    public Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, CancellationToken cancellationToken) =>
        Guard(() => MongoTransactions.RunAsync(
            _client,
            _options.UseTransactions,
            null,
            async (s, ct) =>
            {
                var document = MongoDocuments.Session(session);
                await (s is null ? _sessions.InsertOneAsync(document, cancellationToken: ct) : _sessions.InsertOneAsync(s, document, cancellationToken: ct));
                var changes = new MongoReadModelChanges(_options.AggregateShards);
                changes.Apply(session, new ReadModelUpdate(null, SessionSummary.Started(), []));
                await _readModel.WriteAsync(s, changes, ct);
                if (initialEvents.Count > 0)
                {
                    var samples = new List<MetricSample>();
                    var summary = SessionSummary.OfNewSession(initialEvents, samples);
                    await WriteFlushAsync(s, new SessionFlush(session.SessionId, initialEvents, [], [], null, session, new ReadModelUpdate(SessionSummary.Started(), summary, samples)), ct);
                }

                return true;
            },
            cancellationToken));

    public Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var document = await _sessions.Find(new BsonDocument("_id", sessionId)).FirstOrDefaultAsync(cancellationToken);
            if (document is null)
            {
                return null;
            }

            var newest = await _eventBuckets.Find(new BsonDocument("session_id", sessionId))
                .Sort(new BsonDocument("bucket", -1))
                .Project(new BsonDocument { { "last_seq", 1 } })
                .FirstOrDefaultAsync(cancellationToken);
            var lastSeq = newest?["last_seq"].ToInt64() ?? 0;
            var tail = _buckets.BucketsForTail(lastSeq, recentIdCount);
            var ids = new List<string>();
            if (tail > 0)
            {
                var from = _buckets.BucketOf(lastSeq) - tail + 1;
                var buckets = await _eventBuckets.Find(new BsonDocument { { "session_id", sessionId }, { "bucket", new BsonDocument("$gte", from) } })
                    .Project(new BsonDocument("events.id", 1).Add("events.seq", 1))
                    .ToListAsync(cancellationToken);
                ids.AddRange(buckets
                    .SelectMany(b => b["events"].AsBsonArray.Select(e => e.AsBsonDocument))
                    .Where(e => e["seq"].ToInt64() > lastSeq - recentIdCount && e.Contains("id"))
                    .Select(e => e["id"].AsString));
            }

            return new SessionSnapshot(MongoDocuments.ToSession(document), lastSeq, ids, MongoDocuments.ToSummary(document));
        });

    public Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) =>
        Guard(() => MongoTransactions.RunAsync(
            _client,
            _options.UseTransactions,
            null,
            async (s, ct) =>
            {
                await WriteFlushAsync(s, flush, ct);
                return true;
            },
            cancellationToken));

    public Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var events = new List<StoredEvent>(Math.Min(limit, 1024));
            var filter = new BsonDocument { { "session_id", sessionId }, { "bucket", new BsonDocument("$gte", _buckets.BucketOf(afterSeq + 1)) } };
            using var cursor = await _eventBuckets.Find(filter).Sort(new BsonDocument("bucket", 1)).ToCursorAsync(cancellationToken);
            while (events.Count < limit && await cursor.MoveNextAsync(cancellationToken))
            {
                foreach (var bucket in cursor.Current)
                {
                    foreach (var e in bucket["events"].AsBsonArray)
                    {
                        var stored = MongoDocuments.ToEvent(e.AsBsonDocument);
                        if (stored.Seq > afterSeq && events.Count < limit)
                        {
                            events.Add(stored);
                        }
                    }
                }
            }

            return (IReadOnlyList<StoredEvent>)events;
        });

    /// <summary>The session's buckets projected to their events' ids, hashed here: MongoDB keeps no hash beside them.</summary>
    public Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            var buckets = await _eventBuckets.Find(new BsonDocument("session_id", sessionId))
                .Project(new BsonDocument("events.id", 1))
                .ToListAsync(cancellationToken);
            return (IReadOnlyCollection<ulong>)buckets.SelectMany(b => b.GetValue("events", new BsonArray()).AsBsonArray)
                .Select(e => e.AsBsonDocument.GetValue("id", BsonNull.Value))
                .Where(id => id.IsString)
                .Select(id => ClientIdHash.Of(id.AsString))
                .ToArray();
        });

    public Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            if (clientIds.Count == 0)
            {
                return (IReadOnlyCollection<string>)[];
            }

            var wanted = new BsonArray(clientIds);
            var buckets = await _eventBuckets.Find(new BsonDocument { { "session_id", sessionId }, { "events.id", new BsonDocument("$in", wanted) } })
                .Project(new BsonDocument("events.id", 1))
                .ToListAsync(cancellationToken);
            var requested = clientIds.ToHashSet(StringComparer.Ordinal);
            return buckets.SelectMany(b => b["events"].AsBsonArray)
                .Select(e => e.AsBsonDocument.GetValue("id", BsonNull.Value))
                .Where(id => id.IsString && requested.Contains(id.AsString))
                .Select(id => id.AsString)
                .Distinct()
                .ToArray();
        });

    public Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken) =>
        Guard(async () =>
        {
            await WriteLegacyAsync(null, queries, legacyEvents, cancellationToken);
            return true;
        });

    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _database.RunCommandAsync<BsonDocument>(new BsonDocument("ping", 1), cancellationToken: cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is MongoException or TimeoutException)
        {
            return false;
        }
    }

    private async Task WriteFlushAsync(IClientSessionHandle? session, SessionFlush flush, CancellationToken cancellationToken)
    {
        if (flush.SessionId is { } sessionId)
        {
            foreach (var (bucket, run) in _buckets.Split(flush.Events))
            {
                var (filter, update) = MongoDocuments.AppendToBucket(sessionId, bucket, run);
                var options = new UpdateOptions { IsUpsert = true };
                await (session is null
                    ? _eventBuckets.UpdateOneAsync(filter, update, options, cancellationToken)
                    : _eventBuckets.UpdateOneAsync(session, filter, update, options, cancellationToken));
            }

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

                var changes = new MongoReadModelChanges(_options.AggregateShards);
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

        await WriteLegacyAsync(session, flush.Queries, flush.LegacyEvents, cancellationToken);
    }

    private async Task WriteLegacyAsync(IClientSessionHandle? session, IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken)
    {
        if (queries.Count > 0)
        {
            var documents = queries.Select(MongoDocuments.Query);
            await (session is null ? _queries.InsertManyAsync(documents, cancellationToken: cancellationToken) : _queries.InsertManyAsync(session, documents, cancellationToken: cancellationToken));
        }

        if (legacyEvents.Count > 0)
        {
            var documents = legacyEvents.Select(MongoDocuments.LegacyEvent);
            await (session is null ? _events.InsertManyAsync(documents, cancellationToken: cancellationToken) : _events.InsertManyAsync(session, documents, cancellationToken: cancellationToken));
        }
    }

    private async Task CreateReadModelIndexesAsync(CancellationToken cancellationToken)
    {
        // The privacy deletion finds a user's rows; reports read moments by unit, experiment and hour, sketches by experiment and hour.
        await _database.GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries).Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("user_id")), cancellationToken: cancellationToken);
        await _database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentMoments).Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("unit").Ascending("experiment_id").Ascending("hour")), cancellationToken: cancellationToken);
        await _database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentSketches).Indexes.CreateOneAsync(
            new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("experiment_id").Ascending("hour")), cancellationToken: cancellationToken);
    }

    private async Task EnsureViewAsync(CancellationToken cancellationToken)
    {
        var existing = await (await _database.ListCollectionNamesAsync(
            new ListCollectionNamesOptions { Filter = new BsonDocument("name", MongoDocuments.SessionsWithEventsView) }, cancellationToken)).ToListAsync(cancellationToken);
        if (existing.Count == 0)
        {
            await _database.RunCommandAsync<BsonDocument>(
                new BsonDocument
                {
                    { "create", MongoDocuments.SessionsWithEventsView },
                    { "viewOn", MongoDocuments.EventBucketsCollection },
                    { "pipeline", new BsonArray(MongoDocuments.SessionsWithEventsPipeline()) },
                },
                cancellationToken: cancellationToken);
        }
    }

    /// <summary>Translates driver failures into the port's exceptions: duplicate keys are conflicts, the rest unavailability.</summary>
    private static async Task<T> Guard<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (MongoWriteException ex) when (ex.WriteError?.Code == DuplicateKey)
        {
            throw new StoreConflictException("A document with the same key is already stored.", ex);
        }
        catch (MongoCommandException ex) when (ex.Code == DuplicateKey)
        {
            throw new StoreConflictException("A document with the same key is already stored.", ex);
        }
        catch (Exception ex) when (ex is MongoException or TimeoutException)
        {
            throw new StoreUnavailableException("The MongoDB store is unavailable.", ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MongoDB session store ready (database {Database})")]
    private static partial void LogInitialized(ILogger logger, string database);
}
