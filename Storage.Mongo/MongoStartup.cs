using Microsoft.Extensions.Logging;
using MongoDB.Bson;
using MongoDB.Driver;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// What <see cref="MongoSessionStore.InitializeAsync"/> creates, each step safe when several silos start at once: index
/// builds are idempotent and retried on the races the server reports, the view is created or brought up to date
/// (NamespaceExists is no error), and the bucket layout is migrated and recorded once, by idempotent updates.
/// </summary>
internal static partial class MongoStartup
{
    public const string MetadataCollection = "store_metadata";
    public const string LayoutId = "event_buckets";

    /// <summary>The bucket layout: 2 = keyed by first seq, bounded by count and bytes (1 = bucket index = (seq − 1) / size).</summary>
    public const int LayoutVersion = 2;

    private const int NamespaceExists = 48;
    private const int IndexNotFound = 27;
    private const int NamespaceNotFound = 26;
    private const int WriteConflict = 112;
    private const int IndexBuildAlreadyInProgress = 276;

    /// <summary>What a start does about the recorded layout.</summary>
    public enum LayoutAction
    {
        /// <summary>No layout recorded, or the arithmetic one: migrate the buckets in place, then record.</summary>
        Migrate,

        /// <summary>Recorded with the same parameters.</summary>
        Keep,

        /// <summary>Recorded with other bounds: they apply to new appends only, which is correct; record the new ones.</summary>
        ChangeBounds,
    }

    /// <summary>The decision of a start, from the recorded metadata (null: none). Refuses a layout this version cannot read.</summary>
    public static LayoutAction DecideLayout(BsonDocument? recorded, MongoStoreOptions options)
    {
        var version = recorded?.GetValue("layout", 1).ToInt32() ?? 1;
        if (version > LayoutVersion)
        {
            throw new InvalidOperationException($"The MongoDB database {options.Database} stores event buckets in layout {version}, newer than this version reads ({LayoutVersion}); upgrade the silo.");
        }

        return version < LayoutVersion ? LayoutAction.Migrate
            : recorded!.GetValue("max_events", 0).ToInt32() == options.BucketSize && recorded.GetValue("max_bytes", 0).ToInt32() == options.MaxBucketBytes ? LayoutAction.Keep
            : LayoutAction.ChangeBounds;
    }

