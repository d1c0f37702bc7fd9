using MongoDB.Bson;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// The append protocol of <see cref="EventBuckets"/> (extend the tail, or seal it and insert a bucket keyed by its first
/// seq) run against an in-memory stand-in that evaluates exactly the filters and updates the adapter sends (equality,
/// <c>$exists</c>, <c>$lte</c>, <c>$gt</c>, <c>$or</c>; <c>$push</c>/<c>$each</c>, <c>$set</c>, <c>$inc</c>) and the two
/// unique keys (<c>_id</c>, <c>{session_id, last_seq}</c>). It checks the protocol's logic, one write at a time; it is
/// not a server (no transactions, no concurrency inside one write) — the server tests cover that.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoBucketProtocolTests
{
    [Theory]
    [InlineData(3, 1_000_000)]
    [InlineData(1, 1_000_000)]
    [InlineData(500, 2_000)]
    public async Task Flushes_of_any_size_are_stored_once_each_in_order_within_both_bounds(int maxEvents, int maxBytes)
    {
        var random = new Random(5);
        var store = new InMemoryBuckets();
        var buckets = new EventBuckets(maxEvents, maxBytes);
        long next = 1;
        for (var flush = 0; flush < 60; flush++)
        {
            var count = random.Next(1, 9);
            await buckets.AppendAsync(store, "s", [.. Enumerable.Range(0, count).Select(i => Event(next + i, random.Next(0, 400)))]);
            next += count;
        }

        Assert.Equal(Enumerable.Range(1, (int)next - 1).Select(i => (long)i), store.Seqs("s"));
        Assert.All(store.Documents, d => Assert.True(d["count"].ToInt32() <= maxEvents && d["bytes"].ToInt32() <= maxBytes, d.ToString()));
        Assert.All(store.Documents, d => Assert.Equal(d["count"].ToInt32(), d["events"].AsBsonArray.Count));
    }

    [Fact]
    public async Task A_stale_writer_of_taken_seqs_always_collides_whatever_the_tails_fill()
    {
        var cases = 0;
        foreach (var size in new[] { 1, 2, 3, 4 })
        {
            for (var stored = 0; stored <= 6; stored++)
            {
                for (var first = 1; first <= 4; first++)
                {
                    for (var second = 1; second <= 4; second++)
                    {
                        var store = new InMemoryBuckets();
                        var buckets = new EventBuckets(size, 1_000_000);
                        if (stored > 0)
                        {
                            await buckets.AppendAsync(store, "s", Events(1, stored));
                        }

                        // Two activations both loaded last seq = stored; the first one writes.
                        await buckets.AppendAsync(store, "s", Events(stored + 1, first));
                        var collided = await Collides(() => buckets.AppendAsync(store, "s", Events(stored + 1, second)));

                        Assert.True(collided, $"size {size}, stored {stored}, {first} then {second}");
                        Assert.Equal(Enumerable.Range(1, stored + first).Select(i => (long)i), store.Seqs("s"));
                        cases++;
                    }
                }
            }
        }

        Assert.Equal(4 * 7 * 4 * 4, cases);
    }

    [Fact]
    public async Task A_flush_stopped_between_its_seal_and_its_insert_finishes_when_retried_and_a_rival_still_collides()
    {
        var store = new InMemoryBuckets();
        var buckets = new EventBuckets(2, 1_000_000);
        await buckets.AppendAsync(store, "s", Events(1, 2));

        store.FailNextInsert = true;
        await Assert.ThrowsAsync<IOException>(() => buckets.AppendAsync(store, "s", Events(3, 1)));
        await buckets.AppendAsync(store, "s", Events(3, 1));
        var rival = await Collides(() => buckets.AppendAsync(store, "s", Events(3, 2)));

        Assert.True(rival);
        Assert.Equal([1L, 2L, 3L], store.Seqs("s"));
    }

    [Fact]
    public async Task Changing_the_bounds_between_starts_keeps_every_seq_once_and_in_order()
    {
        var store = new InMemoryBuckets();
        long next = 1;
        foreach (var (size, bytes) in new[] { (3, 1_000_000), (5, 1_000_000), (2, 1_000_000), (500, 900), (4, 1_000_000) })
        {
            for (var flush = 0; flush < 5; flush++)
            {
                await new EventBuckets(size, bytes).AppendAsync(store, "s", Events(next, 3));
                next += 3;
            }
        }

        Assert.Equal(Enumerable.Range(1, (int)next - 1).Select(i => (long)i), store.Seqs("s"));
        await Assert.ThrowsAsync<StoreConflictException>(() => new EventBuckets(3, 1_000_000).AppendAsync(store, "s", Events(next - 2, 1)));
    }

    [Fact]
    public async Task A_migrated_arithmetic_layout_bucket_is_extended_and_then_sealed_like_a_new_one()
    {
        var store = new InMemoryBuckets();
        store.Documents.Add(new BsonDocument
        {
            { "_id", "s:0" }, { "session_id", "s" }, { "bucket", 0L }, { "first_seq", 1L }, { "last_seq", 2L }, { "count", 2 }, { "bytes", 300 },
            { "events", new BsonArray(Events(1, 2).Select(MongoDocuments.Event)) },
        });
        var buckets = new EventBuckets(3, 1_000_000);

        await buckets.AppendAsync(store, "s", Events(3, 1));
        await buckets.AppendAsync(store, "s", Events(4, 2));

        Assert.Equal([1L, 2L, 3L, 4L, 5L], store.Seqs("s"));
        Assert.Equal((3L, 4L), (store.Documents[0]["last_seq"].ToInt64(), store.Documents[0]["next_seq"].ToInt64()));
        Assert.True(await Collides(() => buckets.AppendAsync(store, "s", Events(3, 1))));
    }

    private static StoredEvent[] Events(long first, int count) => [.. Enumerable.Range(0, count).Select(i => Event(first + i, 10))];

    private static StoredEvent Event(long seq, int textLength) =>
        new(seq, 1, "model_response", $$"""{"latency_ms":{{seq}},"text":"{{new string('x', textLength)}}"}""", $"id-{seq}", 1);

    /// <summary>True when the append is refused: a conflict, or an insert meeting a unique key (a conflict at the boundary).</summary>
    private static async Task<bool> Collides(Func<Task> append)
    {
        try
        {
            await append();
            return false;
        }
        catch (Exception ex) when (ex is StoreConflictException or DuplicateKeyException)
        {
            return true;
        }
    }

    private sealed class DuplicateKeyException(string message) : Exception(message);

    /// <summary>The <c>session_events</c> collection, for the filters and updates the adapter sends.</summary>
    private sealed class InMemoryBuckets : IBucketWrites
    {
        public List<BsonDocument> Documents { get; } = [];

        public bool FailNextInsert { get; set; }

        public IEnumerable<long> Seqs(string sessionId) => Documents
            .Where(d => d["session_id"] == sessionId)
            .OrderBy(d => d["last_seq"].ToInt64())
            .SelectMany(d => d["events"].AsBsonArray.Select(e => e["seq"].ToInt64()));

        public Task<bool> UpdateOneAsync(BsonDocument filter, BsonDocument update)
        {
            var target = Documents.FirstOrDefault(d => Matches(d, filter));
            if (target is null)
            {
                return Task.FromResult(false);
            }

            var updated = target.DeepClone().AsBsonDocument;
            Apply(updated, update);
            CheckUnique(updated, except: target);
            Documents[Documents.IndexOf(target)] = updated;
            return Task.FromResult(true);
        }

        public Task InsertOneAsync(BsonDocument bucket)
        {
            if (FailNextInsert)
            {
                FailNextInsert = false;
                throw new IOException("connection lost before the insert");
            }

            var copy = bucket.DeepClone().AsBsonDocument;
            CheckUnique(copy, except: null);
            Documents.Add(copy);
            return Task.CompletedTask;
        }

        private void CheckUnique(BsonDocument document, BsonDocument? except)
        {
            foreach (var other in Documents.Where(d => !ReferenceEquals(d, except)))
            {
                if (other["_id"].Equals(document["_id"]) || (other["session_id"] == document["session_id"] && Same(other["last_seq"], document["last_seq"])))
                {
                    throw new DuplicateKeyException($"E11000 {document["_id"]}");
                }
            }
        }

        private static bool Matches(BsonDocument document, BsonDocument filter) => filter.All(condition => condition.Name == "$or"
            ? condition.Value.AsBsonArray.Any(alternative => Matches(document, alternative.AsBsonDocument))
            : condition.Value is BsonDocument operators && operators.ElementCount > 0 && operators.GetElement(0).Name.StartsWith('$')
                ? operators.All(o => Holds(document, condition.Name, o.Name, o.Value))
                : document.TryGetValue(condition.Name, out var value) && Same(value, condition.Value));

        private static bool Holds(BsonDocument document, string field, string op, BsonValue operand)
        {
            var present = document.TryGetValue(field, out var value);
            return op switch
            {
                "$exists" => present == operand.ToBoolean(),
                "$lte" => present && value!.IsNumeric && value.ToDouble() <= operand.ToDouble(),
                "$gt" => present && value!.IsNumeric && value.ToDouble() > operand.ToDouble(),
                _ => throw new NotSupportedException(op),
            };
        }

        private static void Apply(BsonDocument document, BsonDocument update)
        {
            foreach (var (op, fields) in update.Select(e => (e.Name, e.Value.AsBsonDocument)))
            {
                foreach (var field in fields)
                {
                    switch (op)
                    {
                        case "$push":
                            document[field.Name].AsBsonArray.AddRange(field.Value["$each"].AsBsonArray);
                            break;
                        case "$set":
                            document[field.Name] = field.Value;
                            break;
                        case "$inc":
                            document[field.Name] = document[field.Name].ToInt64() + field.Value.ToInt64();
                            break;
                        default:
                            throw new NotSupportedException(op);
                    }
                }
            }
        }

        private static bool Same(BsonValue a, BsonValue b) => a.IsNumeric && b.IsNumeric ? a.ToDouble() == b.ToDouble() : a.Equals(b);
    }
}
