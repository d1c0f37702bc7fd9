using System.Globalization;
using MongoDB.Bson;
using SessionTracking.Analytics;
using SessionTracking.Metrics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The custom metrics' documents (docs/custom-metrics.md), pure functions tested without a server: the per-metric
/// aggregates (<see cref="MetricMoments"/> slots, <c>$inc</c>ed), a user's custom row (compare-and-set on its bytes)
/// and the backfill states. Aggregates are sharded as the built-in moments are (<see cref="MongoReadModelDocuments"/>):
/// sessions by a hash of the session id, users by a hash of the user id.
/// </summary>
public static class MongoCustomMetricDocuments
{
    public const string MetricMoments = "experiment_metric_moments";
    public const string States = "custom_metric_state";

    public const string Backfilling = "backfilling";
    public const string Complete = "complete";

    /// <summary>The field of a slot inside <c>slots</c>, prefixed so that no path step is all digits (an update path reads those as array indexes).</summary>
    public static string SlotField(long slot) => "s" + slot.ToString(CultureInfo.InvariantCulture);

    public static long SlotOf(string field) =>
        field.Length > 1 && field[0] == 's' && long.TryParse(field.AsSpan(1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var slot)
            ? slot
            : throw new InvalidDataException($"'{field}' is not a metric moments slot.");

    public static BsonDocument MomentsId(MetricMomentsKey key) => new()
    {
        { "experiment_id", key.ExperimentId },
        { "model_group", key.ModelGroup },
        { "unit", key.Unit },
        { "hour", key.Hour },
        { "metric", key.Metric },
        { "shard", key.Shard },
    };

    /// <summary>
    /// Filter and update that add <paramref name="delta"/> to one aggregate document (created empty): <c>slots.s&lt;n&gt;</c>
    /// += value, for every slot whose change is not zero; null when none is (nothing to write). Additive, so concurrent
    /// writers never read first: the server applies each <c>$inc</c> atomically.
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update)? IncrementMoments(MetricMomentsKey key, MetricMoments delta)
    {
        var increments = new BsonDocument();
        foreach (var (slot, value) in delta.Slots)
        {
            if (value != 0)
            {
                increments.Add("slots." + SlotField(slot), value);
            }
        }

        if (increments.ElementCount == 0)
        {
            return null;
        }

        return (
            new BsonDocument("_id", MomentsId(key)),
            new BsonDocument
            {
                {
                    "$setOnInsert", new BsonDocument
                    {
                        { "experiment_id", key.ExperimentId }, { "model_group", key.ModelGroup }, { "unit", key.Unit }, { "hour", key.Hour }, { "metric", key.Metric }, { "shard", key.Shard },
                    }
                },
                { "$inc", increments },
            });
    }

    /// <summary>The slots of an aggregate document (absent <c>slots</c>: none).</summary>
    public static MetricMoments ToMoments(BsonDocument document)
    {
        var moments = new MetricMoments();
        if (document.TryGetValue("slots", out var slots) && slots is BsonDocument d)
        {
            foreach (var element in d)
            {
                moments.Add(SlotOf(element.Name), element.Value.ToDouble());
            }
        }

        return moments;
    }

    /// <summary>
    /// The aggregates of one unit (sessions: start hours in [first, end); users: the all-hours key) of the metric keys
    /// <paramref name="keys"/>, summed by the server over hours and shards: <c>{_id: {e, g, m, k: "s&lt;slot&gt;"}, v}</c>.
    /// </summary>
    public static BsonDocument[] MomentsPipeline(string? experimentId, int unit, long firstHour, long endHour, IEnumerable<string> keys)
    {
        var match = MongoReadModelDocuments.MomentsFilter(experimentId, unit, firstHour, endHour)
            .Add("metric", new BsonDocument("$in", new BsonArray(keys)));
        return
        [
            new("$match", match),
            new("$project", new BsonDocument { { "_id", 0 }, { "e", "$experiment_id" }, { "g", "$model_group" }, { "m", "$metric" }, { "s", new BsonDocument("$objectToArray", "$slots") } }),
            new("$unwind", "$s"),
            new("$group", new BsonDocument
            {
                { "_id", new BsonDocument { { "e", "$e" }, { "g", "$g" }, { "m", "$m" }, { "k", "$s.k" } } },
                { "v", new BsonDocument("$sum", "$s.v") },
            }),
        ];
    }

    /// <summary>
    /// Users as units within a window, custom metrics: the custom rows of the window's sessions in (experiment, group,
    /// user) order, so that each user's rows arrive together and are summed as they stream (no user held twice).
    /// </summary>
    public static BsonDocument[] UserRowsInWindowPipeline(BsonDocument sessions) =>
    [
        new("$match", new BsonDocument(sessions).Add("summary.custom", new BsonDocument("$type", "binData"))),
        new("$project", new BsonDocument { { "_id", 0 }, { "e", "$experiment_id" }, { "g", "$model_group" }, { "u", "$user_id" }, { "c", "$summary.custom" } }),
        new("$sort", new BsonDocument { { "e", 1 }, { "g", 1 }, { "u", 1 } }),
    ];

