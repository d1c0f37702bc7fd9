using MongoDB.Bson;
using MongoDB.Bson.IO;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Mapping between the port's records and MongoDB documents, in the guide's field names. Pure functions, so the
/// document shapes, updates and the analysis view are tested without a server.
/// </summary>
public static class MongoDocuments
{
    public const string Sessions = "sessions";
    public const string EventBucketsCollection = "session_events";
    public const string Queries = "queries";
    public const string Events = "events";

    /// <summary>View on which the guide's latency pipeline runs unchanged: one document per bucket, with the session's fields.</summary>
    public const string SessionsWithEventsView = "sessions_with_events";

    /// <summary>Levels a BSON copy of client JSON may have: far inside the driver's serialization limit of 100.</summary>
    private const int MaxProjectedDepth = 32;

    private static readonly JsonWriterSettings RelaxedJson = new() { OutputMode = JsonOutputMode.RelaxedExtendedJson, Indent = false };

    public static BsonDocument Session(SessionInfo s) => new()
    {
        { "_id", s.SessionId },
        { "session_id", s.SessionId },
        { "user_id", s.UserId },
        { "experiment_id", s.ExperimentId },
        { "model_group", s.ModelGroup },
        { "start_time", s.StartTime.UtcDateTime },
        { "end_time", s.EndTime is { } end ? end.UtcDateTime : BsonNull.Value },
        { "environment", EnvironmentProjection(s.EnvironmentJson) },
        { "environment_json", s.EnvironmentJson },
        { "summary", Summary(SessionSummary.Started()) },
    };

    /// <summary>
    /// The environment as BSON for ad-hoc queries when it converts without loss of meaning; the text itself is kept in
    /// <c>environment_json</c> and is what is read back (see <see cref="MongoEventData"/> for why a parse is not enough).
    /// </summary>
    private static BsonValue EnvironmentProjection(string json) => PlainBson(json, j => BsonDocument.Parse(j));

    /// <summary>
    /// <paramref name="json"/> parsed to BSON only when nothing in it can trouble the server or the driver — no
    /// <c>$</c>-prefixed, dotted or empty key, at most <see cref="MaxProjectedDepth"/> levels — else null. Never throws:
    /// the text beside it is the source of truth, so an unconvertible value only loses its queryable copy.
    /// </summary>
    private static BsonValue PlainBson(string json, Func<string, BsonValue> parse)
    {
        try
        {
            var value = parse(json);
            return IsPlain(value, 0) ? value : BsonNull.Value;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return BsonNull.Value;
        }

        static bool IsPlain(BsonValue value, int depth) => value switch
        {
            _ when depth > MaxProjectedDepth => false,
            BsonDocument d => d.All(e => e.Name.Length > 0 && e.Name[0] != '$' && !e.Name.Contains('.', StringComparison.Ordinal) && IsPlain(e.Value, depth + 1)),
            BsonArray a => a.All(v => IsPlain(v, depth + 1)),
            _ => true,
        };
    }

    /// <summary>
    /// The session's read-model row, kept in its session document: <c>{through_seq, sessions, ended, …}</c>, and its custom
    /// metric row as <c>custom</c> (<see cref="CustomRow.ToBytes"/> as BinData; absent while it has none).
    /// </summary>
    public static BsonDocument Summary(SessionSummary summary)
    {
        var document = new BsonDocument { { "through_seq", summary.ThroughSeq } };
        for (var i = 0; i < MetricFields.Count; i++)
        {
            document.Add(MetricFields.Columns[i], summary.Values[i]);
        }

        if (summary.Custom is { } custom)
        {
            document.Add("custom", new BsonBinaryData(custom.ToBytes()));
        }

        return document;
    }

    public static SessionSummary ToSummary(BsonDocument sessionDocument)
    {
        if (!sessionDocument.TryGetValue("summary", out var value) || value is not BsonDocument d)
        {
            throw new StoreUnavailableException($"Session {sessionDocument["session_id"]} has no read-model summary.");
        }

        var values = new double[MetricFields.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = d.TryGetValue(MetricFields.Columns[i], out var v) ? v.ToDouble() : 0;
        }

        return new SessionSummary(d["through_seq"].ToInt64(), values, MongoCustomMetricDocuments.ToCustomRow(d));
    }

