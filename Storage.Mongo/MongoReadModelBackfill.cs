using Microsoft.Extensions.Logging;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Builds the read model of a database written before it existed (sessions without <c>summary</c>), once, at start-up:
/// every session's events go through <see cref="SessionSummaryBuilder"/>, the grain's own code, as SQLite's backfill
/// does, in batches of sessions in <c>_id</c> order, each batch's summaries and aggregate changes in one transaction.
/// The <c>read_model_metadata</c> document records that it ran; an interrupted run starts over (the aggregates are
/// cleared first and every summary is set again). Only one silo runs it: it holds a lease document (unique <c>_id</c>,
/// expiry on the server's clock, renewed in every batch's transaction, so a holder that lost it cannot commit a batch);
/// the others wait until the metadata says it is done, or take the lease over once it expires.
/// </summary>
internal static partial class MongoReadModelBackfill
{
    public const int ReadModelVersion = 2; // 2: the value bounds (ValueBounds), applied to data an older version summed
    public const string LeaseId = "read_model_backfill_lease";

    /// <summary>Sessions per transaction: their summaries and aggregate changes, a few hundred small writes, seconds at most.</summary>
    private const int SessionsPerBatch = 100;

    // Long beside one batch (a fold of 100 sessions and one transaction), so only a silo that stopped loses it.
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan WaitInterval = TimeSpan.FromSeconds(2);

    public static async Task RunAsync(IMongoClient client, IMongoDatabase database, MongoStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var metadata = database.GetCollection<BsonDocument>(MongoReadModelDocuments.Metadata);
        var owner = Guid.NewGuid().ToString("N");
        while (true)
        {
            if (await IsBuiltAsync(metadata, cancellationToken))
            {
                return;
            }

            if (await TryAcquireAsync(metadata, owner, cancellationToken))
            {
                break;
            }

            LogWaiting(logger);
            await Task.Delay(WaitInterval, cancellationToken);
        }

        // Built by the previous holder between our check and our lease: nothing to do.
        if (await IsBuiltAsync(metadata, cancellationToken))
        {
            await ReleaseAsync(metadata, owner, cancellationToken);
            return;
        }

        await BuildAsync(client, database, metadata, owner, options, logger, cancellationToken);
        await ReleaseAsync(metadata, owner, cancellationToken);
    }

    private static async Task<bool> IsBuiltAsync(IMongoCollection<BsonDocument> metadata, CancellationToken cancellationToken)
    {
        var recorded = await metadata.Find(MongoReadModelDocuments.MetadataId()).FirstOrDefaultAsync(cancellationToken);
        return recorded is not null && recorded.GetValue("version", 0).ToInt32() >= ReadModelVersion;
    }

    /// <summary>
    /// One upsert: it matches the lease only when expired (server time, <c>$$NOW</c>) and takes it; with no lease it
    /// inserts one; a live lease makes the upsert's insert meet its <c>_id</c> (duplicate key): someone else holds it.
    /// </summary>
    private static Task<bool> TryAcquireAsync(IMongoCollection<BsonDocument> metadata, string owner, CancellationToken cancellationToken) =>
        TryAcquireAsync(metadata, LeaseId, owner, LeaseDuration, cancellationToken);

    public static async Task<bool> TryAcquireAsync(IMongoCollection<BsonDocument> metadata, string leaseId, string owner, TimeSpan duration, CancellationToken cancellationToken)
    {
        var (filter, update) = AcquireLease(leaseId, owner, duration);
        try
        {
            await metadata.UpdateOneAsync(filter, new PipelineUpdateDefinition<BsonDocument>(update), new UpdateOptions { IsUpsert = true }, cancellationToken);
            return true;
        }
        catch (Exception ex) when (MongoErrors.IsDuplicateKey(ex))
        {
            return false;
        }
    }

    /// <summary>Filter and pipeline update of the lease's acquisition (pure, tested without a server).</summary>
    public static (BsonDocument Filter, BsonDocument[] Update) AcquireLease(string owner, TimeSpan duration) => AcquireLease(LeaseId, owner, duration);

    /// <summary>The same for the lease document <paramref name="leaseId"/> (the custom metric backfill has its own).</summary>
    public static (BsonDocument Filter, BsonDocument[] Update) AcquireLease(string leaseId, string owner, TimeSpan duration) => (
        new BsonDocument { { "_id", leaseId }, { "$expr", new BsonDocument("$lt", new BsonArray { "$expires_at", "$$NOW" }) } },
        LeaseUpdate(owner, duration));