    /// <summary>A stored custom row (<c>summary.custom</c> or a user's <c>custom</c>): null when absent.</summary>
    public static CustomRow? ToCustomRow(BsonDocument document, string field = "custom") =>
        document.TryGetValue(field, out var value) && value.IsBsonBinaryData ? CustomRow.FromBytes(value.AsBsonBinaryData.Bytes) : null;

    /// <summary>The filter value of a stored custom row: its bytes, or null, which matches an absent field too.</summary>
    public static BsonValue Version(CustomRow? row) => row is null ? BsonNull.Value : new BsonBinaryData(row.ToBytes());

    /// <summary>
    /// Filter and update that move a user's custom row from <paramref name="before"/> to <paramref name="after"/> (null:
    /// the user has no session left and leaves the custom aggregates; the field is removed, so a later session of the
    /// user enters them as a new unit): a compare-and-set on the bytes read. Null when the row does not change.
    /// <paramref name="covariate"/>: CUPED's covariate computed for a user entering the aggregates (its row new, none
    /// stored), set as BinData in <c>covariate</c> in the same update; the filter then also requires no stored covariate,
    /// so it is stored once. A stored covariate is never changed or removed (a user who left and comes back keeps it).
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update)? ReplaceUserRow(UserKey key, CustomRow? before, CustomRow? after, CustomRow? covariate = null)
    {
        var beforeBytes = before?.ToBytes();
        var afterBytes = after?.ToBytes();
        if (beforeBytes is null ? afterBytes is null : afterBytes is not null && beforeBytes.AsSpan().SequenceEqual(afterBytes))
        {
            return null;
        }

        var filter = new BsonDocument { { "_id", MongoReadModelDocuments.UserId(key) }, { "custom", beforeBytes is null ? BsonNull.Value : new BsonBinaryData(beforeBytes) } };
        if (afterBytes is null)
        {
            return (filter, new BsonDocument("$unset", new BsonDocument("custom", "")));
        }

        var set = new BsonDocument("custom", new BsonBinaryData(afterBytes));
        if (covariate is not null)
        {
            filter.Add(CovariateField, BsonNull.Value);
            set.Add(CovariateField, new BsonBinaryData(covariate.ToBytes()));
        }

        return (filter, new BsonDocument("$set", set));
    }

    /// <summary>The field of a user's CUPED covariate row (<see cref="CupedCovariate"/>) in <c>user_summaries</c>.</summary>
    public const string CovariateField = "covariate";

    /// <summary>A user's stored CUPED covariate: null when none was computed.</summary>
    public static CustomRow? ToCovariate(BsonDocument userDocument) => ToCustomRow(userDocument, CovariateField);

    /// <summary>
    /// A configured key without a complete backfill is (re)started: state <c>backfilling</c>, progress from zero. The
    /// filter excludes a complete state, so the upsert's insert meets the <c>_id</c> of a complete one (duplicate key:
    /// nothing to do) and several silos starting at once all succeed.
    /// </summary>
    public static (BsonDocument Filter, BsonDocument Update) StartBackfill(string key, string name, long sessionsTotal, DateTime now) => (
        new BsonDocument { { "_id", key }, { "state", new BsonDocument("$ne", Complete) } },
        new BsonDocument("$set", new BsonDocument
        {
            { "name", name },
            { "state", Backfilling },
            { "sessions_done", 0L },
            { "sessions_total", sessionsTotal },
            { "started_at", now },
            { "completed_at", BsonNull.Value },
        }));

    /// <summary>The states of <paramref name="keys"/> still backfilling (a complete one is never touched again).</summary>
    public static BsonDocument StillBackfilling(IEnumerable<string> keys) =>
        new() { { "_id", new BsonDocument("$in", new BsonArray(keys)) }, { "state", Backfilling } };

    public static MetricBackfillState ToState(BsonDocument d) => new(
        d["_id"].AsString,
        d.GetValue("name", d["_id"]).AsString,
        d.GetValue("state", Backfilling).AsString,
        d.GetValue("sessions_done", 0L).ToInt64(),
        d.GetValue("sessions_total", 0L).ToInt64(),
        Time(d.GetValue("started_at", BsonNull.Value)),
        Time(d.GetValue("completed_at", BsonNull.Value)));

    private static DateTimeOffset? Time(BsonValue value) =>
        value.IsBsonDateTime ? DateTimeOffset.FromUnixTimeMilliseconds(value.AsBsonDateTime.MillisecondsSinceEpoch) : null;
}

public readonly record struct MetricMomentsKey(string ExperimentId, string ModelGroup, int Unit, long Hour, string Metric, int Shard);
