using System.Text.Json;
using MongoDB.Bson;
using MongoDB.Bson.IO;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// An event's <c>data</c> as MongoDB keeps it. The source of truth is <c>data_json</c>, the accepted JSON text itself:
/// BSON cannot hold every JSON document (integers beyond Int64, duplicate keys, NUL in a key), and parsing JSON into BSON
/// reads <c>{"$date": …}</c>, <c>{"$oid": …}</c> or <c>{"$numberDecimal": …}</c> as other types, so no parse can give back
/// what was accepted. Beside it, <c>data</c> is a projection for server-side pipelines (the guide's
/// <c>events.data.latency_ms</c>, the read model's latency and TTFT values): the top-level members that are finite
/// JSON numbers under a plain key, read as the grain reads them (System.Text.Json).
/// </summary>
public static class MongoEventData
{
    public const string JsonField = "data_json";
    public const string ProjectionField = "data";

    private static readonly JsonWriterSettings RelaxedJson = new() { OutputMode = JsonOutputMode.RelaxedExtendedJson, Indent = false };

    /// <summary>The numeric projection; empty when the text is not a JSON object (never throws: the text is what counts).</summary>
    public static BsonDocument Projection(string json)
    {
        var projection = new BsonDocument();
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return projection;
            }

            foreach (var name in document.RootElement.EnumerateObject().Select(m => m.Name).Where(IsPlainKey).Distinct(StringComparer.Ordinal))
            {
                // Looked up as the grain's fold looks it up (JsonElement.TryGetProperty), so a duplicate key projects the
                // value the read model counted.
                if (!document.RootElement.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number)
                {
                    continue;
                }

                if (value.TryGetInt64(out var integer))
                {
                    projection.Add(name, integer);
                }
                else if (value.TryGetDouble(out var real) && double.IsFinite(real))
                {
                    projection.Add(name, real);
                }
            }
        }
        catch (JsonException)
        {
            // Stored data was validated by the gateway; an unreadable text simply projects nothing.
        }

        return projection;
    }

    /// <summary>
    /// The event's JSON as accepted: <c>data_json</c>, or for an event stored before it existed the old BSON <c>data</c>
    /// written back as relaxed extended JSON (what the adapter always returned for those).
    /// </summary>
    public static string Read(BsonDocument document) =>
        document.TryGetValue(JsonField, out var json) && json.IsString ? json.AsString : Legacy(document.GetValue(ProjectionField, BsonNull.Value));

    /// <summary>The same choice on a value produced by a pipeline that may carry either (exports).</summary>
    public static string Read(BsonValue value) => value.IsString ? value.AsString : Legacy(value);

    private static string Legacy(BsonValue value) => value is BsonDocument d ? d.ToJson(RelaxedJson) : "{}";

    /// <summary>Keys a path expression can name: not empty, no <c>$</c> prefix, no dot, no NUL.</summary>
    private static bool IsPlainKey(string key) =>
        key.Length > 0 && key[0] != '$' && !key.Contains('.', StringComparison.Ordinal) && !key.Contains('\0', StringComparison.Ordinal);
}
