using MongoDB.Bson;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>What the MongoDB adapter writes, checked without a server: bucket runs and updates, document shapes, pipelines.</summary>
[TestCategory("BVT")]
public sealed class MongoDocumentTests
{
    private static StoredEvent Event(long seq, string? id = null, string data = """{"latency_ms":120,"nested":{"a":[1,2.5,"x"]}}""") =>
        new(seq, 1_730_000_000_000 + seq, "model_response", data, id ?? $"id-{seq}", 1_730_000_000_500 + seq);

    [Fact]
    public void A_flush_is_split_into_in_order_runs_of_at_most_the_bucket_size()
    {
        var runs = new EventBuckets(3, 8 * 1024 * 1024).Split([.. Enumerable.Range(498, 7).Select(i => Event(i))]);

        Assert.Equal([(498L, 500L), (501L, 503L), (504L, 504L)], runs.Select(r => (r.FirstSeq, r.LastSeq)));
        Assert.Equal([3, 3, 1], runs.Select(r => r.Events.Count));
        Assert.Equal(runs.Sum(r => r.Events.Sum(e => e.AsBsonDocument.ToBson().Length)), runs.Sum(r => r.Bytes) - (7 * 8));
    }

    [Fact]
    public void A_runs_events_are_kept_as_their_serialized_bytes_and_write_the_same_documents()
    {
        var events = new[] { Event(1), Event(2, data: """{"n":123456789012345678901234567890}"""), Event(3, id: null) with { ClientId = null } };

        var run = new EventBuckets(500, 1_000_000).Split(events).Single();
        var written = MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonDocument>(EventBuckets.NewBucket("s", run).ToBson());

        Assert.All(run.Events, e => Assert.IsType<RawBsonDocument>(e));
        Assert.Equal(events.Select(MongoDocuments.Event), written["events"].AsBsonArray.Select(e => e.AsBsonDocument));
        Assert.Equal(events, written["events"].AsBsonArray.Select(e => MongoDocuments.ToEvent(e.AsBsonDocument)));
    }

    [Fact]
    public void Extending_the_tail_matches_only_the_open_bucket_ending_just_before_the_run_with_room_for_it()
    {
        var buckets = new EventBuckets(500, 1_000_000);
        var run = buckets.Split([Event(1501), Event(1502)]).Single();

        var (filter, update) = buckets.ExtendTail("s1", run);

        Assert.Equal(
            new BsonDocument
            {
                { "session_id", "s1" },
                { "last_seq", 1500L },
                { "next_seq", new BsonDocument("$exists", false) },
                { "count", new BsonDocument("$lte", 498) },
                { "bytes", new BsonDocument("$lte", 1_000_000 - run.Bytes) },
            },
            filter);
        Assert.Equal(2, update["$push"]["events"]["$each"].AsBsonArray.Count);
        Assert.Equal(new BsonDocument("last_seq", 1502L), update["$set"]);
        Assert.Equal(new BsonDocument { { "count", 2 }, { "bytes", run.Bytes } }, update["$inc"]);
        Assert.DoesNotContain("$setOnInsert", update.Names);
    }

    [Fact]
    public void A_new_bucket_is_keyed_by_its_first_seq_after_sealing_the_one_before_it()
    {
        var run = new EventBuckets(500, 1_000_000).Split([Event(7), Event(8)]).Single();

        var (sealFilter, seal) = EventBuckets.Seal("s1", 7);
        var bucket = EventBuckets.NewBucket("s1", run);

        Assert.Equal(BsonDocument.Parse("""{ session_id: "s1", last_seq: NumberLong(6) }"""), sealFilter);
        Assert.Equal(BsonDocument.Parse("""{ $set: { next_seq: NumberLong(7) } }"""), seal);
        Assert.Equal(BsonDocument.Parse("""{ s: "s1", f: NumberLong(7) }"""), bucket["_id"]);
        Assert.Equal(["_id", "session_id", "first_seq", "last_seq", "count", "bytes", "events"], bucket.Names);
        Assert.Equal((7L, 8L, 2, run.Bytes), (bucket["first_seq"].ToInt64(), bucket["last_seq"].ToInt64(), bucket["count"].ToInt32(), bucket["bytes"].ToInt32()));
        Assert.Equal(BsonDocument.Parse("""{ session_id: "s1", last_seq: { $gt: NumberLong(40) } }"""), EventBuckets.After("s1", 40));
    }

