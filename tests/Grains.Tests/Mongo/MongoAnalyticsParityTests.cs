using System.Text.Json.Nodes;
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
/// Both analytics adapters on the same dataset, seeded through each session store: every method of the port must give
/// the SQLite adapter's answer. The MongoDB half needs a server (MONGODB_URI, or a Testcontainers MongoDB where Docker
/// runs); the SQLite half always runs, so the dataset itself is checked against hand computation here. Both stores run
/// the same custom metrics (<see cref="CustomMetricData"/>), so their custom aggregates are compared too.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoAnalyticsParityTests : IAsyncLifetime
{
    private static readonly AnalyticsFilter[] Filters =
    [
        new(),
        new(ExperimentId: "exp-a"),
        new(ExperimentId: "exp-a", ModelGroup: "control"),
        new(ModelGroup: "control"),
        new(From: AnalyticsDataset.Time(AnalyticsDataset.T0 + 1000), To: AnalyticsDataset.Time(AnalyticsDataset.T0 + AnalyticsDataset.Day)),
        // A bound with a fraction of a millisecond: both stores compare whole milliseconds.
        new(From: AnalyticsDataset.Time(AnalyticsDataset.T0 + 1000).AddTicks(5_000)),
        new(To: AnalyticsDataset.Time(AnalyticsDataset.T0 + (2 * AnalyticsDataset.Day) + 10)),
        new(ExperimentId: "none"),
    ];

    /// <summary>Report windows: whole hours with partial edges, open bounds, exactly whole hours, one partial hour.</summary>
    private static readonly (string? Experiment, DateTimeOffset? From, DateTimeOffset? To)[] Windows =
    [
        (null, null, null),
        ("exp-a", null, null),
        (null, AnalyticsDataset.Time(AnalyticsDataset.T0 + 1000), AnalyticsDataset.Time(AnalyticsDataset.T0 + AnalyticsDataset.Day)),
        (null, AnalyticsDataset.Time(AnalyticsDataset.T0 + 1000).AddTicks(5_000), null),
        (null, null, AnalyticsDataset.Time(AnalyticsDataset.T0 + (2 * AnalyticsDataset.Day) + 10)),
        ("exp-a", AnalyticsDataset.Time(AnalyticsDataset.C5Start), AnalyticsDataset.Time(AnalyticsDataset.C5Start + AnalyticsDataset.Hour)),
        ("exp-a", AnalyticsDataset.Time(AnalyticsDataset.C5Start), AnalyticsDataset.Time(AnalyticsDataset.C5Start + 1)),
        ("exp-a", AnalyticsDataset.Time(AnalyticsDataset.T0), AnalyticsDataset.Time(AnalyticsDataset.C5Start)),
        ("none", null, null),
    ];

    private static readonly bool HasServer = MongoServer.SkipReason is null;

    private readonly MetricCatalog _metrics = CustomMetricData.Catalog();

    private readonly string _directory = RepoPaths.NewTempDirectory("analytics-parity");
    private readonly string _database = "st_parity_" + Guid.NewGuid().ToString("N")[..8];
    private SqliteSessionStore _sqliteSessions = null!;
    private SqliteAnalyticsStore _sqlite = null!;
    private MongoAnalyticsStore _mongo = null!;
    private string? _uri;

    public async Task InitializeAsync()
    {
        var path = Path.Combine(_directory, "sessions.db");
        _sqliteSessions = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = path }), NullLogger<SqliteSessionStore>.Instance, _metrics);
        await _sqliteSessions.InitializeAsync(CancellationToken.None);
        await AnalyticsDataset.SeedAsync(_sqliteSessions, _metrics);
        _sqlite = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = path }), _sqliteSessions);
        if (!HasServer)
        {
            return;
        }

        _uri = await MongoServer.ConnectionStringAsync();
        await using var mongoSessions = NewMongoSessionStore();
        await mongoSessions.InitializeAsync(CancellationToken.None);

        // The custom backfill of the empty database ends at once; seeding after it, no walk meets a half-written session.
        await mongoSessions.CustomMetricBackfill;
        await AnalyticsDataset.SeedAsync(mongoSessions, _metrics);
        _mongo = new MongoAnalyticsStore(MongoOptions(), _metrics);
    }

    // Buckets of 3 events: most sessions span several buckets, so every join over buckets is exercised. Aggregates in 4
    // shards: the dataset's sessions spread over several shards of one hour, which a read must sum.
    private IOptions<MongoStoreOptions> MongoOptions() => Options.Create(new MongoStoreOptions
    {
        ConnectionString = _uri!,
        Database = _database,
        BucketSize = 3,
        AggregateShards = 4,
        UseTransactions = Environment.GetEnvironmentVariable("MONGODB_TRANSACTIONS") != "false",
    });

    private MongoSessionStore NewMongoSessionStore() => new(MongoOptions(), NullLogger<MongoSessionStore>.Instance, _metrics);

    public async Task DisposeAsync()
    {
        await _sqliteSessions.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
        if (HasServer)
        {
            await new MongoClient(_uri).DropDatabaseAsync(_database);
        }
    }

    [Fact]
    public async Task The_dataset_gives_the_hand_computed_figures_on_SQLite()
    {
        var expC = await _sqlite.ReadGroupFiguresAsync("exp-c", null, null, usersAsUnits: true, CancellationToken.None);
        var expA = await _sqlite.ReadGroupFiguresAsync("exp-a", null, null, usersAsUnits: true, CancellationToken.None);
        var c5Hour = await _sqlite.ReadGroupFiguresAsync("exp-a", AnalyticsDataset.Time(AnalyticsDataset.C5Start), AnalyticsDataset.Time(AnalyticsDataset.C5Start + AnalyticsDataset.Hour), usersAsUnits: true, CancellationToken.None);

        // Binary order: "Y" (0x59) before "x" (0x78).
        Assert.Equal(["Y", "x"], expC.Select(g => g.ModelGroup));
        var x = expC[1].Sessions;
        Assert.Equal((2L, 2.0, 14_000.0), (x.Units, x.Sum(MetricField.Ended), x.Sum(MetricField.DurationMs)));
        Assert.Equal((45.0, 41.0, 2.0, 1.0), (x.Sum(MetricField.Responses), x.Sum(MetricField.LatencyCount), x.Sum(MetricField.Copies), x.Sum(MetricField.SessionsWithCopy)));
        Assert.Equal(30.0, x.Sum(MetricField.TtftCount));
        Assert.Equal(LatenciesOfExpC().Sum(), x.Sum(MetricField.LatencySum), 9);
        Assert.Equal((1.0, 0.0, 1.0), (expC[0].Sessions.Sum(MetricField.Ended), expC[0].Sessions.Sum(MetricField.Copies), expC[0].Sessions.Sum(MetricField.SessionsWithSelection)));
        Assert.Equal(2L, expC[1].Users!.Units);
        var values = LatenciesOfExpC();
        var sketch = expC[1].LatencyMs;
        Assert.Equal(41, sketch.Count);
        foreach (var p in new[] { 0.5, 0.95 })
        {
            var exact = Statistics.Percentile(values, p);
            Assert.InRange(sketch.Quantile(p)!.Value, exact * (1 - QuantileSketch.RelativeAccuracy), exact * (1 + QuantileSketch.RelativeAccuracy));
        }

        // exp-a/control: five sessions of four users (bob has c2 and c5): Σ sessions² over users = 1 + 4 + 1 + 1.
        var control = expA.Single(g => g.ModelGroup == "control");
        Assert.Equal((5L, 4L), (control.Sessions.Units, control.Users!.Units));
        Assert.Equal(7.0, control.Users.Cross(MetricField.Sessions, MetricField.Sessions));
        Assert.Equal(1.0, control.Sessions.Sum(MetricField.FeedbackOther));

        // The hour of c5 alone: one session, one user, from the hourly aggregates.
        Assert.Equal(["control"], c5Hour.Select(g => g.ModelGroup));
        Assert.Equal((1L, 1L, 1L), (c5Hour[0].Sessions.Units, c5Hour[0].Users!.Units, c5Hour[0].TimeToFirstTokenMs.Count));

        // Custom metrics, by key: exp-c/x has 45 responses in 2 sessions (2 users), 41 numeric latencies in the
        // quantile's bins, one session with a copy; exp-a/control has two "up" votes over five sessions of four users.
        var set = _metrics.Set;
        var responses = MetricAggregation.Sums(expC[1].CustomSessions[set.KeyOf("responses_n")]);
        Assert.Equal((2.0, 45.0), (responses.Units, responses.Numerator));
        Assert.Equal(2.0, MetricAggregation.Sums(expC[1].CustomUsers![set.KeyOf("responses_n")]).Units);
        Assert.Equal(41, MetricAggregation.ValueSketch(expC[1].CustomSessions[set.KeyOf("latency_p90")]).Count);
        Assert.Equal(1.0, MetricAggregation.Sums(expC[1].CustomSessions[set.KeyOf("copied")]).Numerator);
        var up = MetricAggregation.Sums(control.CustomSessions[set.KeyOf("up_votes")]);
        var upUsers = MetricAggregation.Sums(control.CustomUsers![set.KeyOf("up_votes")]);
        Assert.Equal((5.0, 2.0, 4.0, 2.0), (up.Units, up.Numerator, upUsers.Units, upUsers.Numerator));
    }

    [MongoFact]
    public Task Group_figures_are_the_same() => AssertSameGroupFiguresAsync(compareAllTimeCustomUsers: true);

    private async Task AssertSameGroupFiguresAsync(bool compareAllTimeCustomUsers)
    {
        foreach (var (experiment, from, to) in Windows)
        {
            foreach (var usersAsUnits in new[] { false, true })
            {
                AssertSameFigures(
                    await _sqlite.ReadGroupFiguresAsync(experiment, from, to, usersAsUnits, CancellationToken.None),
                    await _mongo.ReadGroupFiguresAsync(experiment, from, to, usersAsUnits, CancellationToken.None),
                    compareCustomUsers: compareAllTimeCustomUsers || from is not null || to is not null);
            }
        }
    }

    [MongoFact]
    public async Task The_backfill_rebuilds_the_same_read_model_from_the_events()
    {
        // A database as an older version left it: no summaries, no aggregates, no record of the read model.
        var database = new MongoClient(_uri).GetDatabase(_database);
        await database.GetCollection<BsonDocument>(MongoDocuments.Sessions).UpdateManyAsync(FilterDefinition<BsonDocument>.Empty, new BsonDocument("$unset", new BsonDocument("summary", "")));
        foreach (var name in new[] { MongoReadModelDocuments.UserSummaries, MongoReadModelDocuments.ExperimentMoments, MongoReadModelDocuments.ExperimentSketches, MongoReadModelDocuments.Metadata })
        {
            await database.DropCollectionAsync(name);
        }

        // Twice: the second start finds the read model recorded and leaves it as it is. The rebuild clears the custom
        // rows, aggregates and states: the custom metric backfill that follows folds every session again.
        await using (var first = NewMongoSessionStore())
        {
            await first.InitializeAsync(CancellationToken.None);
            await first.CustomMetricBackfill;
        }

        await using (var second = NewMongoSessionStore())
        {
            await second.InitializeAsync(CancellationToken.None);
            await second.CustomMetricBackfill;
        }

        Assert.All(await _mongo.ReadMetricStatesAsync(CancellationToken.None), s => Assert.Equal(MongoCustomMetricDocuments.Complete, s.State));
        await Group_figures_are_the_same();
        var snapshot = await NewMongoSessionStore().LoadSessionAsync("d1", 0, CancellationToken.None);
        Assert.Equal(35, snapshot!.Metrics.ThroughSeq);
        Assert.True(snapshot.Metrics.Ended);
    }

    [MongoFact]
    public async Task Guide_averages_are_the_same()
    {
        foreach (var filter in Filters)
        {
            var expected = await _sqlite.GuideAveragesAsync(filter, CancellationToken.None);
            var actual = await _mongo.GuideAveragesAsync(filter, CancellationToken.None);

            AssertSameAverages(expected.AverageLatency, actual.AverageLatency);
            AssertSameAverages(expected.AverageDuration, actual.AverageDuration);
        }
    }

    [MongoFact]
    public async Task Session_lists_are_the_same()
    {
        foreach (var filter in Filters)
        {
            foreach (var limit in new[] { 50, 3, 0 })
            {
                Assert.Equal(
                    await _sqlite.ListSessionsAsync(filter, limit, CancellationToken.None),
                    await _mongo.ListSessionsAsync(filter, limit, CancellationToken.None));
            }
        }
    }

    [MongoFact]
    public async Task Exports_are_the_same_rows_in_the_same_order()
    {
        foreach (var filter in Filters)
        {
            var expectedSessions = await _sqlite.ExportSessionsAsync(filter, CancellationToken.None).ToListAsync();
            var actualSessions = await _mongo.ExportSessionsAsync(filter, CancellationToken.None).ToListAsync();
            var expectedEvents = await _sqlite.ExportEventsAsync(filter, CancellationToken.None).ToListAsync();
            var actualEvents = await _mongo.ExportEventsAsync(filter, CancellationToken.None).ToListAsync();

            // The environment and event data are JSON: the same values, not necessarily the same text.
            Assert.Equal(expectedSessions.Select(s => s with { Session = s.Session with { EnvironmentJson = "" } }), actualSessions.Select(s => s with { Session = s.Session with { EnvironmentJson = "" } }));
            Assert.All(expectedSessions.Zip(actualSessions), p => AssertSameJson(p.First.Session.EnvironmentJson, p.Second.Session.EnvironmentJson));
            Assert.Equal(expectedEvents.Select(e => e with { DataJson = "" }), actualEvents.Select(e => e with { DataJson = "" }));
            Assert.All(expectedEvents.Zip(actualEvents), p => AssertSameJson(p.First.DataJson, p.Second.DataJson));
        }
    }

    [MongoFact]
    public async Task Deleting_a_user_removes_the_same_rows_and_leaves_the_same_figures()
    {
        var expected = await _sqlite.DeleteUserAsync("alice", CancellationToken.None);
        var actual = await _mongo.DeleteUserAsync("alice", CancellationToken.None);
        var again = await _mongo.DeleteUserAsync("alice", CancellationToken.None);

        // alice: c1 (4 events), b1 (2), d3 (2); queries: 2 of c1 + 1 of hers; events: hers (2) + bob's on b1.
        Assert.Equal(new UserDeletion("alice", 3, 8, 3, 3), expected);
        Assert.Equal(expected, actual);
        Assert.Equal(new UserDeletion("alice", 0, 0, 0, 0), again);
        Assert.DoesNotContain(await _mongo.ListSessionsAsync(new AnalyticsFilter(), 100, CancellationToken.None), s => s.UserId == "alice");
        await AssertSameGroupFiguresAsync(compareAllTimeCustomUsers: false);
        await Exports_are_the_same_rows_in_the_same_order();

        // Over all time, a deleted user leaves the custom users-as-units aggregates with its last session: their units
        // are the built-in users-as-units count. (SQLite's adapter keeps such a user as a unit of zeros, so the two are
        // not compared here.)
        foreach (var group in await _mongo.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None))
        {
            Assert.All(group.CustomUsers!.Values, m => Assert.Equal(group.Users!.Units, m[MetricAggregation.Units]));
        }
    }

    private static List<double> LatenciesOfExpC() =>
        [.. Enumerable.Range(0, 30).Select(i => (i * 37 % 11 * 100) + (i % 4 == 0 ? 12.5 : 0)).Concat(Enumerable.Range(0, 11).Select(i => 950.0 - (i * 90))).Order()];

    private static void AssertSameFigures(IReadOnlyList<GroupFigures> expected, IReadOnlyList<GroupFigures> actual, bool compareCustomUsers = true)
    {
        Assert.Equal(expected.Select(f => (f.ExperimentId, f.ModelGroup)), actual.Select(f => (f.ExperimentId, f.ModelGroup)));
        foreach (var (e, a) in expected.Zip(actual))
        {
            CustomMetricData.AssertSameCustom(e.CustomSessions, a.CustomSessions);
            Assert.Equal(e.CustomUsers is null, a.CustomUsers is null);
            if (compareCustomUsers)
            {
                CustomMetricData.AssertSameCustom(e.CustomUsers, a.CustomUsers);
            }

            AssertSameMoments(e.Sessions, a.Sessions);
            Assert.Equal(e.Users is null, a.Users is null);
            if (e.Users is not null)
            {
                AssertSameMoments(e.Users, a.Users!);
            }

            foreach (var metric in Enum.GetValues<QuantileMetric>())
            {
                Assert.Equal(e.Sketch(metric).Bins, a.Sketch(metric).Bins);
            }
        }
    }

    private static void AssertSameMoments(Moments expected, Moments actual)
    {
        Assert.Equal(expected.Units, actual.Units);
        foreach (var a in Enum.GetValues<MetricField>())
        {
            AssertClose(expected.Sum(a), actual.Sum(a));
            foreach (var b in Enum.GetValues<MetricField>().Where(b => b >= a))
            {
                AssertClose(expected.Cross(a, b), actual.Cross(a, b));
            }
        }
    }

    private static void AssertSameAverages(IReadOnlyList<GroupAverage> expected, IReadOnlyList<GroupAverage> actual)
    {
        Assert.Equal(expected.Select(a => a.ModelGroup), actual.Select(a => a.ModelGroup));
        Assert.All(expected.Zip(actual), p => AssertClose(p.First.Average, p.Second.Average));
    }

    /// <summary>Sums of doubles may be added in another order by the two databases: equal to 1e-12, relative.</summary>
    private static void AssertClose(double? expected, double? actual)
    {
        Assert.Equal(expected.HasValue, actual.HasValue);
        if (expected is { } e && actual is { } a)
        {
            Assert.True(Math.Abs(e - a) <= 1e-12 * Math.Max(1, Math.Abs(e)), $"expected {e}, got {a}");
        }
    }

    private static void AssertSameJson(string expected, string actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual)), $"{expected} ≠ {actual}");
}
