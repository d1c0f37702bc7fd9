using MongoDB.Bson;
using SessionTracking.Analytics;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>The corrected event time in the MongoDB adapter's documents and export rows, checked without a server.</summary>
[TestCategory("BVT")]
public sealed class MongoEventTimeTests
{
    [Fact]
    public void An_events_corrected_time_is_stored_beside_t_and_read_back()
    {
        var stored = new StoredEvent(4, 1_730_000_600_000, "click", "{}", "c-4", 1_730_000_000_100, CorrectedTime: 1_730_000_000_090);

        var document = MongoDocuments.Event(stored);

        Assert.Equal(1_730_000_000_090, document["corrected_t"].ToInt64());
        Assert.Equal(1_730_000_600_000, document["t"].ToInt64());
        Assert.Equal(stored, MongoDocuments.ToEvent(document));
    }

    [Fact]
    public void An_event_stored_before_corrected_times_reads_as_t_at_most_its_receipt()
    {
        var old = MongoDocuments.Event(new StoredEvent(1, 1_730_000_600_000, "click", "{}", null, 1_730_000_000_100));

        var read = MongoDocuments.ToEvent(old);

        Assert.False(old.Contains("corrected_t"));
        Assert.Null(read.CorrectedTime);
        Assert.Equal(1_730_000_000_100, read.EventTime);
    }

    [Fact]
    public void The_event_export_projects_the_corrected_time_with_the_same_fallback()
    {
        var project = MongoAnalyticsPipelines.ExportEvents(new AnalyticsFilter()).Last()["$project"].AsBsonDocument;
        var row = new BsonDocument
        {
            { "session_id", "s1" }, { "user_id", "u" }, { "experiment_id", "e" }, { "model_group", "g" },
            { "seq", 3L }, { "t", 1_700_000_000_999L }, { "type", "click" }, { "data", new BsonDocument() }, { "corrected_t", 1_700_000_000_500L },
        };

        Assert.Equal(
            BsonDocument.Parse("""{"$ifNull": ["$b.events.corrected_t", {"$min": ["$b.events.t", "$b.events.received_at"]}]}"""),
            project["corrected_t"].AsBsonDocument);
        Assert.Equal(1_700_000_000_500, MongoAnalyticsResults.ToExportEvent(row).CorrectedTimeMs);
    }
}
