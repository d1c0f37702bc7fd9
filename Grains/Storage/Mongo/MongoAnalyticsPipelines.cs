using MongoDB.Bson;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The analytics port's aggregation pipelines, as plain BSON so they are tested without a server. Every pipeline starts
/// from <c>sessions</c> (the filter's <c>$match</c> uses the <c>{experiment_id, model_group, start_time}</c> index) and
/// joins each selected session's buckets with <c>$lookup</c> on <c>session_events {session_id, bucket}</c>, so a
/// narrow filter reads only its own buckets. Each mirrors one query of <see cref="Sqlite.SqliteAnalyticsStore"/>.
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

    /// <summary>Counts and means per experiment × model_group: one row per session with its event totals, then one <c>$group</c>.</summary>
    public static BsonDocument[] AggregateGroups(AnalyticsFilter filter) =>
    [
        Match(SessionFilter(filter)),
        // Totals per session first: the outer $group then sums small numbers, and "sessions with a copy" is a count
        // of sessions whose copies > 0 rather than an $addToSet of ids that could outgrow a document.
        Lookup("ev", SessionEventTotals()),
        new("$unwind", new BsonDocument { { "path", "$ev" }, { "preserveNullAndEmptyArrays", true } }),
        new("$group", new BsonDocument
        {
            { "_id", new BsonDocument { { "experiment_id", "$experiment_id" }, { "model_group", "$model_group" } } },
            { "sessions", new BsonDocument("$sum", 1) },
            { "ended", CountIf(IsDate("$end_time")) },
            { "duration_avg", new BsonDocument("$avg", Cond(IsDate("$end_time"), Subtract("$end_time", "$start_time"), BsonNull.Value)) },
            { "prompts", Sum("$ev.prompts") },
            { "responses", Sum("$ev.responses") },
            { "latency_n", Sum("$ev.latency_n") },
            { "latency_sum", Sum("$ev.latency_sum") },
            { "ttft_n", Sum("$ev.ttft_n") },
            { "ttft_sum", Sum("$ev.ttft_sum") },
            { "up", Sum("$ev.up") },
            { "down", Sum("$ev.down") },
            { "neutral", Sum("$ev.neutral") },
            { "copies", Sum("$ev.copies") },
            { "selections", Sum("$ev.selections") },
            { "sessions_copy", CountIf(new BsonDocument("$gt", new BsonArray { "$ev.copies", 0 })) },
            { "sessions_selection", CountIf(new BsonDocument("$gt", new BsonArray { "$ev.selections", 0 })) },
        }),
        new("$sort", new BsonDocument { { "_id.experiment_id", 1 }, { "_id.model_group", 1 } }),
    ];

    /// <summary>
    /// Sub-pipeline on one session's buckets: its event totals as one document (none when it has no events). A number
    /// is a latency when <c>$isNumber</c>, as SQLite's <c>json_type IN ('integer', 'real')</c>: strings, booleans,
    /// arrays and missing fields are ignored, as <c>$avg</c> ignores them.
    /// </summary>
    public static BsonDocument[] SessionEventTotals() =>
    [
        new("$unwind", "$events"),
        new("$group", new BsonDocument
        {
            { "_id", BsonNull.Value },
            { "prompts", CountIf(IsType("prompt")) },
            { "responses", CountIf(IsType("model_response")) },
            { "latency_n", CountIf(IsNumericResponseField("latency_ms")) },
            { "latency_sum", SumIf(IsNumericResponseField("latency_ms"), "$events.data.latency_ms") },
            { "ttft_n", CountIf(IsNumericResponseField("ttft_ms")) },
            { "ttft_sum", SumIf(IsNumericResponseField("ttft_ms"), "$events.data.ttft_ms") },
            { "up", CountIf(IsFeedback("up")) },
            { "down", CountIf(IsFeedback("down")) },
            { "neutral", CountIf(IsFeedback("neutral")) },
            { "copies", CountIf(IsType("copy")) },
            { "selections", CountIf(IsType("selection")) },
        }),
    ];

    /// <summary>
    /// The values of one metric as <c>{e, g, v}</c> documents, then the ranked picks of <see cref="RankedPicks"/>.
    /// </summary>
    public static BsonDocument[] Quantiles(AnalyticsFilter filter, AnalyticsMetric metric, int sketchSize) =>
        [.. MetricValues(filter, metric), .. RankedPicks(sketchSize)];

    public static BsonDocument[] MetricValues(AnalyticsFilter filter, AnalyticsMetric metric)
    {
        var values = new BsonDocument { { "_id", 0 }, { "e", "$experiment_id" }, { "g", "$model_group" } };
        if (metric == AnalyticsMetric.DurationMs)
        {
            var match = SessionFilter(filter).Add("end_time", new BsonDocument("$type", "date"));
            return [Match(match), new("$project", values.Add("v", Subtract("$end_time", "$start_time")))];
        }

        var field = metric switch
        {
            AnalyticsMetric.LatencyMs => "latency_ms",
            AnalyticsMetric.TimeToFirstTokenMs => "ttft_ms",
            _ => throw new ArgumentOutOfRangeException(nameof(metric)),
        };
        return
        [
            Match(SessionFilter(filter)),
            Lookup("x",
            [
                new("$unwind", "$events"),
                new("$match", new BsonDocument("events.type", "model_response")),
                new("$project", new BsonDocument { { "_id", 0 }, { "v", $"$events.data.{field}" } }),
                // $expr/$isNumber, not {$type: "number"}: the query operator would also match an array holding a number.
                new("$match", new BsonDocument("$expr", new BsonDocument("$isNumber", "$v"))),
            ]),
            // $unwind right after $lookup is coalesced into it: a session's values stream out one by one and never
            // form one array document, however many events the session has.
            new("$unwind", "$x"),
            new("$project", values.Add("v", "$x.v")),
        ];
    }

    /// <summary>
    /// Ranks every value within its experiment × model_group (<c>$setWindowFields</c> sorted by value: <c>i</c> as
    /// SQLite's <c>ROW_NUMBER() − 1</c>, <c>n</c> the group's count) and keeps only the ranks the figures need: the
    /// two order statistics around (n − 1)·0.5 and (n − 1)·0.95 and every stride-th rank for the sketch, with
    /// stride = ⌈n / sketch⌉. The same rank arithmetic as the SQL (IEEE doubles, truncated), so both stores pick the
    /// same rows. Chosen over <c>$percentile</c> (approximate, 7.0+) because the figures must be identical to SQLite's,
    /// and over a <c>$group</c>/<c>$push</c> of every value because that array is capped at 100 MB, cannot spill and
    /// would send all values to the client; the window stage sorts with <c>allowDiskUse</c> and at most
    /// sketch + 4 documents per group leave the server.
    /// </summary>
    public static BsonDocument[] RankedPicks(int sketchSize)
    {
        var sketch = Math.Max(1, sketchSize);
        var last = Subtract("$n", 1);
        return
        [
            new("$setWindowFields", new BsonDocument
            {
                { "partitionBy", new BsonDocument { { "e", "$e" }, { "g", "$g" } } },
                { "sortBy", new BsonDocument("v", 1) },
                {
                    "output", new BsonDocument
                    {
                        { "i", new BsonDocument("$documentNumber", new BsonDocument()) },
                        { "n", new BsonDocument { { "$count", new BsonDocument() }, { "window", new BsonDocument("documents", new BsonArray { "unbounded", "unbounded" }) } } },
                    }
                },
            }),
            new("$set", new BsonDocument
            {
                { "i", Subtract("$i", 1) },
                { "lo50", new BsonDocument("$trunc", new BsonDocument("$multiply", new BsonArray { last, 0.5 })) },
                { "lo95", new BsonDocument("$trunc", new BsonDocument("$multiply", new BsonArray { last, 0.95 })) },
                { "stride", new BsonDocument("$floor", new BsonDocument("$divide", new BsonArray { new BsonDocument("$add", new BsonArray { "$n", sketch - 1 }), sketch })) },
            }),
            new("$match", new BsonDocument("$expr", new BsonDocument("$or", new BsonArray
            {
                new BsonDocument("$in", new BsonArray { "$i", new BsonArray { "$lo50", Add("$lo50", 1), "$lo95", Add("$lo95", 1) } }),
                new BsonDocument("$eq", new BsonArray { new BsonDocument("$mod", new BsonArray { "$i", "$stride" }), 0 }),
            }))),
            new("$project", new BsonDocument { { "_id", 0 }, { "e", 1 }, { "g", 1 }, { "i", 1 }, { "n", 1 }, { "v", 1 } }),
            new("$sort", new BsonDocument { { "e", 1 }, { "g", 1 }, { "i", 1 } }),
        ];
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
        new("$project", new BsonDocument { { "environment", 0 }, { "counted", 0 } }),
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
        Lookup("b", [new("$sort", new BsonDocument("bucket", 1)), new("$project", new BsonDocument { { "_id", 0 }, { "events", 1 } })]),
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
            { "data", "$b.events.data" },
            { "id", "$b.events.id" },
        }),
    ];

    /// <summary>Sub-pipeline on one session's buckets: its number of events (the arrays themselves, not the counters).</summary>
    public static BsonDocument[] EventCount() =>
    [
        new("$group", new BsonDocument { { "_id", BsonNull.Value }, { "n", new BsonDocument("$sum", new BsonDocument("$size", "$events")) } }),
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

    private static BsonDocument IsType(string type) => new("$eq", new BsonArray { "$events.type", type });

    private static BsonDocument IsNumericResponseField(string field) =>
        new("$and", new BsonArray { IsType("model_response"), new BsonDocument("$isNumber", $"$events.data.{field}") });

    private static BsonDocument IsFeedback(string value) =>
        new("$and", new BsonArray { IsType("feedback"), new BsonDocument("$eq", new BsonArray { "$events.data.feedback", value }) });

    // $type rather than a comparison with null: an open session's end_time is null, and a missing field is not null to $eq.
    private static BsonDocument IsDate(string field) => new("$eq", new BsonArray { new BsonDocument("$type", field), "date" });

    private static BsonDocument Cond(BsonValue condition, BsonValue then, BsonValue otherwise) => new("$cond", new BsonArray { condition, then, otherwise });

    private static BsonDocument CountIf(BsonValue condition) => new("$sum", Cond(condition, 1, 0));

    private static BsonDocument SumIf(BsonValue condition, BsonValue value) => new("$sum", Cond(condition, value, 0));

    private static BsonDocument Sum(string field) => new("$sum", field);

    private static BsonDocument Subtract(BsonValue a, BsonValue b) => new("$subtract", new BsonArray { a, b });

    private static BsonDocument Add(BsonValue a, BsonValue b) => new("$add", new BsonArray { a, b });
}
