using System.Globalization;
using MongoDB.Bson;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// The custom metric documents of the MongoDB adapter without a server: the changes flushes and a deletion compute,
/// replayed through the same update documents against an in-memory stand-in (<c>$inc</c> of slots, compare-and-set of
/// a user's row), must equal the aggregates computed directly from the sessions' final custom rows; and the filters,
/// updates and pipelines have the intended shapes. Whether the server applies them so is what the server tests check.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoCustomMetricDocumentTests
{
    private const long Start = 1_700_000_000_000;

    private static readonly MetricSet Set = CustomMetricData.Catalog().Set;

    [Fact]
    public void Flushes_then_a_deletion_leave_the_custom_aggregates_equal_to_a_direct_computation()
    {
        var store = new InMemoryCustomAggregates();
        var random = new Random(11);
        SessionInfo[] sessions =
        [
            Session("s1", "u1", "g", Start),
            Session("s2", "u1", "g", Start + 1000),
            Session("s3", "u2", "g", Start + MongoReadModelDocuments.HourMs),
            Session("s4", "u3", "h", Start),
            Session("s5", "u2", "g", Start + 5),
        ];
        var finals = new Dictionary<string, SessionSummary>();
        foreach (var session in sessions)
        {
            var context = new CustomMetricContext(Set, session.StartTime.ToUnixTimeMilliseconds(), session.StartTime.ToUnixTimeMilliseconds());
            var durable = SessionSummary.OfNewSession([], [], context);
            store.Write(session, new ReadModelUpdate(null, durable, []));
            var builder = new SessionSummaryBuilder(durable, custom: context);
            var seq = 0;
            for (var flush = 0; flush < 3; flush++)
            {
                var samples = new List<MetricSample>();
                for (var i = random.Next(0, 6); i > 0; i--)
                {
                    builder.Add(RandomEvent(++seq, session.StartTime.ToUnixTimeMilliseconds(), random), samples);
                }

                var current = builder.Snapshot();
                store.Write(session, new ReadModelUpdate(durable, current, samples));
                durable = current;
            }

            finals[session.SessionId] = durable;
        }

        store.AssertEqualsDirectComputation(sessions, finals);

        // u1's sessions leave in one deletion batch: its user row goes, every aggregate of u1 returns to zero.
        var deletion = new MongoReadModelChanges(InMemoryCustomAggregates.Shards, Set);
        foreach (var session in sessions.Where(s => s.UserId == "u1"))
        {
            deletion.Remove(session, finals[session.SessionId], []);
        }

        store.Write(deletion);
        var left = sessions.Where(s => s.UserId != "u1").ToArray();
        store.AssertEqualsDirectComputation(left, finals);
        Assert.False(store.UserDocument(new UserKey("e", "g", "u1")).Contains("custom"));
    }

    [Fact]
    public void A_row_passed_on_unchanged_writes_nothing_and_a_new_metric_only_adds_its_key()
    {
        var session = Session("s1", "u1", "g", Start);
        var older = CustomMetricData.Catalog(withLateMetric: false).Set;
        var context = new CustomMetricContext(older, Start, Start);
        var stored = SessionSummary.OfNewSession([], [], context);

        var unchanged = new MongoReadModelChanges(4, Set);
        unchanged.Apply(session, new ReadModelUpdate(stored, stored, []));
        Assert.True(unchanged.IsEmpty);

        // The catch-up of a later metric (a zero-event flush): only the new key's aggregates move, by one unit.
        var builder = new SessionSummaryBuilder(stored, countsExclusions: false, custom: new CustomMetricContext(Set, Start, Start));
        Assert.Equal([CustomMetricData.LateMetric], builder.MissingMetrics);
        builder.FoldMissing([]);
        var changes = new MongoReadModelChanges(4, Set);
        changes.Apply(session, new ReadModelUpdate(stored, builder.Snapshot(), []));
        var written = changes.MetricMomentsChanges.Select(c => MongoCustomMetricDocuments.IncrementMoments(c.Key, c.Value)).Where(u => u is not null).ToList();

        Assert.Empty(changes.MomentsChanges);
        var (filter, update) = Assert.Single(written)!.Value;
        Assert.Equal(Set.KeyOf(CustomMetricData.LateMetric), filter["_id"]["metric"].AsString);
        // A proportion without the event: one unit whose numerator is 0 and denominator 1 (zero slots are not written).
        Assert.Equal(new BsonDocument { { "slots.s0", 1.0 }, { "slots.s2", 1.0 }, { "slots.s4", 1.0 } }, update["$inc"]);
    }

    [Fact]
    public void Slot_increments_name_each_nonzero_slot_and_read_back()
    {
        var key = new MetricMomentsKey("e", "g", 0, 472_222, "0123456789abcdef", 3);
        var delta = new MetricMoments();
        delta.Add(MetricAggregation.Units, 2);
        delta.Add(MetricAggregation.Numerator, 0.5);
        delta.Add(MetricAggregation.QuantileBinBase + 17, 1);
        delta.Add(MetricAggregation.Cross, 1);
        delta.Add(MetricAggregation.Cross, -1); // nets to zero: not written

        var (filter, update) = MongoCustomMetricDocuments.IncrementMoments(key, delta)!.Value;
        var zero = new MetricMoments();
        zero.Add(MetricAggregation.Units, 1);
        zero.Add(MetricAggregation.Units, -1);

        Assert.Equal(BsonDocument.Parse("""{ _id: { experiment_id: "e", model_group: "g", unit: 0, hour: NumberLong(472222), metric: "0123456789abcdef", shard: 3 } }"""), filter);
        var slot = "slots.s" + (MetricAggregation.QuantileBinBase + 17).ToString(CultureInfo.InvariantCulture);
        Assert.Equal(new BsonDocument { { "slots.s0", 2.0 }, { "slots.s1", 0.5 }, { slot, 1.0 } }, update["$inc"]);
        Assert.Equal(filter["_id"].AsBsonDocument.Names, update["$setOnInsert"].AsBsonDocument.Names);
        Assert.Null(MongoCustomMetricDocuments.IncrementMoments(key, zero));
        var stored = new BsonDocument("slots", new BsonDocument { { "s0", 2.0 }, { "s1", 0.5 }, { slot[6..], 1.0 }, { "s-3", 4.0 } });
        var back = MongoCustomMetricDocuments.ToMoments(stored);
        Assert.Equal((2.0, 0.5, 1.0, 4.0), (back[0], back[1], back[MetricAggregation.QuantileBinBase + 17], back[-3]));
        Assert.Throws<InvalidDataException>(() => MongoCustomMetricDocuments.SlotOf("x1"));
    }

    [Fact]
    public void The_summarys_custom_row_round_trips_and_is_part_of_the_flushs_version()
    {
        var context = new CustomMetricContext(Set, Start, Start);
        var builder = new SessionSummaryBuilder(SessionSummary.OfNewSession([], [], context), custom: context);
        builder.Add(new StoredEvent(1, Start + 10, "model_response", """{"latency_ms":120}""", "r1", Start + 10), []);
        var previous = builder.Snapshot();
        builder.Add(new StoredEvent(2, Start + 20, "feedback", """{"feedback":"up"}""", "f1", Start + 20), []);
        var current = builder.Snapshot();

        var (filter, update) = MongoDocuments.UpdateSummary("s1", new ReadModelUpdate(previous, current, []), null);
        var back = MongoDocuments.ToSummary(new BsonDocument { { "session_id", "s1" }, { "summary", update["$set"]["summary"] } });

        Assert.Equal(new BsonBinaryData(previous.Custom!.ToBytes()), filter["summary.custom"]);
        Assert.Equal(current.Custom!.ToBytes(), back.Custom!.ToBytes());
        Assert.DoesNotContain("custom", MongoDocuments.Summary(SessionSummary.Started()).Names);
        Assert.Null(MongoDocuments.ToSummary(new BsonDocument { { "session_id", "s1" }, { "summary", MongoDocuments.Summary(SessionSummary.Started()) } }).Custom);
    }

    [Fact]
    public void A_users_row_is_replaced_at_the_bytes_read_and_removed_when_it_has_no_session_left()
    {
        var key = new UserKey("e", "g", "u1");
        var response = new StoredEvent(1, Start + 10, "model_response", """{"latency_ms":120}""", "r1", Start + 10);
        var row = SessionSummary.OfNewSession([response], [], new CustomMetricContext(Set, Start, Start)).Custom!;
        var grown = row.Plus(row);

        var (insertFilter, insert) = MongoCustomMetricDocuments.ReplaceUserRow(key, null, row)!.Value;
        var (replaceFilter, _) = MongoCustomMetricDocuments.ReplaceUserRow(key, row, grown)!.Value;
        var (_, remove) = MongoCustomMetricDocuments.ReplaceUserRow(key, grown, null)!.Value;

        Assert.Equal(BsonNull.Value, insertFilter["custom"]);
        Assert.Equal(MongoReadModelDocuments.UserId(key), insertFilter["_id"]);
        Assert.Equal(new BsonBinaryData(row.ToBytes()), insert["$set"]["custom"]);
        Assert.Equal(new BsonBinaryData(row.ToBytes()), replaceFilter["custom"]);
        Assert.Equal(new BsonDocument("$unset", new BsonDocument("custom", "")), remove);
        Assert.Null(MongoCustomMetricDocuments.ReplaceUserRow(key, row, CustomRow.FromBytes(row.ToBytes())));
        Assert.Null(MongoCustomMetricDocuments.ReplaceUserRow(key, null, null));
    }

    [Fact]
    public void A_users_covariate_is_stored_once_and_its_slots_equal_a_direct_computation()
    {
        // Users are experiment e's unit, CUPED on (14 days): each user's covariate is the pre-period's responses of any
        // experiment; sessions of "pre" outside [exposure − 14 d, exposure) do not count.
        var catalog = CustomMetricData.Catalog(usersExperiment: "e");
        var store = new InMemoryCustomAggregates(catalog);
        const long Day = 86_400_000;
        var latencies = new Dictionary<string, int[]>(StringComparer.Ordinal)
        {
            ["p1"] = [100, 200],
            ["p2"] = [50],
            ["old"] = [900],
            ["late"] = [700],
            ["c1"] = [120, 80],
            ["c2"] = [40],
            ["c3"] = [300],
            ["c4"] = [],
            ["c5"] = [60, 60, 60],
        };
        SessionInfo[] pre =
        [
            new("p1", "u1", "pre", "x", DateTimeOffset.FromUnixTimeMilliseconds(Start - (3 * Day)), null, "{}"),
            new("p2", "u1", "pre", "x", DateTimeOffset.FromUnixTimeMilliseconds(Start - Day), null, "{}"),
            new("old", "u2", "pre", "x", DateTimeOffset.FromUnixTimeMilliseconds(Start - (20 * Day)), null, "{}"),
            new("late", "u3", "pre", "x", DateTimeOffset.FromUnixTimeMilliseconds(Start + (2 * Day)), null, "{}"),
        ];
        SessionInfo[] experiment =
        [
            Session("c1", "u1", "g", Start), Session("c2", "u1", "g", Start + 1000), Session("c3", "u2", "g", Start + 5),
            Session("c4", "u3", "g", Start), Session("c5", "u4", "h", Start - Day),
        ];
        foreach (var session in pre.Concat(experiment))
        {
            // Each session in two flushes: the user's row is new at the first only.
            var context = new CustomMetricContext(catalog.Set, session.StartTime.ToUnixTimeMilliseconds(), session.StartTime.ToUnixTimeMilliseconds());
            var durable = SessionSummary.OfNewSession([], [], context);
            store.Write(session, new ReadModelUpdate(null, durable, []), []);
            var builder = new SessionSummaryBuilder(durable, custom: context);
            var events = latencies[session.SessionId].Select((l, i) => Response(i + 1, session.StartTime.ToUnixTimeMilliseconds() + ((i + 1) * 1000), l)).ToList();
            foreach (var half in new[] { events.Take(1).ToList(), events.Skip(1).ToList() })
            {
                var samples = new List<MetricSample>();
                half.ForEach(e => builder.Add(e, samples));
                var current = builder.Snapshot();
                store.Write(session, new ReadModelUpdate(durable, current, samples), half);
                durable = current;
            }
        }

        // u1: p1 and p2 (x = 3 responses, 350 ms); u2: "old" is 20 days before (x = 0); u3: "late" is after its exposure
        // (x = 0); u4 has no other session. A user with no covariate stored none but still has its x = 0 in the sums.
        var direct = new Dictionary<string, (double Responses, double Latency)>(StringComparer.Ordinal)
        {
            ["u1"] = (3, 350),
            ["u2"] = (0, 0),
            ["u3"] = (0, 0),
            ["u4"] = (0, 0),
        };
        Assert.Equal(4, store.CovariatesComputed); // once per user of e, never for "pre" (sessions as its unit)
        foreach (var (metric, pick) in new (string, Func<(double Responses, double Latency), double>)[] { ("responses_n", v => v.Responses), ("latency_total", v => v.Latency) })
        {
            var key = catalog.Set.KeyOf(metric);
            foreach (var group in experiment.GroupBy(s => s.ModelGroup))
            {
                var pairs = group.GroupBy(s => s.UserId).Select(u => (
                    Y: u.Sum(s => metric == "responses_n" ? latencies[s.SessionId].Length : latencies[s.SessionId].Sum()),
                    X: pick(direct[u.Key]))).Select(p => ((double)p.Y, p.X));
                var expected = CovariateMoments.Of(pairs);
                var stored = MetricAggregation.CovariateSums(store.UserAggregate(group.Key, key));
                Assert.Equal(expected.Units, stored.Units);
                foreach (var (e, a) in new[] { (expected.SumY, stored.SumY), (expected.SumX, stored.SumX), (expected.SumXX, stored.SumXX), (expected.SumXY, stored.SumXY), (expected.SumYY, stored.SumYY) })
                {
                    Assert.Equal(e, a, 1e-9 * Math.Max(1, Math.Abs(e)));
                }
            }
        }

        var u1 = MongoCustomMetricDocuments.ToCovariate(store.UserDocument(new UserKey("e", "g", "u1")))!;
        Assert.Equal(3.0, UnitMetrics.Value(u1.ToValues(catalog.Set, out _), "responses_n").Numerator);
        Assert.Null(MongoCustomMetricDocuments.ToCovariate(store.UserDocument(new UserKey("pre", "x", "u1"))));

        // The user's last session leaves: the user leaves the sums with its covariate, which stays stored.
        var deletion = new MongoReadModelChanges(InMemoryCustomAggregates.Shards, catalog.Set);
        deletion.Remove(experiment[4], store.Final(experiment[4].SessionId), []);
        store.Write(deletion);
        CustomMetricData.AssertZero(new Dictionary<string, MetricMoments> { ["latency_total"] = store.UserAggregate("h", catalog.Set.KeyOf("latency_total")) });
        Assert.NotNull(MongoCustomMetricDocuments.ToCovariate(store.UserDocument(new UserKey("e", "h", "u4"))));
        Assert.Equal(4, store.CovariatesComputed);
    }

    [Fact]
    public void A_new_users_row_with_a_covariate_requires_none_stored_and_sets_both()
    {
        var key = new UserKey("e", "g", "u1");
        var response = new StoredEvent(1, Start + 10, "model_response", """{"latency_ms":120}""", "r1", Start + 10);
        var row = SessionSummary.OfNewSession([response], [], new CustomMetricContext(Set, Start, Start)).Custom!;

        var (filter, update) = MongoCustomMetricDocuments.ReplaceUserRow(key, null, row, CustomRow.Empty)!.Value;
        var (grownFilter, grown) = MongoCustomMetricDocuments.ReplaceUserRow(key, row, row.Plus(row))!.Value;

        Assert.Equal(BsonNull.Value, filter["covariate"]);
        Assert.Equal(new BsonBinaryData(CustomRow.Empty.ToBytes()), update["$set"]["covariate"]);
        Assert.Equal(new BsonBinaryData(row.ToBytes()), update["$set"]["custom"]);
        Assert.False(grownFilter.Contains("covariate"));
        Assert.False(grown["$set"].AsBsonDocument.Contains("covariate"));
        Assert.Equal(CustomRow.Empty.ToBytes(), MongoCustomMetricDocuments.ToCovariate(new BsonDocument("covariate", update["$set"]["covariate"]))!.ToBytes());
    }

    [Fact]
    public void Backfill_states_start_unless_complete_and_read_back()
    {
        var now = new DateTime(2026, 12, 7, 22, 0, 0, DateTimeKind.Utc);
        var (filter, update) = MongoCustomMetricDocuments.StartBackfill("k", "copied", 42, now);
        var stored = new BsonDocument("_id", "k").AddRange(update["$set"].AsBsonDocument);
        var state = MongoCustomMetricDocuments.ToState(stored);
        var complete = MongoCustomMetricDocuments.ToState(new BsonDocument { { "_id", "k" }, { "name", "copied" }, { "state", "complete" }, { "sessions_done", 42L }, { "sessions_total", 42L }, { "started_at", now }, { "completed_at", now.AddMinutes(1) } });

        Assert.Equal(BsonDocument.Parse("""{ _id: "k", state: { $ne: "complete" } }"""), filter);
        Assert.Equal(new MetricBackfillState("k", "copied", "backfilling", 0, 42, new DateTimeOffset(now), null), state);
        Assert.Equal(new DateTimeOffset(now.AddMinutes(1)), complete.CompletedAt);
        Assert.Equal(BsonDocument.Parse("""{ _id: { $in: ["a", "b"] }, state: "backfilling" }"""), MongoCustomMetricDocuments.StillBackfilling(["a", "b"]));
    }

    [Fact]
    public void Report_reads_sum_slots_on_the_server_and_take_user_rows_in_user_order()
    {
        var moments = MongoCustomMetricDocuments.MomentsPipeline("e", MongoReadModelDocuments.SessionUnit, 10, 20, ["k1", "k2"]);
        var users = MongoCustomMetricDocuments.UserRowsInWindowPipeline(MongoReadModelDocuments.SessionsStarting("e", 5, 9));
        var after = MongoCustomMetricBackfill.After((new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "s9"));

        Assert.Equal(["$match", "$project", "$unwind", "$group"], moments.Select(s => s.GetElement(0).Name));
        Assert.Equal(BsonDocument.Parse("""{ unit: 0, experiment_id: "e", hour: { $gte: NumberLong(10), $lt: NumberLong(20) }, metric: { $in: ["k1", "k2"] } }"""), moments[0]["$match"]);
        Assert.Equal(BsonDocument.Parse("""{ e: "$e", g: "$g", m: "$m", k: "$s.k" }"""), moments[3]["$group"]["_id"]);
        Assert.Equal(BsonDocument.Parse("""{ $type: "binData" }"""), users[0]["$match"]["summary.custom"]);
        Assert.Equal(BsonDocument.Parse("""{ e: 1, g: 1, u: 1 }"""), users[2]["$sort"]);
        Assert.Equal(["start_time", "start_time"], after["$or"].AsBsonArray.Select(c => c.AsBsonDocument.GetElement(0).Name));
        Assert.Equal("s9", after["$or"][1]["session_id"]["$gt"].AsString);
        Assert.Empty(MongoCustomMetricBackfill.After(null));
    }

    private static SessionInfo Session(string id, string user, string group, long start) =>
        new(id, user, "e", group, DateTimeOffset.FromUnixTimeMilliseconds(start), null, "{}");

    private static StoredEvent Response(int seq, long at, int latency) =>
        new(seq, at, "model_response", string.Create(CultureInfo.InvariantCulture, $$"""{"latency_ms":{{latency}}}"""), $"r{seq}", at);

    private static StoredEvent RandomEvent(int seq, long start, Random random)
    {
        var t = start + (seq * 60_000L);
        return random.Next(5) switch
        {
            0 => new(seq, t, "prompt", "{}", $"e{seq}", t),
            1 => new(seq, t, "model_response", string.Create(CultureInfo.InvariantCulture, $$"""{"latency_ms":{{random.Next(50, 5000)}}}"""), $"e{seq}", t),
            2 => new(seq, t, "feedback", random.Next(2) == 0 ? """{"feedback":"up"}""" : """{"feedback":"down"}""", $"e{seq}", t),
            3 => new(seq, t, "copy", "{}", $"e{seq}", t),
            _ => new(seq, t, "click", "{}", $"e{seq}", t),
        };
    }

    /// <summary>
    /// The user documents and the per-metric aggregates, written through the adapter's update documents. With a
    /// catalog, also the sessions and their events, from which a user's CUPED covariate is read as
    /// <c>MongoCupedCovariate</c> reads it from the server.
    /// </summary>
    private sealed class InMemoryCustomAggregates(MetricCatalog? catalog = null)
    {
        public const int Shards = 4;

        private readonly Dictionary<UserKey, BsonDocument> _users = [];
        private readonly Dictionary<MetricMomentsKey, BsonDocument> _moments = [];
        private readonly Dictionary<string, SessionInfo> _sessions = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<StoredEvent>> _events = new(StringComparer.Ordinal);
        private readonly Dictionary<string, SessionSummary> _finals = new(StringComparer.Ordinal);

        public int CovariatesComputed { get; private set; }

        public BsonDocument UserDocument(UserKey key) => _users[key];

        public SessionSummary Final(string sessionId) => _finals[sessionId];

        /// <summary>The user-unit aggregate of a metric key in a group (experiment e), summed over shards.</summary>
        public MetricMoments UserAggregate(string group, string key) => Read(group, MongoReadModelDocuments.UserUnit).GetValueOrDefault(key) ?? new MetricMoments();

        public void Write(SessionInfo session, ReadModelUpdate update, IReadOnlyList<StoredEvent>? events = null)
        {
            // As the store: the session's document and its events are written before the aggregates, in one transaction.
            _sessions[session.SessionId] = session;
            (_events.TryGetValue(session.SessionId, out var stored) ? stored : _events[session.SessionId] = []).AddRange(events ?? []);
            _finals[session.SessionId] = update.Current;
            var changes = new MongoReadModelChanges(Shards, catalog?.Set ?? Set);
            changes.Apply(session, update);
            Write(changes);
        }

        /// <summary>In <see cref="MongoReadModelWriter"/>'s order: the users' <c>$inc</c>, their custom rows, the slots' <c>$inc</c>.</summary>
        public void Write(MongoReadModelChanges changes)
        {
            foreach (var (key, change) in changes.UserChanges)
            {
                var (_, update) = MongoReadModelDocuments.IncrementUser(key, change);
                var document = _users.TryGetValue(key, out var stored) ? stored : _users[key] = [];
                Increment(document, update["$inc"].AsBsonDocument);
                changes.ApplyUser(key, MongoReadModelDocuments.ToValues(document));
            }

            foreach (var (key, change) in changes.UserCustomChanges)
            {
                var document = _users[key];
                var before = MongoCustomMetricDocuments.ToCustomRow(document);
                var covariate = MongoCustomMetricDocuments.ToCovariate(document);
                var after = document.GetValue("sessions", 0.0).ToDouble() > 0 ? (before ?? CustomRow.Empty).Plus(change) : null;
                var uses = catalog is not null && catalog.UsesCovariate(key.ExperimentId);
                CustomRow? computed = null;
                if (uses && before is null && covariate is null && after is not null)
                {
                    computed = covariate = Covariate(key);
                    CovariatesComputed++;
                }

                if (MongoCustomMetricDocuments.ReplaceUserRow(key, before, after, computed) is not (var filter, var update))
                {
                    continue;
                }

                foreach (var field in filter.Names.Where(n => n != "_id"))
                {
                    Assert.Equal(filter[field], document.GetValue(field, BsonNull.Value));
                }

                if (update.Contains("$set"))
                {
                    document.Merge(update["$set"].AsBsonDocument, overwriteExistingElements: true);
                }
                else
                {
                    Assert.Equal(["custom"], update["$unset"].AsBsonDocument.Names);
                    document.Remove("custom");
                }

                changes.ApplyUserCustom(key, before, after, uses ? covariate ?? CustomRow.Empty : null);
            }

            foreach (var (key, delta) in changes.MetricMomentsChanges)
            {
                if (MongoCustomMetricDocuments.IncrementMoments(key, delta) is (_, var update))
                {
                    var document = _moments.TryGetValue(key, out var stored) ? stored : _moments[key] = [];
                    Increment(document, update["$inc"].AsBsonDocument);
                }
            }
        }

        /// <summary>The server's reads of <c>MongoCupedCovariate</c>, on the sessions and events written so far.</summary>
        private CustomRow Covariate(UserKey key)
        {
            var exposure = _sessions.Values.Where(s => s.UserId == key.UserId && s.ExperimentId == key.ExperimentId).Min(s => s.StartTime.ToUnixTimeMilliseconds());
            var preStart = exposure - (long)catalog!.CupedPrePeriod.TotalMilliseconds;
            var pre = _sessions.Values
                .Where(s => s.UserId == key.UserId && s.StartTime.ToUnixTimeMilliseconds() >= preStart && s.StartTime.ToUnixTimeMilliseconds() < exposure)
                .OrderBy(s => s.StartTime).ThenBy(s => s.SessionId, StringComparer.Ordinal);
            return CupedCovariate.Of(catalog.Set, pre.Select(s => (s.StartTime.ToUnixTimeMilliseconds(), (IReadOnlyList<StoredEvent>)_events[s.SessionId])), preStart);
        }

        public void AssertEqualsDirectComputation(SessionInfo[] sessions, Dictionary<string, SessionSummary> finals)
        {
            foreach (var group in sessions.GroupBy(s => s.ModelGroup))
            {
                var expectedSessions = new Dictionary<string, MetricMoments>(StringComparer.Ordinal);
                foreach (var session in group)
                {
                    MetricAggregation.AddChange(Set, null, finals[session.SessionId].Custom, k => Of(expectedSessions, k), withBins: true);
                }

                var expectedUsers = new Dictionary<string, MetricMoments>(StringComparer.Ordinal);
                foreach (var user in group.GroupBy(s => s.UserId))
                {
                    var row = user.Aggregate(CustomRow.Empty, (sum, s) => sum.Plus(finals[s.SessionId].Custom!));
                    MetricAggregation.AddChange(Set, null, row, k => Of(expectedUsers, k), withBins: true);
                }

                CustomMetricData.AssertSameCustom(expectedSessions, Read(group.Key, MongoReadModelDocuments.SessionUnit));
                CustomMetricData.AssertSameCustom(expectedUsers, Read(group.Key, MongoReadModelDocuments.UserUnit));
            }
        }

        /// <summary>A report's read: every hour and shard of the group's unit, summed.</summary>
        private Dictionary<string, MetricMoments> Read(string group, int unit)
        {
            var read = new Dictionary<string, MetricMoments>(StringComparer.Ordinal);
            foreach (var (key, document) in _moments.Where(m => m.Key.ModelGroup == group && m.Key.Unit == unit))
            {
                var slots = document.GetValue("slots", new BsonDocument()).AsBsonDocument;
                Of(read, key.Metric).Add(MongoCustomMetricDocuments.ToMoments(new BsonDocument("slots", slots)));
            }

            return read;
        }

        private static MetricMoments Of(Dictionary<string, MetricMoments> into, string key) =>
            into.TryGetValue(key, out var m) ? m : into[key] = new MetricMoments();

        /// <summary>A <c>$inc</c> of dotted paths (one level: <c>slots.s1</c>) or plain fields.</summary>
        private static void Increment(BsonDocument document, BsonDocument increments)
        {
            foreach (var element in increments)
            {
                var path = element.Name.Split('.');
                var target = document;
                for (var i = 0; i < path.Length - 1; i++)
                {
                    target = target.TryGetValue(path[i], out var inner) ? inner.AsBsonDocument : (BsonDocument)(target[path[i]] = new BsonDocument());
                }

                var name = path[^1];
                target[name] = target.GetValue(name, 0.0).ToDouble() + element.Value.ToDouble();
            }
        }
    }
}