    /// <summary>Renewal, in each batch's transaction: matches only while <paramref name="owner"/> still holds the lease.</summary>
    public static (BsonDocument Filter, BsonDocument[] Update) RenewLease(string owner, TimeSpan duration) => RenewLease(LeaseId, owner, duration);

    public static (BsonDocument Filter, BsonDocument[] Update) RenewLease(string leaseId, string owner, TimeSpan duration) => (
        new BsonDocument { { "_id", leaseId }, { "owner", owner } },
        LeaseUpdate(owner, duration));

    private static BsonDocument[] LeaseUpdate(string owner, TimeSpan duration) =>
    [
        new("$set", new BsonDocument
        {
            { "owner", owner },
            { "expires_at", new BsonDocument("$add", new BsonArray { "$$NOW", (long)duration.TotalMilliseconds }) },
        }),
    ];

    private static Task ReleaseAsync(IMongoCollection<BsonDocument> metadata, string owner, CancellationToken cancellationToken) =>
        ReleaseAsync(metadata, LeaseId, owner, cancellationToken);

    public static Task ReleaseAsync(IMongoCollection<BsonDocument> metadata, string leaseId, string owner, CancellationToken cancellationToken) =>
        metadata.DeleteOneAsync(new BsonDocument { { "_id", leaseId }, { "owner", owner } }, cancellationToken);

    private static async Task BuildAsync(IMongoClient client, IMongoDatabase database, IMongoCollection<BsonDocument> metadata, string owner, MongoStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        var total = await sessions.CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken: cancellationToken);
        if (total == 0)
        {
            // A new database: nothing to build, and nothing cleared that a silo started alongside may already have written.
            await RecordAsync(metadata, 0, cancellationToken);
            return;
        }

        var withoutSummary = await sessions.CountDocumentsAsync(new BsonDocument("summary", new BsonDocument("$exists", false)), cancellationToken: cancellationToken);
        LogStarted(logger, total, withoutSummary);
        var started = System.Diagnostics.Stopwatch.StartNew();
        // The summaries are set again without custom rows and the users' documents go: the custom aggregates and their
        // backfill states go too, so the custom metric backfill that follows folds every session afresh.
        foreach (var name in new[] { MongoReadModelDocuments.UserSummaries, MongoReadModelDocuments.ExperimentMoments, MongoReadModelDocuments.ExperimentSketches, MongoCustomMetricDocuments.MetricMoments, MongoCustomMetricDocuments.States })
        {
            await database.GetCollection<BsonDocument>(name).DeleteManyAsync(FilterDefinition<BsonDocument>.Empty, cancellationToken);
        }

        var buckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        var writer = new MongoReadModelWriter(database);
        var done = 0L;
        string? after = null;
        while (true)
        {
            var filter = after is null ? new BsonDocument() : new BsonDocument("_id", new BsonDocument("$gt", after));
            var batch = await sessions.Find(filter).Sort(new BsonDocument("_id", 1)).Limit(SessionsPerBatch)
                .Project(MongoReadModelDocuments.KeyProjection()).ToListAsync(cancellationToken);
            if (batch.Count == 0)
            {
                break;
            }

            var folded = await FoldAsync(buckets, batch.Select(MongoReadModelDocuments.ToSessionKeys).ToList(), cancellationToken);
            await MongoTransactions.RunAsync(
                client,
                options.UseTransactions,
                MongoConnection.Transaction(options),
                async (session, ct) =>
                {
                    var (leaseFilter, renewal) = RenewLease(owner, LeaseDuration);
                    var renew = new PipelineUpdateDefinition<BsonDocument>(renewal);
                    var held = await (session is null ? metadata.UpdateOneAsync(leaseFilter, renew, cancellationToken: ct) : metadata.UpdateOneAsync(session, leaseFilter, renew, cancellationToken: ct));
                    if (held.MatchedCount == 0)
                    {
                        throw new StoreUnavailableException("The read-model backfill lost its lease to another silo (it was silent longer than the lease); that silo builds the read model.");
                    }

                    var summaries = folded.Select(f => new UpdateOneModel<BsonDocument>(
                        new BsonDocument("_id", f.Session.SessionId),
                        new BsonDocument("$set", new BsonDocument("summary", MongoDocuments.Summary(f.Update.Current))))).ToList();
                    await (session is null ? sessions.BulkWriteAsync(summaries, cancellationToken: ct) : sessions.BulkWriteAsync(session, summaries, cancellationToken: ct));
                    var changes = new MongoReadModelChanges(options.AggregateShards);
                    foreach (var (s, update) in folded)
                    {
                        changes.Apply(s, update);
                    }

                    await writer.WriteAsync(session, changes, ct);
                    return true;
                },
                cancellationToken);
            done += batch.Count;
            after = batch[^1]["_id"].AsString;
            LogProgress(logger, done, total, started.Elapsed.TotalSeconds);
        }

