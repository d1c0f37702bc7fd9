using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Reads a user's pre-period sessions, inside the write's transaction when there is one, and folds CUPED's covariate
/// (<see cref="CupedCovariate"/>), as <c>SqliteCupedCovariate</c> does: the exposure is the earliest <c>start_time</c>
/// of the user's sessions of the experiment (on <c>{user_id, experiment_id, start_time}</c>); the pre-period's sessions
/// are the user's sessions of any experiment starting in [exposure − <see cref="MetricCatalog.CupedPrePeriod"/>,
/// exposure) (on <c>{user_id, start_time}</c>), in (start_time, session_id) order, with their stored events.
/// </summary>
internal static class MongoCupedCovariate
{
    public static async Task<CustomRow> ReadAsync(IMongoDatabase database, IClientSessionHandle? session, MetricCatalog catalog, UserKey key, CancellationToken cancellationToken)
    {
        var sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        var first = await Find(sessions, session, new BsonDocument { { "user_id", key.UserId }, { "experiment_id", key.ExperimentId } })
            .Sort(new BsonDocument("start_time", 1)).Limit(1)
            .Project(new BsonDocument { { "_id", 0 }, { "start_time", 1 } })
            .FirstOrDefaultAsync(cancellationToken);
        if (first is null)
        {
            // The user's row is written after its session's document (same transaction): none left means no exposure.
            return CustomRow.Empty;
        }

        var exposure = Milliseconds(first["start_time"]);
        var preStart = exposure - (long)catalog.CupedPrePeriod.TotalMilliseconds;
        var filter = new BsonDocument
        {
            { "user_id", key.UserId },
            { "start_time", new BsonDocument { { "$gte", Date(preStart) }, { "$lt", Date(exposure) } } },
        };
        var pre = await Find(sessions, session, filter)
            .Sort(new BsonDocument { { "start_time", 1 }, { "session_id", 1 } })
            .Project(new BsonDocument { { "_id", 1 }, { "start_time", 1 } })
            .ToListAsync(cancellationToken);
        if (pre.Count == 0)
        {
            return CustomRow.Empty;
        }

        var events = await EventBuckets.ReadAllAsync(
            database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection), session, pre.Select(d => d["_id"].AsString).ToList(), cancellationToken);
        return CupedCovariate.Of(
            catalog.Set,
            pre.Select(d => (Milliseconds(d["start_time"]), (IReadOnlyList<StoredEvent>?)events.GetValueOrDefault(d["_id"].AsString) ?? [])),
            preStart);
    }

    private static IFindFluent<BsonDocument, BsonDocument> Find(IMongoCollection<BsonDocument> collection, IClientSessionHandle? session, BsonDocument filter) =>
        session is null ? collection.Find(filter) : collection.Find(session, filter);

    private static long Milliseconds(BsonValue value) => value.AsBsonDateTime.MillisecondsSinceEpoch;

    private static BsonDateTime Date(long milliseconds) => new(milliseconds);
}
