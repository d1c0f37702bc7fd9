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
/// The MongoDB analytics adapter without a server: the rendered pipelines' essential stages, the quantiles' rank
/// arithmetic against <see cref="Statistics.Percentile"/>, and the mapping of result documents. Whether the server
/// evaluates the pipelines as intended is what <see cref="MongoAnalyticsParityTests"/> checks against SQLite.
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
            MongoAnalyticsPipelines.AggregateGroups(Full),
            MongoAnalyticsPipelines.Quantiles(Full, AnalyticsMetric.LatencyMs, 10),
            MongoAnalyticsPipelines.Quantiles(Full, AnalyticsMetric.TimeToFirstTokenMs, 10),
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
    public void Group_aggregates_group_by_experiment_and_model_group_from_per_session_totals()
    {
        var pipeline = MongoAnalyticsPipelines.AggregateGroups(new AnalyticsFilter());
        var group = pipeline.Single(stage => stage.Contains("$group"))["$group"].AsBsonDocument;

        Assert.Equal(["$match", "$lookup", "$unwind", "$group", "$sort"], StageNames(pipeline));
        Assert.True(pipeline[2]["$unwind"]["preserveNullAndEmptyArrays"].AsBoolean, "sessions without events still count");
        Assert.Equal(new BsonDocument { { "experiment_id", "$experiment_id" }, { "model_group", "$model_group" } }, group["_id"]);
        Assert.Equal(new BsonDocument { { "_id.experiment_id", 1 }, { "_id.model_group", 1 } }, pipeline[^1]["$sort"]);
        Assert.Equal(MongoAnalyticsPipelines.SessionEventTotals(), pipeline[1]["$lookup"]["pipeline"].AsBsonArray.Select(v => v.AsBsonDocument));

        // Ended and durations test the BSON type: null and missing end_time are both "open".
        Assert.Contains("$type", group["ended"].ToJson());
        Assert.Contains("$subtract", group["duration_avg"].ToJson());
    }

    [Fact]
    public void A_latency_counts_only_on_model_responses_and_only_when_it_is_a_number()
    {
        var totals = MongoAnalyticsPipelines.SessionEventTotals()[1]["$group"].AsBsonDocument;
        var latencyCondition = totals["latency_n"]["$sum"]["$cond"][0];

        Assert.Equal(BsonNull.Value, totals["_id"]);
        Assert.Equal(
            new BsonDocument("$and", new BsonArray
            {
                new BsonDocument("$eq", new BsonArray { "$events.type", "model_response" }),
                new BsonDocument("$isNumber", "$events.data.latency_ms"),
            }),
            latencyCondition);
        Assert.Equal(latencyCondition, totals["latency_sum"]["$sum"]["$cond"][0]);
        Assert.Equal("$events.data.latency_ms", totals["latency_sum"]["$sum"]["$cond"][1].AsString);
        Assert.Equal("$events.data.ttft_ms", totals["ttft_sum"]["$sum"]["$cond"][1].AsString);
        Assert.Contains("\"up\"", totals["up"].ToJson());
        Assert.Contains("\"copy\"", totals["copies"].ToJson());
    }

    [Fact]
    public void Metric_values_are_durations_of_ended_sessions_or_numeric_fields_of_model_responses()
    {
        var duration = MongoAnalyticsPipelines.MetricValues(new AnalyticsFilter(), AnalyticsMetric.DurationMs);
        var ttft = MongoAnalyticsPipelines.MetricValues(new AnalyticsFilter(), AnalyticsMetric.TimeToFirstTokenMs);
        var lookup = ttft[1]["$lookup"]["pipeline"].AsBsonArray.Select(v => v.AsBsonDocument).ToArray();

        Assert.Equal(["$match", "$project"], StageNames(duration));
        Assert.Equal(new BsonDocument("end_time", new BsonDocument("$type", "date")), duration[0]["$match"]);
        Assert.Equal(["$match", "$lookup", "$unwind", "$project"], StageNames(ttft));
        Assert.Equal(["$unwind", "$match", "$project", "$match"], StageNames(lookup));
        Assert.Equal(new BsonDocument("events.type", "model_response"), lookup[1]["$match"]);
        Assert.Equal("$events.data.ttft_ms", lookup[2]["$project"]["v"].AsString);
        Assert.Equal(new BsonDocument("$expr", new BsonDocument("$isNumber", "$v")), lookup[3]["$match"]);
        Assert.Equal("$x", ttft[2]["$unwind"].AsString);
    }

    [Fact]
    public void Ranks_are_numbered_per_group_in_value_order_and_only_the_needed_ranks_are_kept()
    {
        var picks = MongoAnalyticsPipelines.RankedPicks(5000);
        var window = picks[0]["$setWindowFields"];
        var set = picks[1]["$set"];

        Assert.Equal(["$setWindowFields", "$set", "$match", "$project", "$sort"], StageNames(picks));
        Assert.Equal(new BsonDocument { { "e", "$e" }, { "g", "$g" } }, window["partitionBy"]);
        Assert.Equal(new BsonDocument("v", 1), window["sortBy"]);
        Assert.Equal(new BsonDocument("$documentNumber", new BsonDocument()), window["output"]["i"]);
        Assert.Equal(new BsonArray { "unbounded", "unbounded" }, window["output"]["n"]["window"]["documents"]);
        Assert.Equal(BsonDocument.Parse("""{ $subtract: ["$i", 1] }"""), set["i"]);
        Assert.Equal(BsonDocument.Parse("""{ $trunc: { $multiply: [{ $subtract: ["$n", 1] }, 0.95] } }"""), set["lo95"]);
        Assert.Equal(BsonDocument.Parse("""{ $floor: { $divide: [{ $add: ["$n", 4999] }, 5000] } }"""), set["stride"]);
        Assert.Equal(BsonDocument.Parse("""{ e: 1, g: 1, i: 1 }"""), picks[^1]["$sort"]);

        // A sketch size below 1 behaves as 1, as in the SQLite adapter.
        Assert.Equal(BsonDocument.Parse("""{ $floor: { $divide: [{ $add: ["$n", 0] }, 1] } }"""), MongoAnalyticsPipelines.RankedPicks(0)[1]["$set"]["stride"]);
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
        Assert.Equal(new BsonDocument("$sort", new BsonDocument("bucket", 1)), bucketOrder);
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

    [Theory]
    [InlineData(5000)]
    [InlineData(7)]
    [InlineData(3)]
    [InlineData(1)]
    public void Picked_ranks_interpolate_exactly_as_Statistics_Percentile_over_all_values(int sketchSize)
    {
        var random = new Random(7);
        for (var n = 1; n <= 150; n++)
        {
            var sorted = Enumerable.Range(0, n).Select(_ => Math.Round(random.NextDouble() * 1000, random.Next(3))).Order().ToList();
            var picks = sorted
                .Select((v, i) => (v, i))
                .Where(p => MongoAnalyticsResults.IsPicked(p.i, n, sketchSize))
                .Select(p => new BsonDocument { { "e", "exp" }, { "g", "g" }, { "i", (long)p.i }, { "n", n }, { "v", p.v } });

            var quantiles = Assert.Single(MongoAnalyticsResults.ToQuantiles(picks, sketchSize));

            Assert.Equal(n, quantiles.Count);
            Assert.Equal(Statistics.Percentile(sorted, 0.5), quantiles.P50);
            Assert.Equal(Statistics.Percentile(sorted, 0.95), quantiles.P95);
            Assert.Equal(sorted.Where((_, i) => i % MongoAnalyticsResults.Stride(n, sketchSize) == 0), quantiles.Sketch);
            Assert.True(quantiles.Sketch.Count <= Math.Max(1, sketchSize), $"n {n}: sketch of {quantiles.Sketch.Count}");
            if (n <= sketchSize)
            {
                Assert.Equal(sorted, quantiles.Sketch);
            }
        }
    }

    [Theory]
    [InlineData(1, 0.5, 0)]
    [InlineData(2, 0.5, 0)]
    [InlineData(21, 0.95, 19)]
    [InlineData(20, 0.95, 18)]
    [InlineData(101, 0.95, 95)]
    public void The_lower_rank_truncates_n_minus_one_times_p(long n, double p, long rank) =>
        Assert.Equal(rank, MongoAnalyticsResults.LowerRank(n, p));

    [Fact]
    public void Picks_of_several_groups_become_one_result_per_group_in_order()
    {
        BsonDocument Pick(string g, long i, int n, double v) => new() { { "e", "exp" }, { "g", g }, { "i", i }, { "n", n }, { "v", v } };

        var result = MongoAnalyticsResults.ToQuantiles([Pick("a", 0, 2, 10), Pick("a", 1, 2, 20), Pick("b", 0, 1, 5)], 5000);

        Assert.Equal(["a", "b"], result.Select(q => q.ModelGroup));
        Assert.Equal((15.0, 19.5), (result[0].P50!.Value, result[0].P95!.Value));
        Assert.Equal([10.0, 20.0], result[0].Sketch);
        Assert.Equal((1L, 5.0, 5.0), (result[1].Count, result[1].P50!.Value, result[1].P95!.Value));
        Assert.Empty(MongoAnalyticsResults.ToQuantiles([], 5000));
    }

    [Fact]
    public void A_group_row_maps_to_counts_and_means_whatever_the_numeric_types()
    {
        var row = BsonDocument.Parse("""
            { _id: { experiment_id: "exp", model_group: "g" }, sessions: 3, ended: NumberLong(2), duration_avg: 1500.5,
              prompts: 4, responses: 5, latency_n: 4, latency_sum: 1000, ttft_n: 0, ttft_sum: 0, up: 1, down: 0, neutral: 2,
              copies: NumberLong(3), selections: 0, sessions_copy: 1, sessions_selection: 0 }
            """);
        var noEvents = BsonDocument.Parse("""{ _id: { experiment_id: "exp", model_group: "h" }, sessions: 1, ended: 0, duration_avg: null }""");

        Assert.Equal(new GroupAggregate("exp", "g", 3, 2, 1500.5, 4, 5, 4, 250.0, 0, null, 1, 0, 2, 3, 0, 1, 0), MongoAnalyticsResults.ToGroupAggregate(row));
        Assert.Equal(new GroupAggregate("exp", "h", 1, 0, null, 0, 0, 0, null, 0, null, 0, 0, 0, 0, 0, 0, 0), MongoAnalyticsResults.ToGroupAggregate(noEvents));
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
        Assert.Equal(new ExportEvent("s1", "u", "e", "g", 3, 1_700_000_000_999, "model_response", "", null), exportedEvent with { DataJson = "" });
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"latency_ms":12.5}"""), JsonNode.Parse(exportedEvent.DataJson)));
        Assert.Equal("c1", MongoAnalyticsResults.ToExportEvent(exported.Add("id", "c1")).ClientId);
        Assert.Equal(7, MongoAnalyticsResults.ToExportSession(MongoDocuments.Session(new SessionInfo("s1", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1), null, "{}")).Add("event_count", 7)).EventCount);
        Assert.Equal(new GroupAverage("g", null), MongoAnalyticsResults.ToGroupAverage(BsonDocument.Parse("""{ _id: "g", avg_duration_ms: null }"""), "avg_duration_ms"));
    }
}
