using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Writes a <see cref="MongoReadModelChanges"/> to the aggregate collections, inside its caller's transaction when there
/// is one: each user's <c>$inc</c> (returning the new sums, from which the user-unit moments change follows), each
/// moments document read, added to and replaced at the version read, and each sketch document's bins <c>$inc</c>ed.
/// Concurrent transactions on one document fail with a write conflict, which the driver retries with the whole
/// transaction. Two first writers of one aggregate document may instead meet on its unique <c>_id</c>: inside a
/// transaction that aborts it with <see cref="AggregateWriteRaceException"/>, for the caller to run the transaction
/// again; outside one the write is simply repeated. Custom metrics: each user's custom row is read and replaced with a
/// compare-and-set on its bytes (it is not a sum of fields: <see cref="CustomRow"/>), then every per-metric aggregate
/// document is <c>$inc</c>ed slot by slot. CUPED (<paramref name="metrics"/>' <see cref="MetricCatalog.UsesCovariate"/>):
/// a user entering an experiment's custom user aggregates gets its covariate computed in the same transaction
/// (<see cref="MongoCupedCovariate"/>) and stored with the row, and the user aggregates keep Σx, Σx², Σxy.
/// </summary>
internal sealed class MongoReadModelWriter(IMongoDatabase database, MetricCatalog? metrics = null)
{
    private const int DuplicateKey = 11000;
    private const int AttemptsOutsideTransaction = 5;

    private static readonly FindOneAndUpdateOptions<BsonDocument> ReturnAfterUpsert = new() { IsUpsert = true, ReturnDocument = ReturnDocument.After };
    private static readonly UpdateOptions Upsert = new() { IsUpsert = true };