    [Fact]
    public void Five_hundred_events_of_64_KiB_fill_buckets_that_stay_below_the_byte_bound_and_the_16_MiB_limit()
    {
        // The gateway accepts 500 events of 64 KiB in one batch: 32 MiB, twice MongoDB's document limit.
        var data = $$"""{"text":"{{new string('x', 64 * 1024)}}","latency_ms":5}""";
        var buckets = new EventBuckets(500, 8 * 1024 * 1024);

        var runs = buckets.Split([.. Enumerable.Range(1, 500).Select(i => Event(i, data: data))]);
        var sizes = runs.Select(r => EventBuckets.NewBucket("s", r).ToBson().Length).ToList();

        Assert.True(runs.Count >= 4, $"{runs.Count} runs");
        Assert.All(runs, r => Assert.True(r.Bytes <= buckets.MaxBytes, $"{r.Bytes} bytes"));
        Assert.All(sizes, size => Assert.True(size < 16 * 1024 * 1024 / 2 + 4096, $"{size} bytes"));
        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), runs.SelectMany(r => r.Events.Select(e => e["seq"].ToInt64())));
    }

    [Fact]
    public void Sessions_and_events_round_trip_in_the_guides_shape()
    {
        var session = new SessionInfo("s1", "u1", "exp", "gpt-4", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_930_000), """{"device":"desktop","viewport":{"width":1920}}""");
        var stored = Event(7);

        var sessionDocument = MongoDocuments.Session(session);
        var eventDocument = MongoDocuments.Event(stored);
        var back = MongoDocuments.ToEvent(eventDocument);

        Assert.Equal(["_id", "session_id", "user_id", "experiment_id", "model_group", "start_time", "end_time", "environment", "environment_json", "summary"], sessionDocument.Names);
        Assert.Equal(BsonType.DateTime, sessionDocument["start_time"].BsonType);
        Assert.Equal(session, MongoDocuments.ToSession(sessionDocument));
        Assert.Equal(1920, sessionDocument["environment"]["viewport"]["width"].ToInt32());
        Assert.Equal(["t", "type", "data", "data_json", "seq", "received_at", "id"], eventDocument.Names);
        Assert.Equal(BsonDocument.Parse("""{ latency_ms: NumberLong(120) }"""), eventDocument["data"]);
        Assert.Equal(stored, back);
    }

    [Fact]
    public void A_sessions_summary_round_trips_and_is_replaced_only_at_the_version_the_flush_started_from()
    {
        var values = Enumerable.Range(0, MetricFields.Count).Select(i => i * 1.5).ToArray();
        values[(int)MetricField.Ended] = 0;
        var previous = new SessionSummary(4, values);
        var current = new SessionSummary(9, [.. values.Select(v => v + 1)]);
        var end = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_060_000);

        var (filter, update) = MongoDocuments.UpdateSummary("s1", new ReadModelUpdate(previous, current, []), end);
        var stored = new BsonDocument { { "session_id", "s1" }, { "summary", update["$set"]["summary"] } };
        var back = MongoDocuments.ToSummary(stored);

        // A summary without a custom row: null matches the absent field too (rows written before custom metrics).
        Assert.Equal(BsonDocument.Parse("""{ _id: "s1", "summary.through_seq": NumberLong(4), "summary.ended": 0.0, "summary.custom": null }"""), filter);
        Assert.Equal(new DateTime(2024, 10, 27, 3, 34, 20, DateTimeKind.Utc), update["$set"]["end_time"].ToUniversalTime());
        Assert.Equal((9L, true), (back.ThroughSeq, back.Ended));
        Assert.Equal(current.Values.ToArray(), back.Values.ToArray());
        Assert.Equal(0L, MongoDocuments.UpdateSummary("s1", new ReadModelUpdate(null, current, []), null).Filter["summary.through_seq"].ToInt64());
        Assert.DoesNotContain("end_time", MongoDocuments.UpdateSummary("s1", new ReadModelUpdate(previous, current, []), null).Update["$set"].AsBsonDocument.Names);
        Assert.Throws<StoreUnavailableException>(() => MongoDocuments.ToSummary(new BsonDocument("session_id", "s1")));
    }

    [Fact]
    public void The_guide_pipelines_are_kept_verbatim()
    {
        // Copied from the guide's "Data Analysis Examples".
        var latency = BsonDocument.Parse("""{ p: [ { $unwind: "$events" }, { $match: { "events.type": "model_response" } }, { $group: { _id: "$model_group", avg_latency: { $avg: "$events.data.latency_ms" } } } ] }""");
        var duration = BsonDocument.Parse("""{ p: [ { $project: { model_group: 1, duration: { $subtract: [ { $toDate: "$end_time" }, { $toDate: "$start_time" } ] } } }, { $group: { _id: "$model_group", avg_duration_ms: { $avg: "$duration" } } } ] }""");

        Assert.Equal(latency["p"].AsBsonArray, new BsonArray(MongoDocuments.GuideLatencyPipeline()));
        Assert.Equal(duration["p"].AsBsonArray, new BsonArray(MongoDocuments.GuideDurationPipeline()));
    }

    [Fact]
    public void The_analysis_view_gives_each_bucket_its_sessions_fields_and_events()
    {
        var pipeline = MongoDocuments.SessionsWithEventsPipeline();

        Assert.Equal(["$lookup", "$unwind", "$replaceWith"], pipeline.Select(stage => stage.GetElement(0).Name));
        Assert.Equal("sessions", pipeline[0]["$lookup"]["from"].AsString);
        Assert.Equal("session_id", pipeline[0]["$lookup"]["localField"].AsString);
        var merged = pipeline[2]["$replaceWith"]["$mergeObjects"].AsBsonArray;
        Assert.Equal("$session", merged[0].AsString);
        Assert.Equal("$events", merged[1]["events"].AsString);
    }
}
