using MongoDB.Bson;
using MongoDB.Bson.IO;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The analytics pipelines' result documents as the port's records, and the rank arithmetic of the quantiles: pure
/// functions, tested without a server. The arithmetic is the SQLite adapter's, so both stores give the same figures.
/// </summary>
public static class MongoAnalyticsResults
{
    private static readonly JsonWriterSettings RelaxedJson = new() { OutputMode = JsonOutputMode.RelaxedExtendedJson, Indent = false };

    /// <summary>The lower of the two order statistics that p interpolates between: ⌊(n − 1)·p⌋, in doubles as the SQL.</summary>
    public static long LowerRank(long count, double p) => (long)((count - 1) * p);

    /// <summary>Distance between sketch ranks: ⌈n / sketch⌉, so at most <paramref name="sketchSize"/> values are kept.</summary>
    public static long Stride(long count, int sketchSize) => Math.Max(1, (count + Math.Max(1, sketchSize) - 1) / Math.Max(1, sketchSize));

    /// <summary>Whether the pipeline keeps rank <paramref name="i"/> (0-based) of <paramref name="count"/>: the C# twin of its <c>$match</c>.</summary>
    public static bool IsPicked(long i, long count, int sketchSize)
    {
        var lo50 = LowerRank(count, 0.5);
        var lo95 = LowerRank(count, 0.95);
        return i == lo50 || i == lo50 + 1 || i == lo95 || i == lo95 + 1 || i % Stride(count, sketchSize) == 0;
    }

    public static GroupAggregate ToGroupAggregate(BsonDocument d)
    {
        var latencyCount = Long(d, "latency_n");
        var ttftCount = Long(d, "ttft_n");
        return new GroupAggregate(
            d["_id"]["experiment_id"].AsString,
            d["_id"]["model_group"].AsString,
            Long(d, "sessions"),
            Long(d, "ended"),
            NullableDouble(d, "duration_avg"),
            Long(d, "prompts"),
            Long(d, "responses"),
            latencyCount,
            latencyCount > 0 ? d["latency_sum"].ToDouble() / latencyCount : null,
            ttftCount,
            ttftCount > 0 ? d["ttft_sum"].ToDouble() / ttftCount : null,
            Long(d, "up"),
            Long(d, "down"),
            Long(d, "neutral"),
            Long(d, "copies"),
            Long(d, "selections"),
            Long(d, "sessions_copy"),
            Long(d, "sessions_selection"));
    }

    /// <summary>
    /// Picked ranks (<c>{e, g, i, n, v}</c>, sorted by group then rank) to one <see cref="MetricQuantiles"/> per group:
    /// p50/p95 by linear interpolation between the order statistics around (n − 1)·p (numpy's default, as
    /// <see cref="Statistics.Percentile"/>), and the sketch from the ranks that are multiples of the stride.
    /// </summary>
    public static IReadOnlyList<MetricQuantiles> ToQuantiles(IEnumerable<BsonDocument> picks, int sketchSize)
    {
        var result = new List<MetricQuantiles>();
        var picked = new Dictionary<long, double>();
        var sketch = new List<double>();
        (string Experiment, string Group, long N)? current = null;
        foreach (var d in picks)
        {
            var key = (d["e"].AsString, d["g"].AsString, d["n"].ToInt64());
            if (current is { } c && (c.Experiment != key.Item1 || c.Group != key.Item2))
            {
                result.Add(Complete(c, picked, sketch));
                picked.Clear();
                sketch = [];
            }

            current = key;
            var i = d["i"].ToInt64();
            var value = d["v"].ToDouble();
            picked[i] = value;
            if (i % Stride(key.Item3, sketchSize) == 0)
            {
                sketch.Add(value);
            }
        }

        if (current is { } last)
        {
            result.Add(Complete(last, picked, sketch));
        }

        return result;
    }

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
        d["data"].AsBsonDocument.ToJson(RelaxedJson),
        d.TryGetValue("id", out var id) && id.IsString ? id.AsString : null);

    private static MetricQuantiles Complete((string Experiment, string Group, long N) group, Dictionary<long, double> picked, List<double> sketch)
    {
        return new MetricQuantiles(group.Experiment, group.Group, group.N, At(0.5), At(0.95), sketch);

        double? At(double p)
        {
            var h = (group.N - 1) * p;
            var lo = LowerRank(group.N, p);
            var low = picked[lo];
            return picked.TryGetValue(lo + 1, out var high) ? low + (h - lo) * (high - low) : low;
        }
    }

    private static DateTimeOffset Time(BsonValue value) => DateTimeOffset.FromUnixTimeMilliseconds(value.AsBsonDateTime.MillisecondsSinceEpoch);

    private static long Long(BsonDocument d, string field) => d.TryGetValue(field, out var value) && value.IsNumeric ? value.ToInt64() : 0;

    private static double? NullableDouble(BsonDocument d, string field) => d.TryGetValue(field, out var value) && value.IsNumeric ? value.ToDouble() : null;
}
