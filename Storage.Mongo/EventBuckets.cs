using MongoDB.Bson;
using MongoDB.Driver;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Events live in bucket documents bounded by <paramref name="MaxEvents"/> events and <paramref name="MaxBytes"/> bytes of
/// event BSON, keyed by the session and their first sequence number: <c>{_id: {s, f}, session_id, first_seq, last_seq,
/// count, bytes, events, next_seq?}</c>. A byte bound makes a bucket's index unknowable from a seq, so buckets are found
/// by range on the unique index <c>{session_id, last_seq}</c>, and a flush touches only the tail:
/// <list type="bullet">
/// <item>it extends the tail bucket whose <c>last_seq</c> is exactly the run's first seq − 1, if it has room and was
/// not sealed (<see cref="ExtendTail"/>);</item>
/// <item>else it seals that bucket (<c>next_seq</c> = the run's first seq; <see cref="Seal"/>) and inserts a new one
/// keyed by the run's first seq (<see cref="NewBucket"/>).</item>
/// </list>
/// Either way the write that stores seq n matches only the one bucket ending at n − 1, so two activations writing the
/// same numbers cannot both succeed: the loser's extend and seal match nothing (a conflict), or its insert meets the
/// same <c>_id</c> or <c>{session_id, last_seq}</c> (duplicate key, a conflict).
/// </summary>
public readonly record struct EventBuckets(int MaxEvents, int MaxBytes)
{
    /// <summary>Bytes a BSON array spends on one element beside the element itself: type, decimal index, NUL.</summary>
    private const int ArrayElementOverhead = 8;

    /// <summary>
    /// Splits a flush's events (consecutive sequence numbers) into runs that each fit an empty bucket; each event's size
    /// is its serialized BSON, kept as a <see cref="RawBsonDocument"/>. An event larger than <see cref="MaxBytes"/> on its own gets a bucket of its own (the
    /// gateway's 64 KiB cap keeps it far below MongoDB's 16 MiB).
    /// </summary>
    public IReadOnlyList<BucketRun> Split(IReadOnlyList<StoredEvent> events)
    {
        var runs = new List<BucketRun>();
        var current = new BsonArray();
        var bytes = 0;
        long first = 0, last = 0;
        foreach (var e in events)
        {
            // Serialized once: the size is exact, and the driver copies these bytes instead of serializing again.
            var bytesOfEvent = MongoDocuments.Event(e).ToBson();
            var size = bytesOfEvent.Length + ArrayElementOverhead;
            if (current.Count > 0 && (current.Count >= MaxEvents || bytes + size > MaxBytes))
            {
                runs.Add(new BucketRun(first, last, current, bytes));
                current = [];
                bytes = 0;
            }

            if (current.Count == 0)
            {
                first = e.Seq;
            }

            current.Add(new RawBsonDocument(bytesOfEvent));
            bytes += size;
            last = e.Seq;
        }

        if (current.Count > 0)
        {
            runs.Add(new BucketRun(first, last, current, bytes));
        }

        return runs;
    }

    /// <summary>
    /// Stores a flush's events: each run extends the tail, or seals it and starts a new bucket. Throws
    /// <see cref="StoreConflictException"/> when neither matches: another writer stored the run's first seq. An insert
    /// that meets another writer's bucket fails in <paramref name="buckets"/> with a duplicate key (a conflict at the
    /// adapter's boundary).
    /// </summary>
    public async Task AppendAsync(IBucketWrites buckets, string sessionId, IReadOnlyList<StoredEvent> events)
    {
        foreach (var run in Split(events))
        {
            if (run.FirstSeq > 1)
            {
                var (filter, update) = ExtendTail(sessionId, run);
                if (await buckets.UpdateOneAsync(filter, update))
                {
                    continue;
                }

                var (sealFilter, seal) = Seal(sessionId, run.FirstSeq);
                if (!await buckets.UpdateOneAsync(sealFilter, seal))
                {
                    throw new StoreConflictException($"Session {sessionId} has no open bucket ending at seq {run.FirstSeq - 1}: another activation stored seq {run.FirstSeq} first.");
                }
            }

            await buckets.InsertOneAsync(NewBucket(sessionId, run));
        }
    }

    public static BsonDocument BucketId(string sessionId, long firstSeq) => new() { { "s", sessionId }, { "f", firstSeq } };

    /// <summary>
    /// Appends the run to the session's unsealed bucket ending just before it, when that bucket has room for the run's
    /// events and bytes. Matches nothing when the bucket is full, sealed, or another writer already stored these numbers.
    /// </summary>
    public (BsonDocument Filter, BsonDocument Update) ExtendTail(string sessionId, BucketRun run) => (
        new BsonDocument
        {
            { "session_id", sessionId },
            { "last_seq", run.FirstSeq - 1 },
            { "next_seq", new BsonDocument("$exists", false) },
            { "count", new BsonDocument("$lte", MaxEvents - run.Events.Count) },
            { "bytes", new BsonDocument("$lte", MaxBytes - run.Bytes) },
        },
        new BsonDocument
        {
            { "$push", new BsonDocument("events", new BsonDocument("$each", run.Events)) },
            { "$set", new BsonDocument("last_seq", run.LastSeq) },
            { "$inc", new BsonDocument { { "count", run.Events.Count }, { "bytes", run.Bytes } } },
        });

    /// <summary>
    /// Closes the bucket ending just before <paramref name="nextSeq"/> for appends (<c>next_seq</c> is always its
    /// <c>last_seq</c> + 1, so sealing again is harmless: a flush retried after its seal but before its insert, without a
    /// transaction, can finish). Matches nothing when another writer extended the bucket past <paramref name="nextSeq"/> − 1.
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update) Seal(string sessionId, long nextSeq) => (
        new BsonDocument { { "session_id", sessionId }, { "last_seq", nextSeq - 1 } },
        new BsonDocument("$set", new BsonDocument("next_seq", nextSeq)));

    public static BsonDocument NewBucket(string sessionId, BucketRun run) => new()
    {
        { "_id", BucketId(sessionId, run.FirstSeq) },
        { "session_id", sessionId },
        { "first_seq", run.FirstSeq },
        { "last_seq", run.LastSeq },
        { "count", run.Events.Count },
        { "bytes", run.Bytes },
        { "events", run.Events },
    };

    /// <summary>The buckets holding any event with seq &gt; <paramref name="afterSeq"/>, found on <c>{session_id, last_seq}</c>.</summary>
    public static BsonDocument After(string sessionId, long afterSeq) =>
        new() { { "session_id", sessionId }, { "last_seq", new BsonDocument("$gt", afterSeq) } };

    /// <summary>
    /// Every stored event of the sessions, in seq order per session, from one cursor on the buckets'
    /// <c>{session_id, last_seq}</c> index, inside <paramref name="session"/>'s transaction when there is one. A session
    /// without buckets has no entry.
    /// </summary>
    public static async Task<Dictionary<string, List<StoredEvent>>> ReadAllAsync(
        IMongoCollection<BsonDocument> buckets, IClientSessionHandle? session, IReadOnlyCollection<string> sessionIds, CancellationToken cancellationToken)
    {
        var events = new Dictionary<string, List<StoredEvent>>(StringComparer.Ordinal);
        if (sessionIds.Count == 0)
        {
            return events;
        }

        var filter = new BsonDocument("session_id", new BsonDocument("$in", new BsonArray(sessionIds)));
        using var cursor = await (session is null ? buckets.Find(filter) : buckets.Find(session, filter))
            .Sort(new BsonDocument { { "session_id", 1 }, { "last_seq", 1 } })
            .Project(new BsonDocument { { "session_id", 1 }, { "events", 1 } })
            .ToCursorAsync(cancellationToken);
        while (await cursor.MoveNextAsync(cancellationToken))
        {
            foreach (var bucket in cursor.Current)
            {
                var id = bucket["session_id"].AsString;
                if (!events.TryGetValue(id, out var list))
                {
                    events[id] = list = [];
                }

                list.AddRange(bucket["events"].AsBsonArray.Select(e => MongoDocuments.ToEvent(e.AsBsonDocument)));
            }
        }

        return events;
    }
}

/// <summary>The two writes of an append on <c>session_events</c> (inside the flush's transaction, when there is one).</summary>
public interface IBucketWrites
{
    /// <summary>True when the filter matched a bucket.</summary>
    Task<bool> UpdateOneAsync(BsonDocument filter, BsonDocument update);

    Task InsertOneAsync(BsonDocument bucket);
}

/// <summary>Consecutive events that go into one bucket: their documents and their size in bytes.</summary>
public sealed record BucketRun(long FirstSeq, long LastSeq, BsonArray Events, int Bytes);
