using System.Globalization;
using System.Text;
using MongoDB.Bson;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The experiment aggregates of the read model as MongoDB documents, and the filters and pipelines that read them: pure
/// functions, tested without a server. The figures are SQLite's (<see cref="Sqlite.SqliteReadModel"/>): moments per
/// experiment × group × start hour with sessions as units, per experiment × group with users as units, sketch bins per
/// experiment × group × start hour × metric. Unlike SQLite's single writer, many transactions update them at once, so
/// each aggregate is split into shards by a stable hash of the session (users as units: of the user): concurrent
/// flushes of one hour mostly touch different documents, and a read sums the shards. Every aggregate is a sum, so the
/// number of shards may change at any time: reads sum whatever shards exist.
/// </summary>
public static class MongoReadModelDocuments
{
    public const string UserSummaries = "user_summaries";
    public const string ExperimentMoments = "experiment_moments";
    public const string ExperimentSketches = "experiment_sketches";
    public const string Metadata = "read_model_metadata";

    public const int SessionUnit = 0;
    public const int UserUnit = 1;

    /// <summary>The hour key of user-unit moments, which cover the whole experiment.</summary>
    public const long AllHours = -1;

    public const long HourMs = 3_600_000;

    /// <summary>The start hour of a session: ⌊start ms / 3,600,000⌋, as SQLite's.</summary>
    public static long HourOf(DateTimeOffset startTime) => FloorDiv(startTime.ToUnixTimeMilliseconds(), HourMs);

    public static long FloorDiv(long a, long b) => (a / b) - (a % b < 0 ? 1 : 0);

    public static long CeilDiv(long a, long b) => -FloorDiv(-a, b);