    private readonly IMongoCollection<BsonDocument> _users = database.GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries);
    private readonly IMongoCollection<BsonDocument> _moments = database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentMoments);
    private readonly IMongoCollection<BsonDocument> _sketches = database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentSketches);
    private readonly IMongoCollection<BsonDocument> _metricMoments = database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.MetricMoments);
    private readonly MetricCatalog? _catalog = metrics is { IsEmpty: false } ? metrics : null;

    public async Task WriteAsync(IClientSessionHandle? session, MongoReadModelChanges changes, CancellationToken cancellationToken)
    {
        foreach (var (key, change) in changes.UserChanges)
        {
            var (filter, update) = MongoReadModelDocuments.IncrementUser(key, change);
            var after = await Retry(session, () => session is null
                ? _users.FindOneAndUpdateAsync(filter, update, ReturnAfterUpsert, cancellationToken)
                : _users.FindOneAndUpdateAsync(session, filter, update, ReturnAfterUpsert, cancellationToken));
            changes.ApplyUser(key, MongoReadModelDocuments.ToValues(after));
        }

        // After the users' $inc: the user's stored `sessions` (this write's included) says whether it has any session left.
        foreach (var (key, change) in changes.UserCustomChanges)
        {
            await ReplaceUserCustomAsync(session, changes, key, change, cancellationToken);
        }

        foreach (var (key, delta) in changes.MomentsChanges)
        {
            await AddMomentsAsync(session, key, delta, cancellationToken);
        }

        foreach (var (key, delta) in changes.MetricMomentsChanges)
        {
            if (MongoCustomMetricDocuments.IncrementMoments(key, delta) is (var filter, var update))
            {
                await Retry(session, () => session is null
                    ? _metricMoments.UpdateOneAsync(filter, update, Upsert, cancellationToken)
                    : _metricMoments.UpdateOneAsync(session, filter, update, Upsert, cancellationToken));
            }
        }

        foreach (var (key, bins) in changes.BinChanges)
        {
            var (filter, update) = MongoReadModelDocuments.IncrementBins(key, bins);
            await Retry(session, () => session is null
                ? _sketches.UpdateOneAsync(filter, update, Upsert, cancellationToken)
                : _sketches.UpdateOneAsync(session, filter, update, Upsert, cancellationToken));
        }
    }

    /// <summary>
    /// The user's custom row: read, plus the change, replaced at the bytes read. Inside a transaction a concurrent writer
    /// of the document is a write conflict (the driver reruns the transaction); outside one a miss reads again. A user
    /// without sessions left (a privacy deletion's last batch) has no row: it leaves the user-unit aggregates. When the
    /// experiment uses a covariate, a user whose row is new and who has none stored gets it computed and stored by the
    /// same compare-and-set; a stored one is kept as is (also while the user has no row).
    /// </summary>
    private async Task ReplaceUserCustomAsync(IClientSessionHandle? session, MongoReadModelChanges changes, UserKey key, CustomRow change, CancellationToken cancellationToken)
    {
        var id = new BsonDocument("_id", MongoReadModelDocuments.UserId(key));
        var projection = new BsonDocument { { "sessions", 1 }, { "custom", 1 }, { MongoCustomMetricDocuments.CovariateField, 1 } };
        var uses = _catalog is not null && _catalog.UsesCovariate(key.ExperimentId);
        for (var attempt = 1; ; attempt++)
        {
            var stored = await (session is null ? _users.Find(id) : _users.Find(session, id)).Project(projection).FirstOrDefaultAsync(cancellationToken);
            var before = stored is null ? null : MongoCustomMetricDocuments.ToCustomRow(stored);
            var covariate = stored is null ? null : MongoCustomMetricDocuments.ToCovariate(stored);
            var hasSessions = stored is not null && stored.GetValue("sessions", 0.0).ToDouble() > 0;
            var after = hasSessions ? (before ?? CustomRow.Empty).Plus(change) : null;
            CustomRow? computed = null;
            if (uses && before is null && covariate is null && after is not null)
            {
                computed = covariate = await MongoCupedCovariate.ReadAsync(database, session, _catalog!, key, cancellationToken);
            }

            if (MongoCustomMetricDocuments.ReplaceUserRow(key, before, after, computed) is not (var filter, var update))
            {
                return;
            }

            var result = await (session is null
                ? _users.UpdateOneAsync(filter, update, cancellationToken: cancellationToken)
                : _users.UpdateOneAsync(session, filter, update, cancellationToken: cancellationToken));
            if (result.MatchedCount == 1)
            {
                changes.ApplyUserCustom(key, before, after, uses ? covariate ?? CustomRow.Empty : null);
                return;
            }

            if (session is not null)
            {
                throw new AggregateWriteRaceException();
            }

            if (attempt >= AttemptsOutsideTransaction)
            {
                throw new StoreUnavailableException($"The custom metric row of user {key.UserId} kept changing under concurrent writers.");
            }
        }
    }

    /// <summary>Read, add, replace at the version read (insert when there is none): a compare-and-set on the document.</summary>
    private async Task AddMomentsAsync(IClientSessionHandle? session, MomentsKey key, Moments delta, CancellationToken cancellationToken)
    {
        var id = new BsonDocument("_id", MongoReadModelDocuments.MomentsId(key));
        for (var attempt = 1; ; attempt++)
        {
            var stored = await (session is null ? _moments.Find(id) : _moments.Find(session, id)).FirstOrDefaultAsync(cancellationToken);
            var moments = stored is null ? new Moments() : MongoReadModelDocuments.ToMoments(stored);
            moments.Add(delta);
            bool written;
            if (stored is null)
            {
                written = await TryInsertAsync(session, MongoReadModelDocuments.NewMoments(key, moments), cancellationToken);
            }
            else
            {
                var (filter, update) = MongoReadModelDocuments.ReplaceMoments(key, stored["version"].ToInt64(), moments);
                var result = await (session is null
                    ? _moments.UpdateOneAsync(filter, update, cancellationToken: cancellationToken)
                    : _moments.UpdateOneAsync(session, filter, update, cancellationToken: cancellationToken));
                written = result.MatchedCount == 1;
            }

            if (written)
            {
                return;
            }

            // Another writer got there first. A transaction reads the same snapshot again: only a new one can succeed.
            if (session is not null)
            {
                throw new AggregateWriteRaceException();
            }

            if (attempt >= AttemptsOutsideTransaction)
            {
                throw new StoreUnavailableException($"The experiment moments {id} kept changing under concurrent writers.");
            }
        }
    }

    private async Task<bool> TryInsertAsync(IClientSessionHandle? session, BsonDocument document, CancellationToken cancellationToken)
    {
        try
        {
            await (session is null
                ? _moments.InsertOneAsync(document, cancellationToken: cancellationToken)
                : _moments.InsertOneAsync(session, document, cancellationToken: cancellationToken));
            return true;
        }
        catch (MongoWriteException ex) when (ex.WriteError?.Code == DuplicateKey)
        {
            if (session is not null)
            {
                throw new AggregateWriteRaceException(ex);
            }

            return false;
        }
    }

    /// <summary>An upsert that met another first insert of its document: a new transaction, or outside one the same write again.</summary>
    private static async Task<T> Retry<T>(IClientSessionHandle? session, Func<Task<T>> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write();
            }
            catch (Exception ex) when (IsDuplicateKey(ex))
            {
                if (session is not null)
                {
                    throw new AggregateWriteRaceException(ex);
                }

                if (attempt >= AttemptsOutsideTransaction)
                {
                    throw new StoreUnavailableException("An experiment aggregate kept changing under concurrent writers.", ex);
                }
            }
        }
    }

    private static bool IsDuplicateKey(Exception ex) =>
        ex is MongoWriteException { WriteError.Code: DuplicateKey } || ex is MongoCommandException { Code: DuplicateKey };
}

/// <summary>
/// Two transactions inserted the same aggregate document: this one must run again (with a new snapshot, where the
/// document exists). Not a conflict of the session: the caller retries the transaction.
/// </summary>
internal sealed class AggregateWriteRaceException(Exception? inner = null)
    : Exception("Another transaction created the same experiment aggregate first.", inner);
