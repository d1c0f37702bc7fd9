using System.Text.Json.Nodes;
using MongoDB.Bson;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>What the MongoDB adapter writes, checked without a server: bucket arithmetic, document shapes, pipelines.</summary>
[TestCategory("BVT")]
public sealed class MongoDocumentTests
{
    private static StoredEvent Event(long seq, string? id = null, string data = """{"latency_ms":120,"nested":{"a":[1,2.5,"x"]}}""") =>
        new(seq, 1_730_000_000_000 + seq, "model_response", data, id ?? $"id-{seq}", 1_730_000_000_500 + seq);

    [Theory]
    [InlineData(1, 0)]
    [InlineData(500, 0)]
    [InlineData(501, 1)]
    [InlineData(1_000_000, 1999)]
    public void An_events_bucket_follows_from_its_sequence_number(long seq, long bucket) =>
        Assert.Equal(bucket, new EventBuckets(500).BucketOf(seq));

    [Fact]
    public void A_flush_crossing_a_bucket_boundary_is_split_into_in_order_runs()
    {
        var runs = new EventBuckets(500).Split([.. Enumerable.Range(498, 6).Select(i => Event(i))]).ToList();

        Assert.Equal([0L, 1L], runs.Select(r => r.Bucket));
        Assert.Equal([498L, 499L, 500L], runs[0].Events.Select(e => e.Seq));
        Assert.Equal([501L, 502L, 503L], runs[1].Events.Select(e => e.Seq));
    }

    [Theory]
    [InlineData(0, 100, 0)]
    [InlineData(10, 100, 1)]
    [InlineData(1000, 100, 1)]
    [InlineData(1001, 100, 2)]
    [InlineData(1_000_000, 4096, 9)]
    public void The_dedup_window_reads_only_the_newest_buckets(long lastSeq, int window, long buckets) =>
        Assert.Equal(buckets, new EventBuckets(500).BucketsForTail(lastSeq, window));

    [Fact]
    public void Appending_pushes_into_the_tail_bucket_only_and_a_taken_sequence_cannot_match()
    {
        var (filter, update) = MongoDocuments.AppendToBucket("s1", 3, [Event(1501), Event(1502)]);

        Assert.Equal("s1:3", filter["_id"].AsString);
        Assert.Equal(1501, filter["last_seq"]["$lt"].ToInt64());
        Assert.Equal(2, update["$push"]["events"]["$each"].AsBsonArray.Count);
        Assert.Equal(1502, update["$max"]["last_seq"].ToInt64());
        Assert.Equal(2, update["$inc"]["count"].ToInt32());
        Assert.Equal(3, update["$setOnInsert"]["bucket"].ToInt64());
        Assert.DoesNotContain("$set", update.Names);
    }

    [Fact]
    public void A_bucket_of_the_default_size_stays_far_below_the_16_MB_document_limit()
    {
        // 500 events at the gateway's largest accepted event data (64 KiB) would be 32 MB: the gateway's default
        // data cap and typical events (~200 bytes) keep buckets small; this checks a realistic worst case of 8 KiB.
        var data = $$"""{"text":"{{new string('x', 8 * 1024)}}"}""";
        var (_, update) = MongoDocuments.AppendToBucket("s", 0, [.. Enumerable.Range(1, 500).Select(i => Event(i, data: data))]);

        Assert.True(update.ToBson().Length < 16 * 1024 * 1024 / 3, $"{update.ToBson().Length} bytes");
    }

    [Fact]
    public void Sessions_and_events_round_trip_in_the_guides_shape()
    {
        var session = new SessionInfo("s1", "u1", "exp", "gpt-4", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_930_000), """{"device":"desktop","viewport":{"width":1920}}""");
        var stored = Event(7);

        var sessionDocument = MongoDocuments.Session(session);
        var eventDocument = MongoDocuments.Event(stored);
        var back = MongoDocuments.ToEvent(eventDocument);

        Assert.Equal(["_id", "session_id", "user_id", "experiment_id", "model_group", "start_time", "end_time", "environment", "summary"], sessionDocument.Names);
        Assert.Equal(BsonType.DateTime, sessionDocument["start_time"].BsonType);
        Assert.Equal(session with { EnvironmentJson = "" }, MongoDocuments.ToSession(sessionDocument) with { EnvironmentJson = "" });
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(session.EnvironmentJson), JsonNode.Parse(MongoDocuments.ToSession(sessionDocument).EnvironmentJson)));
        Assert.Equal(["t", "type", "data", "seq", "received_at", "id"], eventDocument.Names);
        Assert.Equal(120, eventDocument["data"]["latency_ms"].ToInt32());
        Assert.Equal(stored with { DataJson = "" }, back with { DataJson = "" });
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(stored.DataJson), JsonNode.Parse(back.DataJson)));
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

        Assert.Equal(BsonDocument.Parse("""{ _id: "s1", "summary.through_seq": NumberLong(4), "summary.ended": 0.0 }"""), filter);
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