    public static async Task CreateIndexesAsync(IMongoDatabase database, CancellationToken cancellationToken)
    {
        var keys = Builders<BsonDocument>.IndexKeys;
        await CreateAsync(
            MongoDocuments.Sessions,
            new CreateIndexModel<BsonDocument>(keys.Ascending("session_id"), new CreateIndexOptions { Unique = true }),
            new CreateIndexModel<BsonDocument>(keys.Ascending("experiment_id").Ascending("model_group").Ascending("start_time")),
            new CreateIndexModel<BsonDocument>(keys.Ascending("user_id")),
            // A user's first start in an experiment: the exposure custom metrics count from when users are the unit.
            new CreateIndexModel<BsonDocument>(keys.Ascending("user_id").Ascending("experiment_id").Ascending("start_time")),
            // A user's sessions of any experiment in CUPED's pre-period (MongoCupedCovariate).
            new CreateIndexModel<BsonDocument>(keys.Ascending("user_id").Ascending("start_time")),
            // Exports walk sessions in (start_time, session_id) order; the newest-first list needs its own direction
            // (an index read backwards gives start_time and session_id both descending), unfiltered and by experiment.
            new CreateIndexModel<BsonDocument>(keys.Ascending("start_time").Ascending("session_id")),
            new CreateIndexModel<BsonDocument>(keys.Descending("start_time").Ascending("session_id")),
            new CreateIndexModel<BsonDocument>(keys.Ascending("experiment_id").Descending("start_time").Ascending("session_id")));
        await CreateAsync(
            MongoDocuments.EventBucketsCollection,
            // The bucket ending at a seq is unique: every lookup (tail, pages, activation) and the conflict check use it.
            new CreateIndexModel<BsonDocument>(keys.Ascending("session_id").Ascending("last_seq"), new CreateIndexOptions { Unique = true }),
            new CreateIndexModel<BsonDocument>(keys.Ascending("session_id").Ascending("events.id")));
        await CreateAsync(MongoDocuments.Queries, new CreateIndexModel<BsonDocument>(keys.Ascending("session_id")), new CreateIndexModel<BsonDocument>(keys.Ascending("user_id")));
        // The privacy deletion removes the legacy events of the user's sessions too.
        await CreateAsync(MongoDocuments.Events, new CreateIndexModel<BsonDocument>(keys.Ascending("user_id")), new CreateIndexModel<BsonDocument>(keys.Ascending("session_id")));

        // The privacy deletion finds a user's rows; reports read moments by unit, experiment and hour, sketches by experiment and hour.
        await CreateAsync(MongoReadModelDocuments.UserSummaries, new CreateIndexModel<BsonDocument>(keys.Ascending("user_id")));
        await CreateAsync(MongoReadModelDocuments.ExperimentMoments, new CreateIndexModel<BsonDocument>(keys.Ascending("unit").Ascending("experiment_id").Ascending("hour")));
        await CreateAsync(MongoReadModelDocuments.ExperimentSketches, new CreateIndexModel<BsonDocument>(keys.Ascending("experiment_id").Ascending("hour")));
        await CreateAsync(MongoCustomMetricDocuments.MetricMoments, new CreateIndexModel<BsonDocument>(keys.Ascending("unit").Ascending("experiment_id").Ascending("hour")));

        async Task CreateAsync(string collection, params CreateIndexModel<BsonDocument>[] indexes)
        {
            // The same index built by two silos at once is one build on current servers; older ones, and the implicit
            // creation of the collection, may answer one of them with a race error: the second attempt finds it done.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await database.GetCollection<BsonDocument>(collection).Indexes.CreateManyAsync(indexes, cancellationToken);
                    return;
                }
                catch (MongoCommandException ex) when (attempt < 5 && ex.Code is NamespaceExists or WriteConflict or IndexBuildAlreadyInProgress)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken);
                }
            }
        }
    }

    /// <summary>
    /// Brings <c>session_events</c> to the current layout. From layout 1 (or none recorded): drop the unique
    /// <c>{session_id, bucket}</c> index (new buckets have no <c>bucket</c>) and give every bucket its <c>bytes</c>
    /// (<c>$bsonSize</c> of the document, an upper bound of its events). Old buckets keep their string <c>_id</c> and are
    /// read and extended like new ones. Every step is idempotent, so silos starting together may both run it.
    /// </summary>
    public static async Task PrepareBucketLayoutAsync(IMongoDatabase database, MongoStoreOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var metadata = database.GetCollection<BsonDocument>(MetadataCollection);
        var recorded = await metadata.Find(new BsonDocument("_id", LayoutId)).FirstOrDefaultAsync(cancellationToken);
        var action = DecideLayout(recorded, options);
        if (action == LayoutAction.Keep)
        {
            return;
        }

        if (action == LayoutAction.Migrate)
        {
            var buckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
            try
            {
                await buckets.Indexes.DropOneAsync("session_id_1_bucket_1", cancellationToken);
            }
            catch (MongoCommandException ex) when (ex.Code is IndexNotFound or NamespaceNotFound)
            {
                // A new database, or another silo dropped it first.
            }

            var sized = await buckets.UpdateManyAsync(
                new BsonDocument("bytes", new BsonDocument("$exists", false)),
                new PipelineUpdateDefinition<BsonDocument>(new BsonDocument[] { new("$set", new BsonDocument("bytes", new BsonDocument("$bsonSize", "$$ROOT"))) }),
                cancellationToken: cancellationToken);
            LogMigrated(logger, sized.ModifiedCount);
        }
        else
        {
            LogBoundsChanged(logger, recorded!.GetValue("max_events", 0).ToInt32(), recorded.GetValue("max_bytes", 0).ToInt32(), options.BucketSize, options.MaxBucketBytes);
        }

        await metadata.UpdateOneAsync(
            new BsonDocument("_id", LayoutId),
            new BsonDocument
            {
                { "$set", new BsonDocument { { "layout", LayoutVersion }, { "max_events", options.BucketSize }, { "max_bytes", options.MaxBucketBytes }, { "updated_at", DateTime.UtcNow } } },
                { "$setOnInsert", new BsonDocument("created_at", DateTime.UtcNow) },
            },
            new UpdateOptions { IsUpsert = true },
            cancellationToken);
    }

    /// <summary>
    /// The <c>sessions_with_events</c> view: created, or when it exists (another silo, an older pipeline) set to the
    /// current pipeline with <c>collMod</c>, so two silos creating it at once both succeed.
    /// </summary>
    public static async Task EnsureViewAsync(IMongoDatabase database, CancellationToken cancellationToken)
    {
        var pipeline = new BsonArray(MongoDocuments.SessionsWithEventsPipeline());
        try
        {
            await database.RunCommandAsync<BsonDocument>(
                new BsonDocument { { "create", MongoDocuments.SessionsWithEventsView }, { "viewOn", MongoDocuments.EventBucketsCollection }, { "pipeline", pipeline } },
                cancellationToken: cancellationToken);
        }
        catch (MongoCommandException ex) when (ex.Code == NamespaceExists)
        {
            await database.RunCommandAsync<BsonDocument>(
                new BsonDocument { { "collMod", MongoDocuments.SessionsWithEventsView }, { "viewOn", MongoDocuments.EventBucketsCollection }, { "pipeline", pipeline } },
                cancellationToken: cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event buckets: layout 2 recorded; {Sized} buckets of the arithmetic layout given their byte size")]
    private static partial void LogMigrated(ILogger logger, long sized);

    [LoggerMessage(Level = LogLevel.Information, Message = "Event buckets: bounds changed from {OldEvents} events / {OldBytes} bytes to {Events} / {Bytes}; they apply to new appends, stored buckets stay as they are")]
    private static partial void LogBoundsChanged(ILogger logger, int oldEvents, int oldBytes, int events, int bytes);
}