    /// <summary>A stable shard of an id (FNV-1a over its UTF-8 bytes): the same in every process and version, unlike string.GetHashCode.</summary>
    public static int ShardOf(string id, int shards)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(id))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return (int)(hash % (uint)Math.Max(1, shards));
    }

    public static BsonDocument UserId(UserKey key) => new()
    {
        { "experiment_id", key.ExperimentId },
        { "model_group", key.ModelGroup },
        { "user_id", key.UserId },
    };

    /// <summary>
    /// Filter and update that add a session's change to its user's sums (created at zero). Run as a find-and-modify that
    /// returns the new document: the user's sums before are the new ones minus the change.
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update) IncrementUser(UserKey key, ReadOnlySpan<double> change)
    {
        var increments = new BsonDocument();
        for (var i = 0; i < MetricFields.Count; i++)
        {
            increments.Add(MetricFields.Columns[i], change[i]);
        }

        return (
            new BsonDocument("_id", UserId(key)),
            new BsonDocument
            {
                { "$setOnInsert", new BsonDocument { { "experiment_id", key.ExperimentId }, { "model_group", key.ModelGroup }, { "user_id", key.UserId } } },
                { "$inc", increments },
            });
    }

    /// <summary>The metric fields of a <c>user_summaries</c> document or of a session's <c>summary</c> (missing fields are 0).</summary>
    public static double[] ToValues(BsonDocument document)
    {
        var values = new double[MetricFields.Count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = document.TryGetValue(MetricFields.Columns[i], out var v) && v.IsNumeric ? v.ToDouble() : 0;
        }

        return values;
    }

    public static BsonDocument MomentsId(MomentsKey key) => new()
    {
        { "experiment_id", key.ExperimentId },
        { "model_group", key.ModelGroup },
        { "unit", key.Unit },
        { "hour", key.Hour },
        { "shard", key.Shard },
    };

    /// <summary>A new moments document, version 1. Inserted only when none exists: two writers cannot both insert it.</summary>
    public static BsonDocument NewMoments(MomentsKey key, Moments moments) => new()
    {
        { "_id", MomentsId(key) },
        { "experiment_id", key.ExperimentId },
        { "model_group", key.ModelGroup },
        { "unit", key.Unit },
        { "hour", key.Hour },
        { "shard", key.Shard },
        { "version", 1L },
        { "moments", new BsonBinaryData(moments.ToBytes()) },
    };

    /// <summary>
    /// Filter and update that replace a moments document read at <paramref name="version"/>: no match when another writer
    /// replaced it since (outside a transaction the caller reads again; inside one the server reports a write conflict).
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update) ReplaceMoments(MomentsKey key, long version, Moments moments) => (
        new BsonDocument { { "_id", MomentsId(key) }, { "version", version } },
        new BsonDocument("$set", new BsonDocument { { "moments", new BsonBinaryData(moments.ToBytes()) }, { "version", version + 1 } }));

    public static Moments ToMoments(BsonDocument document) => Moments.FromBytes(document["moments"].AsBsonBinaryData.Bytes);

    /// <summary>Filter and update that add counts to the bins of one sketch document (created empty): <c>bins.&lt;bin&gt;</c> += count.</summary>
    public static (BsonDocument Filter, BsonDocument Update) IncrementBins(SketchKey key, IEnumerable<KeyValuePair<int, long>> bins)
    {
        var increments = new BsonDocument();
        foreach (var (bin, count) in bins)
        {
            increments.Add("bins." + bin.ToString(CultureInfo.InvariantCulture), count);
        }

        return (
            new BsonDocument("_id", new BsonDocument
            {
                { "experiment_id", key.ExperimentId },
                { "model_group", key.ModelGroup },
                { "hour", key.Hour },
                { "metric", (int)key.Metric },
                { "shard", key.Shard },
            }),
            new BsonDocument
            {
                { "$setOnInsert", new BsonDocument { { "experiment_id", key.ExperimentId }, { "model_group", key.ModelGroup }, { "hour", key.Hour }, { "metric", (int)key.Metric }, { "shard", key.Shard } } },
                { "$inc", increments },
            });
    }

    /// <summary>Moments documents of one unit (sessions: the start hours in [first, end); users: the all-hours key).</summary>
    public static BsonDocument MomentsFilter(string? experimentId, int unit, long firstHour, long endHour)
    {
        var filter = new BsonDocument("unit", unit);
        if (experimentId is not null)
        {
            filter.Add("experiment_id", experimentId);
        }

        return filter.Add("hour", HourRange(firstHour, endHour));
    }

    /// <summary>
    /// The sketch bins of the start hours in [first, end), summed by the server over hours and shards:
    /// <c>{_id: {e, g, m, b}, n}</c>, at most a few hundred rows per group and metric.
    /// </summary>
    public static BsonDocument[] SketchBinsPipeline(string? experimentId, long firstHour, long endHour)
    {
        var match = new BsonDocument();
        if (experimentId is not null)
        {
            match.Add("experiment_id", experimentId);
        }

        match.Add("hour", HourRange(firstHour, endHour));
        return
        [
            new("$match", match),
            new("$project", new BsonDocument { { "_id", 0 }, { "e", "$experiment_id" }, { "g", "$model_group" }, { "m", "$metric" }, { "b", new BsonDocument("$objectToArray", "$bins") } }),
            new("$unwind", "$b"),
            new("$group", new BsonDocument
            {
                { "_id", new BsonDocument { { "e", "$e" }, { "g", "$g" }, { "m", "$m" }, { "b", "$b.k" } } },
                { "n", new BsonDocument("$sum", "$b.v") },
            }),
        ];
    }

    /// <summary>Sessions whose start lies in [from, to) ms (either bound may be open), of the experiment when one is given.</summary>
    public static BsonDocument SessionsStarting(string? experimentId, long? fromMs, long? toMs)
    {
        var filter = new BsonDocument();
        if (experimentId is not null)
        {
            filter.Add("experiment_id", experimentId);
        }

        if (fromMs is not null || toMs is not null)
        {
            var range = new BsonDocument();
            if (fromMs is { } from)
            {
                range.Add("$gte", new BsonDateTime(from));
            }

            if (toMs is { } to)
            {
                range.Add("$lt", new BsonDateTime(to));
            }

            filter.Add("start_time", range);
        }

        return filter;
    }

    /// <summary>
    /// The latency and TTFT values of the model_response events of the selected sessions, as the grain reads them (JSON
    /// numbers only: <c>$isNumber</c>, as SQLite's <c>json_type IN ('integer', 'real')</c>): <c>{s, e, g, l, t}</c>, with
    /// <c>l</c>/<c>t</c> absent when not a number. One document per response streams out of the join, never one array
    /// per session.
    /// </summary>
    public static BsonDocument[] ResponseValuesPipeline(BsonDocument sessions) =>
    [
        new("$match", sessions),
        new("$project", new BsonDocument { { "experiment_id", 1 }, { "model_group", 1 } }),
        new("$lookup", new BsonDocument
        {
            { "from", MongoDocuments.EventBucketsCollection },
            { "localField", "_id" },
            { "foreignField", "session_id" },
            {
                "pipeline", new BsonArray
                {
                    new BsonDocument("$project", new BsonDocument { { "_id", 0 }, { "events.type", 1 }, { "events.data.latency_ms", 1 }, { "events.data.ttft_ms", 1 } }),
                    new BsonDocument("$unwind", "$events"),
                    new BsonDocument("$match", new BsonDocument("events.type", "model_response")),
                    new BsonDocument("$project", new BsonDocument
                    {
                        { "l", NumberOrRemove("$events.data.latency_ms") },
                        { "t", NumberOrRemove("$events.data.ttft_ms") },
                    }),
                }
            },
            { "as", "r" },
        }),
        new("$unwind", "$r"),
        new("$project", new BsonDocument { { "_id", 0 }, { "s", "$_id" }, { "e", "$experiment_id" }, { "g", "$model_group" }, { "l", "$r.l" }, { "t", "$r.t" } }),
    ];

    /// <summary>Users as units within a window: the summaries of each user's sessions in it, summed by the server.</summary>
    public static BsonDocument[] UsersInWindowPipeline(BsonDocument sessions)
    {
        var sums = new BsonDocument { { "_id", new BsonDocument { { "e", "$experiment_id" }, { "g", "$model_group" }, { "u", "$user_id" } } } };
        foreach (var column in MetricFields.Columns)
        {
            sums.Add(column, new BsonDocument("$sum", "$summary." + column));
        }

        return
        [
            new("$match", new BsonDocument(sessions).Add("summary", new BsonDocument("$exists", true))),
            new("$group", sums),
        ];
    }

    /// <summary>What a report reads of the sessions at the partial edge hours: keys and summary, not the environment.</summary>
    public static BsonDocument SummaryProjection() => new()
    {
        { "experiment_id", 1 },
        { "model_group", 1 },
        { "summary", 1 },
    };

    /// <summary>What the privacy deletion and the backfill read of a session to key its aggregates.</summary>
    public static BsonDocument KeyProjection() => new()
    {
        { "session_id", 1 },
        { "user_id", 1 },
        { "experiment_id", 1 },
        { "model_group", 1 },
        { "start_time", 1 },
        { "end_time", 1 },
        { "summary", 1 },
    };

    /// <summary>The session's aggregate keys from a document with <see cref="KeyProjection"/> (environment left empty).</summary>
    public static SessionInfo ToSessionKeys(BsonDocument d) => new(
        d["_id"].AsString,
        d["user_id"].AsString,
        d["experiment_id"].AsString,
        d["model_group"].AsString,
        DateTimeOffset.FromUnixTimeMilliseconds(d["start_time"].AsBsonDateTime.MillisecondsSinceEpoch),
        d.TryGetValue("end_time", out var end) && end.IsBsonDateTime ? DateTimeOffset.FromUnixTimeMilliseconds(end.AsBsonDateTime.MillisecondsSinceEpoch) : null,
        "{}");

    /// <summary>The metadata document that records the read model's version (the start-up backfill ran).</summary>
    public static BsonDocument MetadataId() => new("_id", "read_model");

    private static BsonDocument HourRange(long firstHour, long endHour)
    {
        var range = new BsonDocument();
        if (firstHour != long.MinValue)
        {
            range.Add("$gte", firstHour);
        }

        if (endHour != long.MaxValue)
        {
            range.Add("$lt", endHour);
        }

        return range.ElementCount == 0 ? new BsonDocument("$exists", true) : range;
    }

    private static BsonDocument NumberOrRemove(string field) =>
        new("$cond", new BsonArray { new BsonDocument("$isNumber", field), field, "$$REMOVE" });
}

public readonly record struct UserKey(string ExperimentId, string ModelGroup, string UserId);

public readonly record struct MomentsKey(string ExperimentId, string ModelGroup, int Unit, long Hour, int Shard);

public readonly record struct SketchKey(string ExperimentId, string ModelGroup, long Hour, QuantileMetric Metric, int Shard);
