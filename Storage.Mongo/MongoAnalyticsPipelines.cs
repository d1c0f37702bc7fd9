using MongoDB.Bson;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The analytics port's aggregation pipelines, as plain BSON so they are tested without a server. Every pipeline starts
/// from <c>sessions</c> (the filter's <c>$match</c> uses the <c>{experiment_id, model_group, start_time}</c> index) and
/// joins each selected session's buckets with <c>$lookup</c> on <c>session_events {session_id, last_seq}</c>, so a
/// narrow filter reads only its own buckets. Each mirrors one query of <see cref="Sqlite.SqliteAnalyticsStore"/>.
/// Experiment figures do not come from events: see <see cref="MongoGroupFigures"/>.
/// </summary>
public static class MongoAnalyticsPipelines
{
    /// <summary>
    /// The filter as a <c>$match</c> on sessions, with only the conditions that apply. Times are compared as whole
    /// milliseconds, as SQLite compares <c>ToUnixTimeMilliseconds()</c>: a sub-millisecond bound selects the same rows.
    /// </summary>
    public static BsonDocument SessionFilter(AnalyticsFilter filter)
    {
        var match = new BsonDocument();
        if (filter.ExperimentId is { } experiment)
        {
            match.Add("experiment_id", experiment);
        }

        if (filter.ModelGroup is { } group)
        {
            match.Add("model_group", group);
        }

        if (filter.From is not null || filter.To is not null)
        {
            var range = new BsonDocument();
            if (filter.From is { } from)
            {
                range.Add("$gte", new BsonDateTime(from.ToUnixTimeMilliseconds()));
            }

            if (filter.To is { } to)
            {
                range.Add("$lt", new BsonDateTime(to.ToUnixTimeMilliseconds()));
            }

            match.Add("start_time", range);
        }

        return match;
    }

    /// <summary>
    /// The guide's latency pipeline, verbatim, on documents shaped like the <c>sessions_with_events</c> view (a
    /// session's fields with one bucket's <c>events</c>). They are built from the filtered sessions rather than read
    /// from the view, because a filter on the view could only run after its <c>$lookup</c> of every bucket.
    /// </summary>
    public static BsonDocument[] GuideLatency(AnalyticsFilter filter) =>
    [
        .. MatchIfAny(filter),
        Lookup("bucket", [new("$project", new BsonDocument { { "_id", 0 }, { "events.type", 1 }, { "events.data.latency_ms", 1 } })]),
        new("$unwind", "$bucket"),
        new("$set", new BsonDocument("events", "$bucket.events")),
        .. MongoDocuments.GuideLatencyPipeline(),
        new("$sort", new BsonDocument("_id", 1)),
    ];

    /// <summary>The guide's duration pipeline, verbatim, on the filtered sessions.</summary>
    public static BsonDocument[] GuideDuration(AnalyticsFilter filter) =>
    [
        .. MatchIfAny(filter),
        .. MongoDocuments.GuideDurationPipeline(),
        new("$sort", new BsonDocument("_id", 1)),
    ];

    /// <summary>
    /// Newest first, ties by session id; the limit applies before the event counts are looked up. A negative limit is
    /// no limit, as SQLite's <c>LIMIT -1</c> (the store answers a limit of 0 without asking the server).
    /// </summary>
    public static BsonDocument[] ListSessions(AnalyticsFilter filter, int limit) =>
    [
        Match(SessionFilter(filter)),
        new("$sort", new BsonDocument { { "start_time", -1 }, { "session_id", 1 } }),
        .. limit > 0 ? [new BsonDocument("$limit", limit)] : Array.Empty<BsonDocument>(),
        Lookup("counted", EventCount()),
        new("$set", new BsonDocument("event_count", EventCountOfLookup("$counted"))),
        new("$project", new BsonDocument { { "environment", 0 }, { "environment_json", 0 }, { "counted", 0 } }),
    ];

    public static BsonDocument[] ExportSessions(AnalyticsFilter filter) =>
    [
        Match(SessionFilter(filter)),
        new("$sort", new BsonDocument { { "start_time", 1 }, { "session_id", 1 } }),
        Lookup("counted", EventCount()),
        new("$set", new BsonDocument("event_count", EventCountOfLookup("$counted"))),
        new("$project", new BsonDocument("counted", 0)),
    ];

