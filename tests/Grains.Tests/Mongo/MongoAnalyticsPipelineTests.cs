using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MongoDB.Bson;
using SessionTracking.Analytics;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// The MongoDB analytics adapter without a server: the rendered pipelines' essential stages and the mapping of result
/// documents. Whether the server evaluates the pipelines as intended is what <see cref="MongoAnalyticsParityTests"/>
/// checks against SQLite.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoAnalyticsPipelineTests
{
    private static readonly DateTimeOffset From = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    private static readonly AnalyticsFilter Full = new("exp", From.AddTicks(5_000), From.AddDays(1), "control");

    private static string[] StageNames(IEnumerable<BsonDocument> pipeline) => [.. pipeline.Select(stage => stage.GetElement(0).Name)];

    [Fact]
    public void The_filter_becomes_a_match_on_only_the_conditions_given_in_whole_milliseconds()
    {
        Assert.Equal(new BsonDocument(), MongoAnalyticsPipelines.SessionFilter(new AnalyticsFilter()));
        Assert.Equal(new BsonDocument("model_group", "g"), MongoAnalyticsPipelines.SessionFilter(new AnalyticsFilter(ModelGroup: "g")));
        Assert.Equal(
            new BsonDocument
            {
                { "experiment_id", "exp" },
                { "model_group", "control" },
                { "start_time", new BsonDocument { { "$gte", new BsonDateTime(1_700_000_000_000) }, { "$lt", new BsonDateTime(1_700_086_400_000) } } },
            },
            MongoAnalyticsPipelines.SessionFilter(Full));
        Assert.Equal(
            new BsonDocument("start_time", new BsonDocument("$lt", new BsonDateTime(1_700_000_000_000))),
            MongoAnalyticsPipelines.SessionFilter(new AnalyticsFilter(To: From)));
    }

    [Fact]
    public void Every_pipeline_starts_from_the_filtered_sessions_and_joins_buckets_by_session_id()
    {
        BsonDocument[][] pipelines =
        [
            MongoAnalyticsPipelines.GuideLatency(Full),
            MongoAnalyticsPipelines.ListSessions(Full, 10),
            MongoAnalyticsPipelines.ExportSessions(Full),
            MongoAnalyticsPipelines.ExportEvents(Full),
        ];

        Assert.All(pipelines, pipeline =>
        {
            Assert.Equal(MongoAnalyticsPipelines.SessionFilter(Full), pipeline[0]["$match"].AsBsonDocument);
            var lookup = pipeline.Single(stage => stage.Contains("$lookup"))["$lookup"];
            Assert.Equal(MongoDocuments.EventBucketsCollection, lookup["from"].AsString);
            Assert.Equal("_id", lookup["localField"].AsString);
            Assert.Equal("session_id", lookup["foreignField"].AsString);
        });
    }

    [Fact]
    public void The_guide_pipelines_run_verbatim_after_the_filter()
    {
        var latency = MongoAnalyticsPipelines.GuideLatency(Full);
        var unfilteredDuration = MongoAnalyticsPipelines.GuideDuration(new AnalyticsFilter());
        var filteredDuration = MongoAnalyticsPipelines.GuideDuration(Full);
        var guideLatency = MongoDocuments.GuideLatencyPipeline();
        var guideDuration = MongoDocuments.GuideDurationPipeline();

        Assert.Equal(guideLatency, latency.Skip(4).Take(guideLatency.Length));
        Assert.Equal(["$match", "$lookup", "$unwind", "$set"], StageNames(latency.Take(4)));
        Assert.Equal(new BsonDocument("events", "$bucket.events"), latency[3]["$set"]);
        Assert.Equal([.. guideDuration, new BsonDocument("$sort", new BsonDocument("_id", 1))], unfilteredDuration);
        Assert.Equal([new BsonDocument("$match", MongoAnalyticsPipelines.SessionFilter(Full)), .. guideDuration, new BsonDocument("$sort", new BsonDocument("_id", 1))], filteredDuration);
        Assert.Equal("$lookup", StageNames(MongoAnalyticsPipelines.GuideLatency(new AnalyticsFilter()))[0]);
    }

    [Fact]
    public void Lists_and_exports_sort_as_the_SQLite_adapter_and_events_are_not_sorted_again()
    {
        var list = MongoAnalyticsPipelines.ListSessions(new AnalyticsFilter(), 25);
        var events = MongoAnalyticsPipelines.ExportEvents(new AnalyticsFilter());
        var bucketOrder = events.Single(s => s.Contains("$lookup"))["$lookup"]["pipeline"][0];

        Assert.Equal(new BsonDocument { { "start_time", -1 }, { "session_id", 1 } }, list[1]["$sort"]);
        Assert.Equal(25, list[2]["$limit"].AsInt32);
        Assert.DoesNotContain(MongoAnalyticsPipelines.ListSessions(new AnalyticsFilter(), -1), s => s.Contains("$limit"));
        Assert.Equal(new BsonDocument { { "start_time", 1 }, { "session_id", 1 } }, MongoAnalyticsPipelines.ExportSessions(new AnalyticsFilter())[1]["$sort"]);
        Assert.Equal(["$match", "$project", "$sort", "$lookup", "$unwind", "$unwind", "$project"], StageNames(events));
        Assert.Equal(new BsonDocument { { "start_time", 1 }, { "session_id", 1 } }, events[2]["$sort"]);
        Assert.Equal(new BsonDocument("$sort", new BsonDocument("last_seq", 1)), bucketOrder);
        Assert.Equal(["$b", "$b.events"], events.Where(s => s.Contains("$unwind")).Select(s => s["$unwind"].AsString));
    }

    [Fact]
    public void A_users_deletion_covers_their_rows_and_the_rows_of_their_sessions()
    {
        BsonValue[] ids = ["s1", "s2"];

        Assert.Equal(BsonDocument.Parse("""{ session_id: { $in: ["s1", "s2"] } }"""), MongoAnalyticsPipelines.BucketsOf(ids));
        Assert.Equal(
            BsonDocument.Parse("""{ $or: [{ user_id: "u" }, { session_id: { $in: ["s1", "s2"] } }] }"""),
            MongoAnalyticsPipelines.LegacyRowsOf("u", ids));
        Assert.Equal(new BsonDocument("user_id", "u"), MongoAnalyticsPipelines.UserSessions("u"));
    }

    [Fact]
    public void The_Mongo_provider_registers_the_MongoDB_analytics_adapter()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:Provider"] = "Mongo", ["Storage:Mongo:ConnectionString"] = "mongodb://localhost:1" })
            .Build();

        var services = new ServiceCollection().AddSessionStore(configuration);

        Assert.Equal(typeof(MongoAnalyticsStore), services.Single(d => d.ServiceType == typeof(IAnalyticsStore)).ImplementationType);
        Assert.Equal(typeof(MongoSessionStore), services.Single(d => d.ServiceType == typeof(ISessionStore)).ImplementationType);
    }

    [Fact]
    public void Listed_and_exported_rows_map_to_the_ports_records()
    {
        var listed = new BsonDocument
        {
            { "_id", "s1" }, { "session_id", "s1" }, { "user_id", "u" }, { "experiment_id", "e" }, { "model_group", "g" },
            { "start_time", new BsonDateTime(1_700_000_000_123) }, { "end_time", BsonNull.Value }, { "event_count", 7 },
        };
        var exported = new BsonDocument
        {
            { "session_id", "s1" }, { "user_id", "u" }, { "experiment_id", "e" }, { "model_group", "g" },
            { "seq", 3L }, { "t", 1_700_000_000_999L }, { "type", "model_response" }, { "data", new BsonDocument("latency_ms", 12.5) },
        };

        Assert.Equal(new SessionListItem("s1", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), null, 7), MongoAnalyticsResults.ToSessionListItem(listed));
        var exportedEvent = MongoAnalyticsResults.ToExportEvent(exported);

        // The data is relaxed extended JSON, as the session store reads it back for the timeline (spacing differs from SQLite's text).
        Assert.Equal(new ExportEvent("s1", "u", "e", "g", 3, 1_700_000_000_999, "model_response", "", null, 1_700_000_000_999), exportedEvent with { DataJson = "" });
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"latency_ms":12.5}"""), JsonNode.Parse(exportedEvent.DataJson)));
        Assert.Equal("c1", MongoAnalyticsResults.ToExportEvent(exported.Add("id", "c1")).ClientId);
        Assert.Equal(7, MongoAnalyticsResults.ToExportSession(MongoDocuments.Session(new SessionInfo("s1", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1), null, "{}")).Add("event_count", 7)).EventCount);
        Assert.Equal(new GroupAverage("g", null), MongoAnalyticsResults.ToGroupAverage(BsonDocument.Parse("""{ _id: "g", avg_duration_ms: null }"""), "avg_duration_ms"));
    }
}