    /// <summary>
    /// Filter and update of a flush's session document: the summary is replaced only when the stored one is the version the
    /// flush started from (no match: another activation wrote first, a conflict); the end time is set with it. The custom
    /// row is part of the version: a backfill or another activation that completed it makes this flush a conflict.
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update) UpdateSummary(string sessionId, ReadModelUpdate update, DateTimeOffset? endTime)
    {
        var previous = update.Previous ?? SessionSummary.Started();
        var filter = new BsonDocument
        {
            { "_id", sessionId },
            { "summary.through_seq", previous.ThroughSeq },
            { "summary.ended", previous.Ended ? 1.0 : 0.0 },
            { "summary.custom", MongoCustomMetricDocuments.Version(previous.Custom) },
        };
        var set = new BsonDocument("summary", Summary(update.Current));
        if (endTime is { } end)
        {
            set.Add("end_time", end.UtcDateTime);
        }

        return (filter, new BsonDocument("$set", set));
    }

    public static SessionInfo ToSession(BsonDocument d) => new(
        d["session_id"].AsString,
        d["user_id"].AsString,
        d["experiment_id"].AsString,
        d["model_group"].AsString,
        new DateTimeOffset(d["start_time"].ToUniversalTime(), TimeSpan.Zero),
        d["end_time"].IsBsonNull ? null : new DateTimeOffset(d["end_time"].ToUniversalTime(), TimeSpan.Zero),
        d.TryGetValue("environment_json", out var json) && json.IsString ? json.AsString
            : d.GetValue("environment", BsonNull.Value) is BsonDocument environment ? environment.ToJson(RelaxedJson) : "{}");

    /// <summary>
    /// An event as stored inside a bucket: the guide's <c>{t, type, data}</c> (<c>data</c> only its numeric projection, the
    /// accepted text in <c>data_json</c>: <see cref="MongoEventData"/>) plus seq, client id, receive time and corrected
    /// time (absent on events stored before it existed).
    /// </summary>
    public static BsonDocument Event(StoredEvent e)
    {
        var document = new BsonDocument
        {
            { "t", e.T },
            { "type", e.Type },
            { MongoEventData.ProjectionField, MongoEventData.Projection(e.DataJson) },
            { MongoEventData.JsonField, e.DataJson },
            { "seq", e.Seq },
            { "received_at", e.ReceivedAt },
        };
        if (e.ClientId is not null)
        {
            document.Add("id", e.ClientId);
        }

        if (e.CorrectedTime is { } corrected)
        {
            document.Add("corrected_t", corrected);
        }

        return document;
    }

    public static StoredEvent ToEvent(BsonDocument d) => new(
        d["seq"].ToInt64(),
        d["t"].ToInt64(),
        d["type"].AsString,
        MongoEventData.Read(d),
        d.TryGetValue("id", out var id) ? id.AsString : null,
        d["received_at"].ToInt64(),
        d.TryGetValue("corrected_t", out var corrected) && corrected.IsNumeric ? corrected.ToInt64() : null);

    /// <summary>
    /// A legacy row's <c>_id</c> when it belongs to a session's flush: the session, the flush's first seq and the row's
    /// place in it. Written with an upsert, so a flush retried after an unknown commit result adds no second copy.
    /// </summary>
    public static BsonDocument LegacyRowId(string sessionId, long firstSeq, string kind, int index) =>
        new() { { "s", sessionId }, { "f", firstSeq }, { "k", kind }, { "i", index } };

    public static BsonDocument Query(QueryRow q) => new()
    {
        { "session_id", (BsonValue?)q.SessionId ?? BsonNull.Value },
        { "user_id", (BsonValue?)q.UserId ?? BsonNull.Value },
        { "model_group", (BsonValue?)q.ModelGroup ?? BsonNull.Value },
        { "query", q.Query },
        { "response", q.Response },
        { "model", q.Model },
        { "provider", q.Provider },
        { "latency_ms", q.LatencyMs },
        { "citations", CitationsProjection(q.CitationsJson) },
        { "citations_json", q.CitationsJson },
        { "timestamp", q.Timestamp.UtcDateTime },
    };

    public static BsonDocument LegacyEvent(LegacyEvent e) => new()
    {
        { "user_id", e.UserId },
        { "session_id", (BsonValue?)e.SessionId ?? BsonNull.Value },
        { "event_type", e.EventType },
        { MongoEventData.ProjectionField, MongoEventData.Projection(e.DataJson) },
        { MongoEventData.JsonField, e.DataJson },
        { "timestamp", e.Timestamp.UtcDateTime },
    };

    /// <summary>
    /// The view's pipeline: each bucket joined with its session's fields, shaped like a guide session document whose
    /// <c>events</c> holds that bucket's events. Every document stays bucket-sized, however long the session.
    /// </summary>
    public static BsonDocument[] SessionsWithEventsPipeline() =>
    [
        new("$lookup", new BsonDocument { { "from", Sessions }, { "localField", "session_id" }, { "foreignField", "_id" }, { "as", "session" } }),
        new("$unwind", "$session"),
        new("$replaceWith", new BsonDocument("$mergeObjects", new BsonArray
        {
            "$session",
            new BsonDocument { { "_id", "$_id" }, { "first_seq", "$first_seq" }, { "events", "$events" } },
        })),
    ];

    /// <summary>The guide's "average response latency" pipeline, verbatim.</summary>
    public static BsonDocument[] GuideLatencyPipeline() =>
    [
        new("$unwind", "$events"),
        new("$match", new BsonDocument("events.type", "model_response")),
        new("$group", new BsonDocument { { "_id", "$model_group" }, { "avg_latency", new BsonDocument("$avg", "$events.data.latency_ms") } }),
    ];

    /// <summary>The guide's "engagement by session duration" pipeline, verbatim.</summary>
    public static BsonDocument[] GuideDurationPipeline() =>
    [
        new("$project", new BsonDocument
        {
            { "model_group", 1 },
            { "duration", new BsonDocument("$subtract", new BsonArray { new BsonDocument("$toDate", "$end_time"), new BsonDocument("$toDate", "$start_time") }) },
        }),
        new("$group", new BsonDocument { { "_id", "$model_group" }, { "avg_duration_ms", new BsonDocument("$avg", "$duration") } }),
    ];

    /// <summary>The citations as a BSON array when they convert; the text in <c>citations_json</c> is kept either way.</summary>
    private static BsonValue CitationsProjection(string json) =>
        PlainBson(json, j => MongoDB.Bson.Serialization.BsonSerializer.Deserialize<BsonArray>(j));
}
