using System.Globalization;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Reads the read model for a report, as <see cref="Sqlite.SqliteGroupFigures"/> does. Whole start hours inside
/// [from, to) come from the hourly aggregates (their shards summed: moments here, sketch bins by the server); the
/// sessions of a partial hour at either edge are read one by one from their summaries, and their latency/TTFT values
/// from their model_response events, so any time filter is exact. Users as units: their aggregates when the report
/// covers all time, else the summaries of the window summed per user by the server. Custom metrics the same way: whole
/// hours from the per-metric aggregates (slots summed by the server), edge sessions from their custom rows, users from
/// their all-time aggregates or from the window's custom rows summed per user here.
/// </summary>
internal sealed class MongoGroupFigures
{
    private static readonly AggregateOptions ReadOptions = new() { AllowDiskUse = true };

    private readonly GroupFigureSums _groups = new();
    private readonly string? _experimentId;
    private readonly IMongoCollection<BsonDocument> _sessions;
    private readonly IMongoCollection<BsonDocument> _moments;
    private readonly IMongoCollection<BsonDocument> _sketches;
    private readonly IMongoCollection<BsonDocument> _metricMoments;
    private readonly MetricSet _metrics;
    private readonly string[] _keys;

    private MongoGroupFigures(IMongoDatabase database, MetricSet metrics, string? experimentId)
    {
        _experimentId = experimentId;
        _metrics = metrics;
        _keys = [.. metrics.StoredMetrics.Select(metrics.KeyOf).Distinct()];
        _metricMoments = database.GetCollection<BsonDocument>(MongoCustomMetricDocuments.MetricMoments);
        _sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        _moments = database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentMoments);
        _sketches = database.GetCollection<BsonDocument>(MongoReadModelDocuments.ExperimentSketches);
    }

    /// <summary>
    /// The reads are majority reads one after the other, not one snapshot as SQLite's read transaction: a flush that lands
    /// between them can be seen by one read (an hour's aggregates) and not by another (an edge hour's sessions).
    /// </summary>
    public static async Task<IReadOnlyList<GroupFigures>> ReadAsync(IMongoDatabase database, MetricSet metrics, string? experimentId, long? fromMs, long? toMs, bool usersAsUnits, CancellationToken cancellationToken)
    {
        var figures = new MongoGroupFigures(database, metrics, experimentId);
        var hour = MongoReadModelDocuments.HourMs;
        var firstHour = fromMs is { } f ? MongoReadModelDocuments.CeilDiv(f, hour) : long.MinValue;
        var endHour = toMs is { } t ? MongoReadModelDocuments.FloorDiv(t, hour) : long.MaxValue;
        if (firstHour < endHour)
        {
            await figures.ReadHoursAsync(firstHour, endHour, cancellationToken);
            if (fromMs is { } from && from < firstHour * hour)
            {
                await figures.ReadSessionsAsync(from, firstHour * hour, cancellationToken);
            }

            if (toMs is { } to && endHour * hour < to)
            {
                await figures.ReadSessionsAsync(endHour * hour, to, cancellationToken);
            }
        }
        else
        {
            await figures.ReadSessionsAsync(fromMs, toMs, cancellationToken);
        }

        if (usersAsUnits)
        {
            if (fromMs is null && toMs is null)
            {
                await figures.ReadUserAggregatesAsync(cancellationToken);
            }
            else
            {
                await figures.ReadUsersAsync(fromMs, toMs, cancellationToken);
            }
        }

        return figures._groups.ToFigures(usersAsUnits);
    }

    private bool HasCustom => _keys.Length > 0;

    private async Task ReadHoursAsync(long firstHour, long endHour, CancellationToken cancellationToken)
    {
        var filter = MongoReadModelDocuments.MomentsFilter(_experimentId, MongoReadModelDocuments.SessionUnit, firstHour, endHour);
        await ForEachAsync(Find(_moments, filter), d => EntryOf(d).Sessions.Add(MongoReadModelDocuments.ToMoments(d)), cancellationToken);
        await ForEachAsync(
            Aggregate(_sketches, MongoReadModelDocuments.SketchBinsPipeline(_experimentId, firstHour, endHour)),
            d =>
            {
                var key = d["_id"].AsBsonDocument;
                EntryFor(key["e"].AsString, key["g"].AsString).Sketches[key["m"].ToInt32()]
                    .AddBin(int.Parse(key["b"].AsString, CultureInfo.InvariantCulture), d["n"].ToInt64());
            },
            cancellationToken);
        if (HasCustom)
        {
            await ReadMetricMomentsAsync(MongoReadModelDocuments.SessionUnit, firstHour, endHour, e => e.CustomSessions, cancellationToken);
        }
    }

    /// <summary>The per-metric aggregates of one unit, their slots summed over hours and shards by the server.</summary>
    private Task ReadMetricMomentsAsync(int unit, long firstHour, long endHour, Func<GroupFigureSums.Group, Dictionary<string, MetricMoments>> of, CancellationToken cancellationToken) =>
        ForEachAsync(
            Aggregate(_metricMoments, MongoCustomMetricDocuments.MomentsPipeline(_experimentId, unit, firstHour, endHour, _keys)),
            d =>
            {
                var key = d["_id"].AsBsonDocument;
                var entry = EntryFor(key["e"].AsString, key["g"].AsString);
                entry.Custom(of(entry), key["m"].AsString).Add(MongoCustomMetricDocuments.SlotOf(key["k"].AsString), d["v"].ToDouble());
            },
            cancellationToken);

    /// <summary>Sessions starting in [from, to), one by one: their summaries, durations and response values.</summary>
    private async Task ReadSessionsAsync(long? from, long? to, CancellationToken cancellationToken)
    {
        var sessions = MongoReadModelDocuments.SessionsStarting(_experimentId, from, to);
        var withSummary = new BsonDocument(sessions).Add("summary", new BsonDocument("$exists", true));
        await ForEachAsync(
            Find(_sessions, withSummary, MongoReadModelDocuments.SummaryProjection()),
            d =>
            {
                var summary = d["summary"].AsBsonDocument;
                var values = MongoReadModelDocuments.ToValues(summary);
                var entry = EntryOf(d);
                entry.Sessions.Add(values);
                if (HasCustom && MongoCustomMetricDocuments.ToCustomRow(summary) is { } row)
                {
                    MetricAggregation.AddChange(_metrics, null, row, metric => entry.Custom(entry.CustomSessions, metric), withBins: true);
                }
                if (values[(int)MetricField.Ended] > 0)
                {
                    entry.Sketches[(int)QuantileMetric.DurationMs].Add(values[(int)MetricField.DurationMs]);
                }
            },
            cancellationToken);
        await ForEachAsync(
            Aggregate(_sessions, MongoReadModelDocuments.ResponseValuesPipeline(sessions)),
            d =>
            {
                var entry = EntryFor(d["e"].AsString, d["g"].AsString);
                if (d.TryGetValue("l", out var latency) && latency.IsNumeric && ValueBounds.Within(latency.ToDouble(), ValueBounds.MaxLatencyMs))
                {
                    entry.Sketches[(int)QuantileMetric.LatencyMs].Add(latency.ToDouble());
                }

                if (d.TryGetValue("t", out var ttft) && ttft.IsNumeric && ValueBounds.Within(ttft.ToDouble(), ValueBounds.MaxLatencyMs))
                {
                    entry.Sketches[(int)QuantileMetric.TimeToFirstTokenMs].Add(ttft.ToDouble());
                }
            },
            cancellationToken);
    }

    private async Task ReadUserAggregatesAsync(CancellationToken cancellationToken)
    {
        await ForEachAsync(
            Find(_moments, MongoReadModelDocuments.MomentsFilter(_experimentId, MongoReadModelDocuments.UserUnit, MongoReadModelDocuments.AllHours, MongoReadModelDocuments.AllHours + 1)),
            d => EntryOf(d).Users.Add(MongoReadModelDocuments.ToMoments(d)),
            cancellationToken);
        if (HasCustom)
        {
            await ReadMetricMomentsAsync(MongoReadModelDocuments.UserUnit, MongoReadModelDocuments.AllHours, MongoReadModelDocuments.AllHours + 1, e => e.CustomUsers, cancellationToken);
        }
    }

    /// <summary>Users as units within a window: each user's sessions in it, summed.</summary>
    private async Task ReadUsersAsync(long? from, long? to, CancellationToken cancellationToken)
    {
        var sessions = MongoReadModelDocuments.SessionsStarting(_experimentId, from, to);
        await ForEachAsync(
            Aggregate(_sessions, MongoReadModelDocuments.UsersInWindowPipeline(sessions)),
            d =>
            {
                var key = d["_id"].AsBsonDocument;
                EntryFor(key["e"].AsString, key["g"].AsString).Users.Add(MongoReadModelDocuments.ToValues(d));
            },
            cancellationToken);
        if (HasCustom)
        {
            await ReadUsersCustomAsync(sessions, cancellationToken);
        }
    }

    /// <summary>
    /// Users as units within a window, custom metrics: each user's custom rows of the window's sessions, summed as
    /// SQLite's <c>ReadUsersCustom</c> sums them (<see cref="CustomRow.Plus"/>), then counted as one unit.
    /// </summary>
    private async Task ReadUsersCustomAsync(BsonDocument sessions, CancellationToken cancellationToken)
    {
        (string Experiment, string Group, string User)? user = null;
        var row = CustomRow.Empty;
        await ForEachAsync(
            Aggregate(_sessions, MongoCustomMetricDocuments.UserRowsInWindowPipeline(sessions)),
            d =>
            {
                var key = (d["e"].AsString, d["g"].AsString, d["u"].AsString);
                if (key != user)
                {
                    Complete();
                    user = key;
                    row = CustomRow.Empty;
                }

                row = row.Plus(CustomRow.FromBytes(d["c"].AsBsonBinaryData.Bytes));
            },
            cancellationToken);
        Complete();

        void Complete()
        {
            if (user is { } u && !row.IsEmpty)
            {
                var entry = EntryFor(u.Experiment, u.Group);
                MetricAggregation.AddChange(_metrics, null, row, metric => entry.Custom(entry.CustomUsers, metric), withBins: true);
            }
        }
    }

    private static Func<CancellationToken, Task<IAsyncCursor<BsonDocument>>> Find(IMongoCollection<BsonDocument> collection, BsonDocument filter, BsonDocument? projection = null) =>
        ct => (projection is null ? collection.Find(filter) : collection.Find(filter).Project(projection)).ToCursorAsync(ct);

    private static Func<CancellationToken, Task<IAsyncCursor<BsonDocument>>> Aggregate(IMongoCollection<BsonDocument> collection, BsonDocument[] pipeline) =>
        ct => collection.AggregateAsync<BsonDocument>(pipeline, ReadOptions, ct);

    private static async Task ForEachAsync(Func<CancellationToken, Task<IAsyncCursor<BsonDocument>>> open, Action<BsonDocument> read, CancellationToken cancellationToken)
    {
        using var cursor = await open(cancellationToken);
        while (await cursor.MoveNextAsync(cancellationToken))
        {
            foreach (var document in cursor.Current)
            {
                read(document);
            }
        }
    }

    private GroupFigureSums.Group EntryOf(BsonDocument d) => EntryFor(d["experiment_id"].AsString, d["model_group"].AsString);

    private GroupFigureSums.Group EntryFor(string experiment, string group) => _groups.Of(experiment, group);
}
