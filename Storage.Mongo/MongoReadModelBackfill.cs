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
/// cleared first and every summary is set again), so running it twice counts nothing twice. It runs before the silo
/// takes traffic; with several silos on one database, let one finish it before the others start.
/// </summary>
internal static partial class MongoReadModelBackfill
{
    public const int ReadModelVersion = 2; // 2: the value bounds (ValueBounds), applied to data an older version summed
    private const int SessionsPerBatch = 500;

    public static async Task RunAsync(IMongoClient client, IMongoDatabase database, MongoStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var metadata = database.GetCollection<BsonDocument>(MongoReadModelDocuments.Metadata);
        var recorded = await metadata.Find(MongoReadModelDocuments.MetadataId()).FirstOrDefaultAsync(cancellationToken);
        if (recorded is not null && recorded.GetValue("version", 0).ToInt32() >= ReadModelVersion)
        {
            return;
        }

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
        foreach (var name in new[] { MongoReadModelDocuments.UserSummaries, MongoReadModelDocuments.ExperimentMoments, MongoReadModelDocuments.ExperimentSketches })
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
                null,
                async (session, ct) =>
                {
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

    /// <summary>Each session's buckets in (session, bucket) order, from one cursor on the buckets' unique index.</summary>
    private static async Task<List<(SessionInfo Session, ReadModelUpdate Update)>> FoldAsync(IMongoCollection<BsonDocument> buckets, List<SessionInfo> batch, CancellationToken cancellationToken)
    {
        var folder = new SessionFolder(batch);
        var filter = new BsonDocument("session_id", new BsonDocument("$in", new BsonArray(batch.Select(s => s.SessionId))));
        using var cursor = await buckets.Find(filter).Sort(new BsonDocument { { "session_id", 1 }, { "bucket", 1 } })
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: building from the stored events of {Total} sessions ({WithoutSummary} without a summary)")]
    private static partial void LogStarted(ILogger logger, long total, long withoutSummary);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: {Done} of {Total} sessions after {Seconds:F1} s")]
    private static partial void LogProgress(ILogger logger, long done, long total, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: built for {Done} sessions in {Seconds:F1} s")]
    private static partial void LogFinished(ILogger logger, long done, double seconds);
}