    /// <summary>
    /// Events in (start_time, session_id, seq) order without sorting the events: sessions are sorted, each session's
    /// buckets come in bucket order, and a bucket's events are in seq order because they are only ever appended in
    /// order. <c>$lookup</c> and <c>$unwind</c> keep their input's order.
    /// </summary>
    public static BsonDocument[] ExportEvents(AnalyticsFilter filter) =>
    [
        Match(SessionFilter(filter)),
        new("$project", new BsonDocument { { "session_id", 1 }, { "user_id", 1 }, { "experiment_id", 1 }, { "model_group", 1 }, { "start_time", 1 } }),
        new("$sort", new BsonDocument { { "start_time", 1 }, { "session_id", 1 } }),
        Lookup("b", [new("$sort", new BsonDocument("last_seq", 1)), new("$project", new BsonDocument { { "_id", 0 }, { "events", 1 } })]),
        new("$unwind", "$b"),
        new("$unwind", "$b.events"),
        new("$project", new BsonDocument
        {
            { "_id", 0 },
            { "session_id", 1 },
            { "user_id", 1 },
            { "experiment_id", 1 },
            { "model_group", 1 },
            { "seq", "$b.events.seq" },
            { "t", "$b.events.t" },
            { "type", "$b.events.type" },
            // The accepted text; an event stored before data_json existed carries only its BSON data.
            { "data", new BsonDocument("$ifNull", new BsonArray { "$b.events." + MongoEventData.JsonField, "$b.events.data" }) },
            { "id", "$b.events.id" },
            // StoredEvent.EventTime: events stored before corrected_t existed read as t, at most received_at.
            { "corrected_t", new BsonDocument("$ifNull", new BsonArray { "$b.events.corrected_t", new BsonDocument("$min", new BsonArray { "$b.events.t", "$b.events.received_at" }) }) },
        }),
    ];

    /// <summary>
    /// Sub-pipeline on one session's buckets: its number of events, from each bucket's stored <c>count</c> (kept with every
    /// append), so no event array is loaded to be measured.
    /// </summary>
    public static BsonDocument[] EventCount() =>
    [
        new("$project", new BsonDocument { { "_id", 0 }, { "count", 1 } }),
        new("$group", new BsonDocument { { "_id", BsonNull.Value }, { "n", new BsonDocument("$sum", "$count") } }),
    ];

    /// <summary>Per session of <paramref name="sessionIds"/>: its bucket documents and events (stored counts).</summary>
    public static BsonDocument[] BucketCounts(IEnumerable<BsonValue> sessionIds) =>
    [
        new("$match", BucketsOf(sessionIds)),
        new("$group", new BsonDocument { { "_id", "$session_id" }, { "buckets", new BsonDocument("$sum", 1) }, { "n", new BsonDocument("$sum", "$count") } }),
    ];

    public static BsonDocument UserSessions(string userId) => new("user_id", userId);

    /// <summary>Buckets of the given sessions (also the filter that counts their events before they are deleted).</summary>
    public static BsonDocument BucketsOf(IEnumerable<BsonValue> sessionIds) => new("session_id", new BsonDocument("$in", new BsonArray(sessionIds)));

    /// <summary><c>queries</c>/<c>events</c> rows of the user or of the user's sessions, as the SQLite deletion.</summary>
    public static BsonDocument LegacyRowsOf(string userId, IEnumerable<BsonValue> sessionIds) =>
        new("$or", new BsonArray { new BsonDocument("user_id", userId), BucketsOf(sessionIds) });

    private static BsonDocument Match(BsonDocument filter) => new("$match", filter);

    private static IEnumerable<BsonDocument> MatchIfAny(AnalyticsFilter filter) =>
        SessionFilter(filter) is { ElementCount: > 0 } match ? [Match(match)] : [];

    /// <summary>A session's buckets (localField/foreignField with a sub-pipeline, MongoDB 5.0+: the join uses the index).</summary>
    private static BsonDocument Lookup(string into, BsonDocument[] pipeline) => new("$lookup", new BsonDocument
    {
        { "from", MongoDocuments.EventBucketsCollection },
        { "localField", "_id" },
        { "foreignField", "session_id" },
        { "pipeline", new BsonArray(pipeline) },
        { "as", into },
    });

    private static BsonDocument EventCountOfLookup(string array) =>
        new("$ifNull", new BsonArray { new BsonDocument("$arrayElemAt", new BsonArray { array + ".n", 0 }), 0 });
}