        await RecordAsync(metadata, done, cancellationToken);
        LogFinished(logger, done, started.Elapsed.TotalSeconds);
    }

    private static Task RecordAsync(IMongoCollection<BsonDocument> metadata, long sessions, CancellationToken cancellationToken) =>
        metadata.ReplaceOneAsync(
            MongoReadModelDocuments.MetadataId(),
            new BsonDocument { { "_id", "read_model" }, { "version", ReadModelVersion }, { "sessions", sessions }, { "built_at", DateTime.UtcNow } },
            new ReplaceOptions { IsUpsert = true },
            cancellationToken);

    /// <summary>Each session's buckets in (session, last seq) order, from one cursor on the buckets' unique index.</summary>
    private static async Task<List<(SessionInfo Session, ReadModelUpdate Update)>> FoldAsync(IMongoCollection<BsonDocument> buckets, List<SessionInfo> batch, CancellationToken cancellationToken)
    {
        var folder = new SessionFolder(batch);
        var filter = new BsonDocument("session_id", new BsonDocument("$in", new BsonArray(batch.Select(s => s.SessionId))));
        using var cursor = await buckets.Find(filter).Sort(new BsonDocument { { "session_id", 1 }, { "last_seq", 1 } })
            .Project(new BsonDocument { { "session_id", 1 }, { "events", 1 } })
            .ToCursorAsync(cancellationToken);
        while (await cursor.MoveNextAsync(cancellationToken))
        {
            foreach (var bucket in cursor.Current)
            {
                folder.Add(bucket);
            }
        }

        return folder.Complete();
    }

    /// <summary>
    /// Folds the buckets of a batch of sessions as the grain folds events (<see cref="SessionSummaryBuilder"/>), then each
    /// session's end: for each session, the update from nothing to its summary, with its sketch values.
    /// </summary>
    internal sealed class SessionFolder(IReadOnlyList<SessionInfo> batch)
    {
        private readonly Dictionary<string, (SessionSummaryBuilder Builder, List<MetricSample> Samples)> _sessions =
            batch.ToDictionary(s => s.SessionId, _ => (new SessionSummaryBuilder(SessionSummary.Started(), countsExclusions: false), new List<MetricSample>()), StringComparer.Ordinal);

        /// <summary>One bucket <c>{session_id, events}</c>; a session's buckets must come in bucket order.</summary>
        public void Add(BsonDocument bucket)
        {
            var (builder, samples) = _sessions[bucket["session_id"].AsString];
            foreach (var e in bucket["events"].AsBsonArray)
            {
                builder.Add(MongoDocuments.ToEvent(e.AsBsonDocument), samples);
            }
        }

        public List<(SessionInfo Session, ReadModelUpdate Update)> Complete() => batch.Select(s =>
        {
            var (builder, samples) = _sessions[s.SessionId];
            if (s.EndTime is { } end)
            {
                builder.End(s.StartTime, end, samples);
            }

            return (s, new ReadModelUpdate(null, builder.Snapshot(), samples));
        }).ToList();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: another silo is building it; waiting")]
    private static partial void LogWaiting(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: building from the stored events of {Total} sessions ({WithoutSummary} without a summary)")]
    private static partial void LogStarted(ILogger logger, long total, long withoutSummary);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: {Done} of {Total} sessions after {Seconds:F1} s")]
    private static partial void LogProgress(ILogger logger, long done, long total, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: built for {Done} sessions in {Seconds:F1} s")]
    private static partial void LogFinished(ILogger logger, long done, double seconds);
}
