using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Custom metrics on a real server (<see cref="MongoServer"/>), in a database of their own that is dropped afterwards:
/// the flush's writes, the version check, the privacy deletion, the backfill against SQLite's live aggregates, and CUPED's
/// covariate sums against a direct computation and SQLite's.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoCustomMetricServerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000);

    private readonly string _database = "st_custom_" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _directory = RepoPaths.NewTempDirectory("custom-metrics-mongo");
    private readonly MetricCatalog _metrics = CustomMetricData.Catalog();
    private readonly List<MongoSessionStore> _stores = [];
    private string? _uri;

    public async Task InitializeAsync() =>
        _uri = MongoServer.SkipReason is null ? await MongoServer.ConnectionStringAsync() : null;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
        if (_uri is not null)
        {
            await new MongoClient(_uri).DropDatabaseAsync(_database);
        }
    }

    [MongoFact]
    public async Task A_flush_updates_the_session_row_the_user_row_and_the_aggregates()
    {
        var store = await StoreAsync(_metrics);
        var analytics = Analytics(_metrics);
        var session = Session("s1", "u1");
        var created = await CreateAsync(store, session, _metrics.Set);
        var current = await FlushAsync(store, session, created, _metrics.Set, Response(1, 100), Feedback(2, "up"), Copy(3));

        var snapshot = await store.LoadSessionAsync("s1", 0, CancellationToken.None);
        var user = await Database().GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries).Find(new BsonDocument("user_id", "u1")).SingleAsync();
        var userRow = MongoCustomMetricDocuments.ToCustomRow(user)!;
        var figures = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));

        Assert.Equal(current.Custom!.ToBytes(), snapshot!.Metrics.Custom!.ToBytes());
        Assert.All(current.Custom.Keys, key => Assert.Equal(current.Custom.Slice(key).ToArray(), userRow.Slice(key).ToArray()));
        var expected = new Dictionary<string, MetricMoments>(StringComparer.Ordinal);
        MetricAggregation.AddChange(_metrics.Set, null, current.Custom, k => Of(expected, k), withBins: true);
        CustomMetricData.AssertSameCustom(expected, figures.CustomSessions);
        var expectedUsers = new Dictionary<string, MetricMoments>(StringComparer.Ordinal);
        MetricAggregation.AddChange(_metrics.Set, null, userRow, k => Of(expectedUsers, k), withBins: true);
        CustomMetricData.AssertSameCustom(expectedUsers, figures.CustomUsers);
        Assert.Equal((1.0, 1.0), (MetricAggregation.Sums(figures.CustomSessions[_metrics.Set.KeyOf("up_votes")]).Units, MetricAggregation.Sums(figures.CustomSessions[_metrics.Set.KeyOf("up_votes")]).Numerator));
    }

    [MongoFact]
    public async Task A_flush_from_a_stale_custom_row_is_a_conflict_and_changes_nothing()
    {
        var store = await StoreAsync(_metrics);
        var analytics = Analytics(_metrics);
        var session = Session("s1", "u1");
        var created = await CreateAsync(store, session, _metrics.Set);
        var current = await FlushAsync(store, session, created, _metrics.Set, Response(1, 100));
        var before = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));

        // Same through_seq and end as stored, another custom row: a backfill or another activation wrote it first.
        var stale = new SessionSummary(current.ThroughSeq, current.Values.ToArray(), created.Custom);
        var builder = new SessionSummaryBuilder(stale, custom: Context(session, _metrics.Set));
        builder.Add(Response(2, 300), []);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AppendAsync(
            new SessionFlush("s1", [Response(2, 300)], [], [], null, session, new ReadModelUpdate(stale, builder.Snapshot(), [])),
            CancellationToken.None));

        var after = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        Assert.Equal(current.Custom!.ToBytes(), (await store.LoadSessionAsync("s1", 0, CancellationToken.None))!.Metrics.Custom!.ToBytes());
        if (UseTransactions)
        {
            Assert.Empty(await store.ReadEventsAsync("s1", 1, 10, CancellationToken.None)); // the transaction's events went with it
        }

        CustomMetricData.AssertSameCustom(before.CustomSessions, after.CustomSessions);
        CustomMetricData.AssertSameCustom(before.CustomUsers, after.CustomUsers);
    }

    [MongoFact]
    public async Task A_zero_event_flush_completes_a_row_that_lacks_a_later_metric()
    {
        var store = await StoreAsync(_metrics);
        var analytics = Analytics(_metrics);
        var session = Session("s1", "u1");
        var older = CustomMetricData.Catalog(withLateMetric: false).Set;
        var created = await CreateAsync(store, session, older);
        var stored = await FlushAsync(store, session, created, older, Response(1, 100), Copy(2)); // a response within the hour
        var late = _metrics.Set.KeyOf(CustomMetricData.LateMetric);
        var without = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));

        // What a grain does at activation (CustomMetricActivation): fold the stored events for the missing metric, write the row.
        var builder = new SessionSummaryBuilder(stored, countsExclusions: false, custom: Context(session, _metrics.Set));
        builder.FoldMissing(await store.ReadEventsAsync("s1", 0, 100, CancellationToken.None));
        await store.AppendAsync(new SessionFlush("s1", [], [], [], null, session, new ReadModelUpdate(stored, builder.Snapshot(), [])), CancellationToken.None);

        var with = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        Assert.False(without.CustomSessions.ContainsKey(late));
        Assert.Equal((1.0, 1.0), (MetricAggregation.Sums(with.CustomSessions[late]).Units, MetricAggregation.Sums(with.CustomSessions[late]).Numerator));
        Assert.Equal(1.0, MetricAggregation.Sums(with.CustomUsers![late]).Numerator);
        CustomMetricData.AssertSameCustom(without.CustomSessions, with.CustomSessions.Where(c => c.Key != late).ToDictionary());
        Assert.True((await store.LoadSessionAsync("s1", 0, CancellationToken.None))!.Metrics.Custom!.Has(late));
    }

    [MongoFact]
    public async Task Deleting_every_user_returns_the_custom_aggregates_to_zero()
    {
        var store = await StoreAsync(_metrics);
        var analytics = Analytics(_metrics);
        foreach (var (id, user) in new[] { ("s1", "u1"), ("s2", "u1"), ("s3", "u2") })
        {
            var session = Session(id, user);
            var created = await CreateAsync(store, session, _metrics.Set);
            await FlushAsync(store, session, created, _metrics.Set, Response(1, 100 * id.Length), Feedback(2, "up"), Copy(3));
        }

        await analytics.DeleteUserAsync("u1", CancellationToken.None);
        await analytics.DeleteUserAsync("u2", CancellationToken.None);

        var figures = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        CustomMetricData.AssertZero(figures.CustomSessions);
        CustomMetricData.AssertZero(figures.CustomUsers);
        Assert.NotEmpty(figures.CustomSessions);
        var documents = await Database().GetCollection<BsonDocument>(MongoCustomMetricDocuments.MetricMoments).Find(FilterDefinition<BsonDocument>.Empty).ToListAsync();
        Assert.All(documents, d => CustomMetricData.AssertZero(new Dictionary<string, MetricMoments> { [d["metric"].AsString] = MongoCustomMetricDocuments.ToMoments(d) }));
        Assert.Equal(0, await Database().GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries).CountDocumentsAsync(FilterDefinition<BsonDocument>.Empty));
    }

    [MongoFact]
    public async Task The_backfill_completes_a_metric_defined_later_and_then_equals_the_live_aggregates()
    {
        // exp-a's users are its unit, so the late window metric counts from each user's first start (FirstStartOfUserAsync):
        // bob's c5 responds 2.8 h after his first session's start, outside the hour, though within an hour of its own.
        var full = CustomMetricData.Catalog(usersExperiment: "exp-a");
        var older = CustomMetricData.Catalog(withLateMetric: false, usersExperiment: "exp-a");
        var path = Path.Combine(_directory, "live.db");
        await using var sqliteSessions = new SqliteSessionStore(Microsoft.Extensions.Options.Options.Create(new SqliteStoreOptions { DatabasePath = path }), NullLogger<SqliteSessionStore>.Instance, full);
        await sqliteSessions.InitializeAsync(CancellationToken.None);
        await AnalyticsDataset.SeedAsync(sqliteSessions, full);
        var sqlite = new SqliteAnalyticsStore(Microsoft.Extensions.Options.Options.Create(new SqliteStoreOptions { DatabasePath = path }), sqliteSessions);

        var before = await StoreAsync(older);
        await AnalyticsDataset.SeedAsync(before, older);
        await StoreAsync(full);

        var states = await Analytics(full).ReadMetricStatesAsync(CancellationToken.None);
        var late = Assert.Single(states, s => s.Name == CustomMetricData.LateMetric);
        Assert.Equal(full.Set.StoredMetrics.Order(StringComparer.Ordinal), states.Select(s => s.Name));
        Assert.All(states, s => Assert.Equal(MongoCustomMetricDocuments.Complete, s.State));
        Assert.Equal(full.Set.KeyOf(CustomMetricData.LateMetric), late.Key);
        Assert.Equal((12L, 12L), (late.SessionsDone, late.SessionsTotal)); // the dataset's twelve sessions
        Assert.NotNull(late.CompletedAt);
        foreach (var (experiment, from, to) in new (string?, DateTimeOffset?, DateTimeOffset?)[]
        {
            (null, null, null),
            ("exp-a", AnalyticsDataset.Time(AnalyticsDataset.T0 + 1000), AnalyticsDataset.Time(AnalyticsDataset.C5Start + 1)),
        })
        {
            var expected = await sqlite.ReadGroupFiguresAsync(experiment, from, to, usersAsUnits: true, CancellationToken.None);
            var actual = await Analytics(full).ReadGroupFiguresAsync(experiment, from, to, usersAsUnits: true, CancellationToken.None);
            Assert.Equal(expected.Select(g => (g.ExperimentId, g.ModelGroup)), actual.Select(g => (g.ExperimentId, g.ModelGroup)));
            foreach (var (e, a) in expected.Zip(actual))
            {
                CustomMetricData.AssertSameCustom(e.CustomSessions, a.CustomSessions);
                CustomMetricData.AssertSameCustom(e.CustomUsers, a.CustomUsers);
            }
        }

        // A later start finds every key complete: no backfill, and a key no longer configured loses its state.
        var again = await StoreAsync(older);
        Assert.Same(Task.CompletedTask, again.CustomMetricBackfill); // never started
        Assert.DoesNotContain(await Analytics(older).ReadMetricStatesAsync(CancellationToken.None), s => s.Name == CustomMetricData.LateMetric);
    }

    [MongoFact]
    public async Task Cuped_covariate_sums_equal_a_direct_computation_and_sqlites()
    {
        // As SqliteCupedTests: a spending level per user, seen in a pre-period session of another experiment (3 days
        // before) and in cx, where B adds 2; every tenth user has no pre-period session (x = 0), every third a second one.
        var options = new AnalyticsOptions
        {
            Metrics = new(StringComparer.Ordinal)
            {
                ["spend"] = new() { Kind = "sum", EventType = "purchase", Field = "data.amount" },
                ["bought"] = new() { Kind = "proportion", EventType = "purchase", Where = "data.amount > 20" },
            },
            Experiments = new(StringComparer.Ordinal) { ["cx"] = new() { Split = new() { ["A"] = 1, ["B"] = 1 }, Unit = AnalysisUnit.User } },
        };
        var catalog = new MetricCatalog(Microsoft.Extensions.Options.Options.Create(options));
        var path = Path.Combine(_directory, "cuped.db");
        await using var sqliteSessions = new SqliteSessionStore(Microsoft.Extensions.Options.Options.Create(new SqliteStoreOptions { DatabasePath = path }), NullLogger<SqliteSessionStore>.Instance, catalog);
        await sqliteSessions.InitializeAsync(CancellationToken.None);
        var sqlite = new SqliteAnalyticsStore(Microsoft.Extensions.Options.Options.Create(new SqliteStoreOptions { DatabasePath = path }), sqliteSessions);
        var mongo = await StoreAsync(catalog);

        const long Day = 86_400_000;
        var t0 = Start.ToUnixTimeMilliseconds();
        var random = new Random(7);
        var pairs = new Dictionary<string, List<(double Y, double X)>>(StringComparer.Ordinal) { ["A"] = [], ["B"] = [] };
        var count = 0;
        for (var u = 0; u < 60; u++)
        {
            var user = $"u{u}";
            var group = u % 2 == 0 ? "A" : "B";
            var level = 10 + (random.NextDouble() * 30);
            double x = 0;
            if (u % 10 != 0)
            {
                x = Math.Round(level + (random.NextDouble() * 4), 2);
                await PurchaseInBothAsync(new SessionInfo($"p{u}", user, "pre", "any", DateTimeOffset.FromUnixTimeMilliseconds(t0 + (u * 1000)), null, "{}"), x, count++);
            }

            var y = 0.0;
            for (var n = 0; n < 1 + (u % 3 == 0 ? 1 : 0); n++)
            {
                var amount = Math.Round(level + (group == "B" ? 2 : 0) + (random.NextDouble() * 4), 2);
                y += amount;
                await PurchaseInBothAsync(new SessionInfo($"c{u}-{n}", user, "cx", group, DateTimeOffset.FromUnixTimeMilliseconds(t0 + (3 * Day) + (u * 1000) + n), null, "{}"), amount, count++);
            }

            pairs[group].Add((y, x));
        }

        var spend = catalog.Set.KeyOf("spend");
        var expectedGroups = await sqlite.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        var actualGroups = await Analytics(catalog).ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        Assert.Equal(expectedGroups.Select(g => g.ModelGroup), actualGroups.Select(g => g.ModelGroup));
        foreach (var (fromSqlite, fromMongo) in expectedGroups.Zip(actualGroups))
        {
            var direct = CovariateMoments.Of(pairs[fromMongo.ModelGroup]);
            var stored = MetricAggregation.CovariateSums(fromMongo.CustomUsers![spend]);
            Assert.Equal(direct.Units, stored.Units);
            foreach (var (e, a) in new[] { (direct.SumY, stored.SumY), (direct.SumX, stored.SumX), (direct.SumXX, stored.SumXX), (direct.SumXY, stored.SumXY), (direct.SumYY, stored.SumYY) })
            {
                Assert.Equal(e, a, 1e-9 * Math.Max(1, Math.Abs(e)));
            }

            CustomMetricData.AssertSameCustom(fromSqlite.CustomUsers, fromMongo.CustomUsers);
            CustomMetricData.AssertSameCustom(fromSqlite.CustomSessions, fromMongo.CustomSessions);
        }

        // Stored once, with the user's row; the pre-period experiment (sessions as units) gets none.
        var users = Database().GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries);
        Assert.Equal(60, await users.CountDocumentsAsync(new BsonDocument { { "experiment_id", "cx" }, { MongoCustomMetricDocuments.CovariateField, new BsonDocument("$type", "binData") } }));
        Assert.Equal(0, await users.CountDocumentsAsync(new BsonDocument { { "experiment_id", "pre" }, { MongoCustomMetricDocuments.CovariateField, new BsonDocument("$exists", true) } }));

        async Task PurchaseInBothAsync(SessionInfo session, double amount, int n)
        {
            foreach (var store in new ISessionStore[] { sqliteSessions, mongo })
            {
                var context = await CustomMetricActivation.ContextAsync(catalog, store, session, CancellationToken.None);
                var created = SessionSummary.OfNewSession([], [], context);
                await store.CreateSessionAsync(session, [], created, CancellationToken.None);
                var builder = new SessionSummaryBuilder(created, custom: context);
                var at = session.StartTime.ToUnixTimeMilliseconds() + 1000;
                var e = new StoredEvent(1, at, "purchase", FormattableString.Invariant($$"""{"amount":{{amount}}}"""), $"e{n}", at, at);
                builder.Add(e, []);
                await store.AppendAsync(new SessionFlush(session.SessionId, [e], [], [], null, session, new ReadModelUpdate(created, builder.Snapshot(), [])), CancellationToken.None);
            }
        }
    }

    private async Task<MongoSessionStore> StoreAsync(MetricCatalog metrics)
    {
        var store = new MongoSessionStore(Options(), NullLogger<MongoSessionStore>.Instance, metrics);
        _stores.Add(store);
        await store.InitializeAsync(CancellationToken.None);

        // Each test writes after its start-up's backfill: without transactions a walk could meet a session half-created.
        await store.CustomMetricBackfill;
        return store;
    }

    private MongoAnalyticsStore Analytics(MetricCatalog metrics) => new(Options(), metrics);

    // Two aggregate shards: the sessions of one hour share documents, as concurrent writers would.
    private IOptions<MongoStoreOptions> Options() => Microsoft.Extensions.Options.Options.Create(new MongoStoreOptions
    {
        ConnectionString = _uri!,
        Database = _database,
        BucketSize = 3,
        AggregateShards = 2,
        UseTransactions = UseTransactions,
    });

    private static bool UseTransactions => Environment.GetEnvironmentVariable("MONGODB_TRANSACTIONS") != "false";

    private IMongoDatabase Database() => new MongoClient(_uri).GetDatabase(_database);

    private static async Task<SessionSummary> CreateAsync(MongoSessionStore store, SessionInfo session, MetricSet metrics)
    {
        var created = SessionSummary.OfNewSession([], [], Context(session, metrics));
        await store.CreateSessionAsync(session, [], created, CancellationToken.None);
        return created;
    }

    private static async Task<SessionSummary> FlushAsync(MongoSessionStore store, SessionInfo session, SessionSummary durable, MetricSet metrics, params StoredEvent[] events)
    {
        var builder = new SessionSummaryBuilder(durable, custom: Context(session, metrics));
        var samples = new List<MetricSample>();
        foreach (var e in events)
        {
            builder.Add(e, samples);
        }

        var current = builder.Snapshot();
        await store.AppendAsync(new SessionFlush(session.SessionId, events, [], [], null, session, new ReadModelUpdate(durable, current, samples)), CancellationToken.None);
        return current;
    }

    private static CustomMetricContext Context(SessionInfo session, MetricSet metrics) =>
        new(metrics, session.StartTime.ToUnixTimeMilliseconds(), session.StartTime.ToUnixTimeMilliseconds());

    private static MetricMoments Of(Dictionary<string, MetricMoments> into, string key) =>
        into.TryGetValue(key, out var m) ? m : into[key] = new MetricMoments();

    private static SessionInfo Session(string id, string user) => new(id, user, "e", "g", Start, null, "{}");

    private static StoredEvent Response(long seq, int latency) => new(seq, Start.ToUnixTimeMilliseconds() + seq, "model_response", $$"""{"latency_ms":{{latency}}}""", $"r{seq}", 1);

    private static StoredEvent Feedback(long seq, string value) => new(seq, Start.ToUnixTimeMilliseconds() + seq, "feedback", $$"""{"feedback":"{{value}}"}""", $"f{seq}", 1);

    private static StoredEvent Copy(long seq) => new(seq, Start.ToUnixTimeMilliseconds() + seq, "copy", "{}", $"c{seq}", 1);
}
