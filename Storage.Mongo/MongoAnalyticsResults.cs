using MongoDB.Bson;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The analytics pipelines' result documents as the port's records: pure functions, tested without a server.
/// </summary>
public static class MongoAnalyticsResults
{
    public static GroupAverage ToGroupAverage(BsonDocument d, string field) => new(d["_id"].AsString, NullableDouble(d, field));

    public static SessionListItem ToSessionListItem(BsonDocument d) => new(
        d["session_id"].AsString,
        d["user_id"].AsString,
        d["experiment_id"].AsString,
        d["model_group"].AsString,
        Time(d["start_time"]),
        d["end_time"].IsBsonNull ? null : Time(d["end_time"]),
        Long(d, "event_count"));

    public static ExportSession ToExportSession(BsonDocument d) => new(MongoDocuments.ToSession(d), Long(d, "event_count"));

    public static ExportEvent ToExportEvent(BsonDocument d) => new(
        d["session_id"].AsString,
        d["user_id"].AsString,
        d["experiment_id"].AsString,
        d["model_group"].AsString,
        d["seq"].ToInt64(),
        d["t"].ToInt64(),
        d["type"].AsString,
        MongoEventData.Read(d["data"]),
        d.TryGetValue("id", out var id) && id.IsString ? id.AsString : null,
        d.TryGetValue("corrected_t", out var corrected) && corrected.IsNumeric ? corrected.ToInt64() : d["t"].ToInt64());

    private static DateTimeOffset Time(BsonValue value) => DateTimeOffset.FromUnixTimeMilliseconds(value.AsBsonDateTime.MillisecondsSinceEpoch);

    private static long Long(BsonDocument d, string field) => d.TryGetValue(field, out var value) && value.IsNumeric ? value.ToInt64() : 0;

    private static double? NullableDouble(BsonDocument d, string field) => d.TryGetValue(field, out var value) && value.IsNumeric ? value.ToDouble() : null;
}
