using MongoDB.Bson;
using MongoDB.Bson.Serialization;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Issue 32, lossless data: JSON that System.Text.Json accepts but <c>BsonDocument.Parse</c> rejects or retypes, through
/// the documents the adapter writes, serialized to BSON bytes and read back, must come back as the same text. No server:
/// the server stores the bytes it is given, and these tests check exactly those bytes.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoPoisonDataTests
{
    public static TheoryData<string> Poison { get; } =
    [
        """{"n":123456789012345678901234567890}""",
        """{"n":-123456789012345678901234567890.5e-3}""",
        """{"$set":{"a":1},"$where":"x"}""",
        """{"when":{"$date":"x"}}""",
        """{"when":{"$date":"2024-01-01T00:00:00Z"}}""",
        """{"id":{"$oid":"507f1f77bcf86cd799439011"}}""",
        """{"amount":{"$numberDecimal":"1.5"}}""",
        """{"n":{"$numberLong":"5"},"b":{"$binary":{"base64":"AA==","subType":"00"}}}""",
        """{"a":1,"a":2,"latency_ms":3,"latency_ms":4}""",
        """{"k\u0000ey":1}""",
        """{"a.b":1,"":2," spaced ":{"x":[1,2.50,1e3,true,null,"\ud83d\ude00"]}}""",
        """{ "spaced" :  [ 1 , 2 ] }""",
        """{"big":1e308,"small":5e-324,"neg":-0}""",
        """[1,2,3]""",
        """"just a string\"""",
        """{"deep":""" + string.Concat(Enumerable.Repeat("""{"d":""", 200)) + "1" + new string('}', 200) + "}",
    ];

    [Theory]
    [MemberData(nameof(Poison))]
    public void An_events_data_comes_back_byte_for_byte_through_BSON(string json)
    {
        var stored = new StoredEvent(3, 1_730_000_000_000, "model_response", json, "c-3", 1_730_000_000_100, 1_730_000_000_050);

        var bytes = MongoDocuments.Event(stored).ToBson();
        var back = MongoDocuments.ToEvent(BsonSerializer.Deserialize<BsonDocument>(bytes));

        Assert.Equal(stored, back);
        Assert.Equal(json, back.DataJson);
    }

    [Theory]
    [MemberData(nameof(Poison))]
    public void A_legacy_rows_data_and_a_sessions_environment_are_kept_as_sent(string json)
    {
        var legacy = new LegacyEvent("u", "s", "custom", json, DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000));
        var session = new SessionInfo("s", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), null, json);

        var legacyBack = BsonSerializer.Deserialize<BsonDocument>(MongoDocuments.LegacyEvent(legacy).ToBson());
        var sessionBack = BsonSerializer.Deserialize<BsonDocument>(MongoDocuments.Session(session).ToBson());

        Assert.Equal(json, MongoEventData.Read(legacyBack));
        Assert.Equal(session, MongoDocuments.ToSession(sessionBack));
    }

    [Theory]
    [MemberData(nameof(Poison))]
    public void An_exported_event_carries_the_accepted_text(string json)
    {
        var row = new BsonDocument
        {
            { "session_id", "s" }, { "user_id", "u" }, { "experiment_id", "e" }, { "model_group", "g" },
            { "seq", 1L }, { "t", 5L }, { "type", "x" }, { "data", json }, { "corrected_t", 5L },
        };

        Assert.Equal(json, MongoAnalyticsResults.ToExportEvent(BsonSerializer.Deserialize<BsonDocument>(row.ToBson())).DataJson);
    }

    [Fact]
    public void The_projection_holds_only_finite_numbers_under_plain_keys_as_the_grain_reads_them()
    {
        var projection = MongoEventData.Projection("""{"latency_ms":120,"ttft_ms":12.5,"big":123456789012345678901234567890,"inf":1e400,"$x":1,"a.b":2,"s":"3","t":true,"o":{"n":1},"dup":1,"dup":7}""");

        Assert.Equal(
            new BsonDocument { { "latency_ms", 120L }, { "ttft_ms", 12.5 }, { "big", 1.2345678901234568E+29 }, { "dup", 7L } },
            projection);
        Assert.Equal(new BsonDocument(), MongoEventData.Projection("[1]"));
        Assert.Equal(new BsonDocument(), MongoEventData.Projection("not json"));
    }

    [Fact]
    public void A_duplicate_latency_projects_the_value_the_grains_read_model_counted()
    {
        const string json = """{"latency_ms":3,"latency_ms":4}""";
        using var document = System.Text.Json.JsonDocument.Parse(json);
        var counted = document.RootElement.GetProperty("latency_ms").GetDouble();

        Assert.Equal(counted, MongoEventData.Projection(json)["latency_ms"].ToDouble());
    }

    [Fact]
    public void An_event_stored_before_data_json_existed_reads_as_its_BSON_data()
    {
        var old = new BsonDocument { { "t", 1L }, { "type", "x" }, { "data", new BsonDocument("latency_ms", 5) }, { "seq", 1L }, { "received_at", 2L } };

        Assert.Equal("""{ "latency_ms" : 5 }""", MongoDocuments.ToEvent(old).DataJson);
    }
}
