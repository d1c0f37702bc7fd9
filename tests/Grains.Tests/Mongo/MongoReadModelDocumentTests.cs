using System.Globalization;
using MongoDB.Bson;
using SessionTracking.ReadModel;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// The MongoDB read model without a server: the aggregate changes a write computes (replayed against an in-memory
/// stand-in for the collections, through the same document functions) must equal the moments and sketches computed
/// directly from the sessions' final summaries; and the documents, filters and pipelines have the intended shapes.
/// Whether the server applies them as intended is what <see cref="MongoAnalyticsParityTests"/> checks against SQLite.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoReadModelDocumentTests
{
    private const long Start = 1_700_000_000_000;

    [Fact]
    public void Flushes_then_a_deletion_leave_the_aggregates_equal_to_a_direct_computation_from_the_summaries()
    {
        var store = new InMemoryAggregates();
        var random = new Random(7);
        SessionInfo[] sessions =
        [
            Session("s1", "u1", "g", Start),
            Session("s2", "u1", "g", Start + 1000),
            Session("s3", "u2", "g", Start + MongoReadModelDocuments.HourMs),
            Session("s4", "u3", "h", Start),
            Session("s5", "u2", "g", Start + 5),
        ];
        var finals = new Dictionary<string, (SessionSummary Summary, List<MetricSample> Samples)>();
        foreach (var session in sessions)
        {
            store.Write(session, new ReadModelUpdate(null, SessionSummary.Started(), []));
            var durable = SessionSummary.Started();
            var builder = new SessionSummaryBuilder(durable);
            var all = new List<MetricSample>();
            var seq = 0;
            for (var flush = 0; flush < 3; flush++)
            {
                var samples = new List<MetricSample>();
                for (var i = random.Next(1, 6); i > 0; i--)
                {
                    builder.Add(RandomEvent(++seq, random), samples);
                }

                if (flush == 2 && session.SessionId != "s5")
                {
                    builder.End(session.StartTime, session.StartTime.AddSeconds(random.Next(1, 600)), samples);
                }

                var current = builder.Snapshot();
                store.Write(session, new ReadModelUpdate(durable, current, samples));
                durable = current;
                all.AddRange(samples);
            }

            finals[session.SessionId] = (durable, all);
        }

        store.AssertEqualsDirectComputation(sessions, finals);

        // u1 asks to be forgotten: its sessions leave with what they added.
        var changes = new MongoReadModelChanges(InMemoryAggregates.Shards);
        foreach (var session in sessions.Where(s => s.UserId == "u1"))
        {
            changes.Remove(session, finals[session.SessionId].Summary, finals[session.SessionId].Samples);
        }

        store.Write(changes);
        store.AssertEqualsDirectComputation([.. sessions.Where(s => s.UserId != "u1")], finals);
    }

    [Fact]
    public void A_users_change_moves_it_within_the_user_moments_and_a_user_without_sessions_leaves_them()
    {
        var changes = new MongoReadModelChanges(1);
        var started = SessionSummary.Started();
        changes.Apply(Session("s1", "u", "g", Start), new ReadModelUpdate(null, started, []));
        var after = started.Values.ToArray();
        changes.ApplyUser(new UserKey("e", "g", "u"), after);
        var users = changes.MomentsChanges.Single(m => m.Key.Unit == MongoReadModelDocuments.UserUnit);
        Assert.Equal((1L, 1.0), (users.Value.Units, users.Value.Sum(MetricField.Sessions)));

        var removal = new MongoReadModelChanges(1);
        removal.Remove(Session("s1", "u", "g", Start), started, []);
        removal.ApplyUser(new UserKey("e", "g", "u"), new double[MetricFields.Count]);
        var left = removal.MomentsChanges.Single(m => m.Key.Unit == MongoReadModelDocuments.UserUnit).Value;
        Assert.Equal((-1L, -1.0), (left.Units, left.Sum(MetricField.Sessions)));
        Assert.Equal(MongoReadModelDocuments.AllHours, removal.MomentsChanges.Keys.Single(k => k.Unit == MongoReadModelDocuments.UserUnit).Hour);
    }

    [Fact]
    public void A_flush_that_changes_no_figure_writes_no_aggregate()
    {
        var changes = new MongoReadModelChanges(16);
        var summary = new SessionSummary(3, [.. SessionSummary.Started().Values]);

        changes.Apply(Session("s1", "u", "g", Start), new ReadModelUpdate(summary, summary, []));

        Assert.True(changes.IsEmpty);
    }

    [Fact]
    public void Bin_changes_that_cancel_out_are_not_written()
    {
        var changes = new MongoReadModelChanges(1);
        var session = Session("s1", "u", "g", Start);
        var summary = SessionSummary.Started();
        changes.Apply(session, new ReadModelUpdate(null, summary, [new(QuantileMetric.LatencyMs, 120), new(QuantileMetric.LatencyMs, 5000)]));
        changes.Remove(session, summary, [new(QuantileMetric.LatencyMs, 120)]);

        var bins = Assert.Single(changes.BinChanges);
        Assert.Equal(QuantileMetric.LatencyMs, bins.Key.Metric);
        Assert.Equal([KeyValuePair.Create(QuantileSketch.BinOf(5000), 1L)], bins.Value);
    }

    [Fact]
    public void The_backfill_folds_stored_buckets_into_the_summaries_the_grain_would_have_kept()
    {
        var random = new Random(11);
        var ended = Session("s1", "u1", "g", Start) with { EndTime = DateTimeOffset.FromUnixTimeMilliseconds(Start + 90_000) };
        var open = Session("s2", "u2", "g", Start);
        var empty = Session("s3", "u3", "g", Start) with { EndTime = DateTimeOffset.FromUnixTimeMilliseconds(Start + 10) };
        var events1 = Enumerable.Range(1, 23).Select(i => RandomEvent(i, random)).ToArray();
        var events2 = Enumerable.Range(1, 4).Select(i => RandomEvent(i, random)).ToArray();
        var buckets = new EventBuckets(5, 8 * 1024 * 1024);

        // What the grain kept, flush by flush.
        var expected = new Dictionary<string, (SessionSummary Summary, List<MetricSample> Samples)>();
        foreach (var (session, events) in new[] { (ended, events1), (open, events2), (empty, Array.Empty<StoredEvent>()) })
        {
            var builder = new SessionSummaryBuilder(SessionSummary.Started());
            var samples = new List<MetricSample>();
            foreach (var e in events)
            {
                builder.Add(e, samples);
            }

            if (session.EndTime is { } end)
            {
                builder.End(session.StartTime, end, samples);
            }

            expected[session.SessionId] = (builder.Snapshot(), samples);
        }

        var folder = new MongoReadModelBackfill.SessionFolder([ended, open, empty]);
        foreach (var (id, events) in new[] { ("s1", events1), ("s2", events2) })
        {
            foreach (var run in buckets.Split(events))
            {
                folder.Add(new BsonDocument { { "session_id", id }, { "events", run.Events } });
            }
        }

        var folded = folder.Complete();

        Assert.Equal(["s1", "s2", "s3"], folded.Select(f => f.Session.SessionId));
        Assert.All(folded, f =>
        {
            Assert.Null(f.Update.Previous);
            Assert.Equal(expected[f.Session.SessionId].Summary.ThroughSeq, f.Update.Current.ThroughSeq);
            Assert.Equal(expected[f.Session.SessionId].Summary.Values.ToArray(), f.Update.Current.Values.ToArray());
            Assert.Equal(expected[f.Session.SessionId].Samples, f.Update.Samples);
        });
        Assert.Equal((23L, true, 90_000.0), (folded[0].Update.Current.ThroughSeq, folded[0].Update.Current.Ended, folded[0].Update.Current[MetricField.DurationMs]));
        Assert.False(folded[1].Update.Current.Ended);
        Assert.Equal(1.0, folded[2].Update.Current[MetricField.Sessions]);
    }

    [Theory]
    [InlineData("", 5)]
    [InlineData("s1", 9)]
    [InlineData("session-42", 4)]
    [InlineData("ünï", 6)]
    public void A_shard_is_FNV_1a_of_the_ids_UTF_8_bytes_the_same_in_every_process(string id, int shard) =>
        Assert.Equal(shard, MongoReadModelDocuments.ShardOf(id, 16));

    [Fact]
    public void Session_ids_spread_over_the_shards()
    {
        var counts = Enumerable.Range(0, 16_000).GroupBy(i => MongoReadModelDocuments.ShardOf($"session-{i}", 16)).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(16, counts.Count);
        Assert.All(counts.Values, n => Assert.InRange(n, 800, 1200));
        Assert.Equal(0, MongoReadModelDocuments.ShardOf("anything", 1));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(3_599_999, 0)]
    [InlineData(3_600_000, 1)]
    [InlineData(-1, -1)]
    [InlineData(-3_600_000, -1)]
    [InlineData(-3_600_001, -2)]
    public void The_start_hour_is_floored_also_before_1970(long ms, long hour) =>
        Assert.Equal(hour, MongoReadModelDocuments.HourOf(DateTimeOffset.FromUnixTimeMilliseconds(ms)));

    [Fact]
    public void A_users_increment_adds_every_field_and_creates_the_document_with_its_keys()
    {
        var change = Enumerable.Range(0, MetricFields.Count).Select(i => (double)i).ToArray();
        var (filter, update) = MongoReadModelDocuments.IncrementUser(new UserKey("e", "g", "u"), change);

        Assert.Equal(BsonDocument.Parse("""{ _id: { experiment_id: "e", model_group: "g", user_id: "u" } }"""), filter);
        Assert.Equal(MetricFields.Columns, update["$inc"].AsBsonDocument.Names);
        Assert.Equal(change, MongoReadModelDocuments.ToValues(update["$inc"].AsBsonDocument));
        Assert.Equal(BsonDocument.Parse("""{ experiment_id: "e", model_group: "g", user_id: "u" }"""), update["$setOnInsert"]);
    }

    [Fact]
    public void Moments_documents_hold_the_bytes_and_are_replaced_only_at_the_version_read()
    {
        var moments = new Moments();
        moments.Add(SessionSummary.Started().Values);
        var key = new MomentsKey("e", "g", MongoReadModelDocuments.SessionUnit, 472_222, 3);

        var created = MongoReadModelDocuments.NewMoments(key, moments);
        var (filter, update) = MongoReadModelDocuments.ReplaceMoments(key, 7, moments);

        Assert.Equal(MongoReadModelDocuments.MomentsId(key), created["_id"]);
        Assert.Equal(BsonBinarySubType.Binary, created["moments"].AsBsonBinaryData.SubType);
        Assert.Equal(1L, created["version"].AsInt64);
        Assert.Equal(moments.ToBytes(), MongoReadModelDocuments.ToMoments(created).ToBytes());
        Assert.Equal(new BsonDocument { { "_id", MongoReadModelDocuments.MomentsId(key) }, { "version", 7L } }, filter);
        Assert.Equal(8L, update["$set"]["version"].AsInt64);
        Assert.Equal(BsonDocument.Parse("""{ experiment_id: "e", model_group: "g", unit: 0, hour: NumberLong(472222), shard: 3 }"""), MongoReadModelDocuments.MomentsId(key));
    }

    [Fact]
    public void Sketch_bins_are_incremented_by_bin_number_including_negative_and_zero_bins()
    {
        var (filter, update) = MongoReadModelDocuments.IncrementBins(
            new SketchKey("e", "g", 5, QuantileMetric.TimeToFirstTokenMs, 2),
            [KeyValuePair.Create(-1_000_123, 2L), KeyValuePair.Create(0, -1L), KeyValuePair.Create(1_000_450, 1L)]);

        Assert.Equal(BsonDocument.Parse("""{ _id: { experiment_id: "e", model_group: "g", hour: NumberLong(5), metric: 2, shard: 2 } }"""), filter);
        Assert.Equal(BsonDocument.Parse("""{ "bins.-1000123": NumberLong(2), "bins.0": NumberLong(-1), "bins.1000450": NumberLong(1) }"""), update["$inc"]);
        Assert.Equal(2, update["$setOnInsert"]["metric"].AsInt32);
    }

    [Fact]
    public void Hourly_aggregates_are_read_by_unit_experiment_and_hour_range()
    {
        Assert.Equal(
            BsonDocument.Parse("""{ unit: 0, experiment_id: "e", hour: { $gte: NumberLong(10), $lt: NumberLong(20) } }"""),
            MongoReadModelDocuments.MomentsFilter("e", MongoReadModelDocuments.SessionUnit, 10, 20));
        Assert.Equal(
            BsonDocument.Parse("""{ unit: 0, hour: { $exists: true } }"""),
            MongoReadModelDocuments.MomentsFilter(null, MongoReadModelDocuments.SessionUnit, long.MinValue, long.MaxValue));
        Assert.Equal(
            BsonDocument.Parse("""{ unit: 1, hour: { $gte: NumberLong(-1), $lt: NumberLong(0) } }"""),
            MongoReadModelDocuments.MomentsFilter(null, MongoReadModelDocuments.UserUnit, MongoReadModelDocuments.AllHours, MongoReadModelDocuments.AllHours + 1));

        var bins = MongoReadModelDocuments.SketchBinsPipeline("e", 10, long.MaxValue);
        Assert.Equal(["$match", "$project", "$unwind", "$group"], bins.Select(stage => stage.GetElement(0).Name));
        Assert.Equal(BsonDocument.Parse("""{ experiment_id: "e", hour: { $gte: NumberLong(10) } }"""), bins[0]["$match"]);
        Assert.Equal(BsonDocument.Parse("""{ $objectToArray: "$bins" }"""), bins[1]["$project"]["b"]);
        Assert.Equal(BsonDocument.Parse("""{ e: "$e", g: "$g", m: "$m", b: "$b.k" }"""), bins[3]["$group"]["_id"]);
        Assert.Equal(BsonDocument.Parse("""{ $sum: "$b.v" }"""), bins[3]["$group"]["n"]);
    }

    [Fact]
    public void Edge_sessions_are_selected_by_start_in_whole_milliseconds_and_their_response_values_are_numbers_only()
    {
        var sessions = MongoReadModelDocuments.SessionsStarting("e", 1000, null);
        var pipeline = MongoReadModelDocuments.ResponseValuesPipeline(sessions);

        Assert.Equal(BsonDocument.Parse("""{ experiment_id: "e", start_time: { $gte: ISODate("1970-01-01T00:00:01Z") } }"""), sessions);
        Assert.Equal(new BsonDocument(), MongoReadModelDocuments.SessionsStarting(null, null, null));
        Assert.Equal(sessions, pipeline[0]["$match"]);
        var lookup = pipeline[2]["$lookup"];
        Assert.Equal((MongoDocuments.EventBucketsCollection, "_id", "session_id"), (lookup["from"].AsString, lookup["localField"].AsString, lookup["foreignField"].AsString));
        var inner = lookup["pipeline"].AsBsonArray;
        Assert.Equal(BsonDocument.Parse("""{ $match: { "events.type": "model_response" } }"""), inner[2]);
        Assert.Equal(BsonDocument.Parse("""{ $cond: [{ $isNumber: "$events.data.latency_ms" }, "$events.data.latency_ms", "$$REMOVE"] }"""), inner[3]["$project"]["l"]);
        Assert.Equal(BsonDocument.Parse("""{ $cond: [{ $isNumber: "$events.data.ttft_ms" }, "$events.data.ttft_ms", "$$REMOVE"] }"""), inner[3]["$project"]["t"]);
        Assert.Equal(BsonDocument.Parse("""{ _id: 0, s: "$_id", e: "$experiment_id", g: "$model_group", l: "$r.l", t: "$r.t" }"""), pipeline[^1]["$project"]);
    }

    [Fact]
    public void Users_in_a_window_are_each_users_summaries_summed_per_experiment_and_group()
    {
        var pipeline = MongoReadModelDocuments.UsersInWindowPipeline(MongoReadModelDocuments.SessionsStarting(null, 5, 10));
        var group = pipeline[1]["$group"].AsBsonDocument;

        Assert.Equal(BsonDocument.Parse("""{ start_time: { $gte: ISODate("1970-01-01T00:00:00.005Z"), $lt: ISODate("1970-01-01T00:00:00.010Z") }, summary: { $exists: true } }"""), pipeline[0]["$match"]);
        Assert.Equal(BsonDocument.Parse("""{ e: "$experiment_id", g: "$model_group", u: "$user_id" }"""), group["_id"]);
        Assert.Equal(MetricFields.Columns, group.Names.Skip(1));
        Assert.All(MetricFields.Columns, c => Assert.Equal(new BsonDocument("$sum", "$summary." + c), group[c]));
    }

    [Fact]
    public void A_sessions_keys_come_from_its_stored_document()
    {
        var session = new SessionInfo("s1", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(Start), DateTimeOffset.FromUnixTimeMilliseconds(Start + 5), "{}");
        var document = MongoDocuments.Session(session);

        Assert.Equal(session, MongoReadModelDocuments.ToSessionKeys(document));
        Assert.Null(MongoReadModelDocuments.ToSessionKeys(MongoDocuments.Session(session with { EndTime = null })).EndTime);
        Assert.All(MongoReadModelDocuments.KeyProjection().Names, name => Assert.True(document.Contains(name), name));
    }

    private static SessionInfo Session(string id, string user, string group, long start) =>
        new(id, user, "e", group, DateTimeOffset.FromUnixTimeMilliseconds(start), null, "{}");

    private static StoredEvent RandomEvent(long seq, Random random)
    {
        var data = random.Next(5) switch
        {
            // Whole numbers: every sum and product stays an exact double, so both computations agree to the last bit.
            0 => string.Create(CultureInfo.InvariantCulture, $$"""{"latency_ms":{{random.Next(50, 500)}},"ttft_ms":{{random.Next(10, 400)}},"tokens":{{random.Next(1, 900)}}}"""),
            1 => """{"latency_ms":"slow"}""",
            _ => "{}",
        };
        var type = random.Next(6) switch
        {
            0 or 1 => "model_response",
            2 => "prompt",
            3 => "feedback",
            4 => "copy",
            _ => "selection",
        };
        if (type == "feedback")
        {
            data = random.Next(4) switch { 0 => """{"feedback":"up"}""", 1 => """{"feedback":"down"}""", 2 => """{"feedback":"neutral"}""", _ => """{"feedback":7}""" };
        }

        return new StoredEvent(seq, Start + seq, type, data, $"id-{seq}", Start + seq);
    }

    /// <summary>The aggregate collections in memory, written as <c>MongoReadModelWriter</c> writes them.</summary>
    private sealed class InMemoryAggregates
    {
        public const int Shards = 4;

        private readonly Dictionary<UserKey, double[]> _users = [];
        private readonly Dictionary<MomentsKey, BsonDocument> _moments = [];
        private readonly Dictionary<SketchKey, SortedDictionary<int, long>> _bins = [];

        public void Write(SessionInfo session, ReadModelUpdate update)
        {
            var changes = new MongoReadModelChanges(Shards);
            changes.Apply(session, update);
            Write(changes);
        }

        public void Write(MongoReadModelChanges changes)
        {
            foreach (var (key, change) in changes.UserChanges)
            {
                var (_, update) = MongoReadModelDocuments.IncrementUser(key, change);
                var increments = MongoReadModelDocuments.ToValues(update["$inc"].AsBsonDocument);
                var sums = _users.TryGetValue(key, out var stored) ? stored : _users[key] = new double[MetricFields.Count];
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] += increments[i];
                }

                changes.ApplyUser(key, sums);
            }

            foreach (var (key, delta) in changes.MomentsChanges)
            {
                if (!_moments.TryGetValue(key, out var document))
                {
                    _moments[key] = MongoReadModelDocuments.NewMoments(key, delta);
                    continue;
                }

                var moments = MongoReadModelDocuments.ToMoments(document);
                moments.Add(delta);
                var (_, update) = MongoReadModelDocuments.ReplaceMoments(key, document["version"].AsInt64, moments);
                document.Merge(update["$set"].AsBsonDocument, overwriteExistingElements: true);
            }

            foreach (var (key, bins) in changes.BinChanges)
            {
                var stored = _bins.TryGetValue(key, out var existing) ? existing : _bins[key] = [];
                foreach (var (bin, count) in bins)
                {
                    stored[bin] = (stored.TryGetValue(bin, out var n) ? n : 0) + count;
                }
            }
        }

        public void AssertEqualsDirectComputation(SessionInfo[] sessions, Dictionary<string, (SessionSummary Summary, List<MetricSample> Samples)> finals)
        {
            foreach (var group in sessions.GroupBy(s => s.ModelGroup))
            {
                var expectedSessions = new Moments();
                var expectedSketches = Enum.GetValues<QuantileMetric>().ToDictionary(m => m, _ => new QuantileSketch());
                foreach (var session in group)
                {
                    expectedSessions.Add(finals[session.SessionId].Summary.Values);
                    foreach (var sample in finals[session.SessionId].Samples)
                    {
                        expectedSketches[sample.Metric].Add(sample.Value);
                    }
                }

                var expectedUsers = new Moments();
                foreach (var user in group.GroupBy(s => s.UserId))
                {
                    var sums = new double[MetricFields.Count];
                    foreach (var session in user)
                    {
                        for (var i = 0; i < sums.Length; i++)
                        {
                            sums[i] += finals[session.SessionId].Summary.Values[i];
                        }
                    }

                    expectedUsers.Add(sums);
                }

                AssertMoments(expectedSessions, Sum(group.Key, MongoReadModelDocuments.SessionUnit));
                AssertMoments(expectedUsers, Sum(group.Key, MongoReadModelDocuments.UserUnit));
                foreach (var (metric, expected) in expectedSketches)
                {
                    var actual = new QuantileSketch();
                    foreach (var (_, bins) in _bins.Where(b => b.Key.ModelGroup == group.Key && b.Key.Metric == metric))
                    {
                        foreach (var (bin, count) in bins)
                        {
                            actual.AddBin(bin, count);
                        }
                    }

                    Assert.Equal(expected.Bins, actual.Bins);
                }
            }
        }

        private Moments Sum(string group, int unit)
        {
            var sum = new Moments();
            foreach (var (_, document) in _moments.Where(m => m.Key.ModelGroup == group && m.Key.Unit == unit))
            {
                sum.Add(MongoReadModelDocuments.ToMoments(document));
            }

            return sum;
        }

        private static void AssertMoments(Moments expected, Moments actual)
        {
            Assert.Equal(expected.Units, actual.Units);
            foreach (var a in Enum.GetValues<MetricField>())
            {
                Assert.Equal(expected.Sum(a), actual.Sum(a));
                foreach (var b in Enum.GetValues<MetricField>())
                {
                    Assert.Equal(expected.Cross(a, b), actual.Cross(a, b));
                }
            }
        }
    }
}
