using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Driver;
using SessionTracking.Analytics;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Both analytics adapters on the same dataset, seeded through each session store: every method of the port must give
/// the SQLite adapter's answer. The MongoDB half needs a server (MONGODB_URI, or a Testcontainers MongoDB where Docker
/// runs); the SQLite half always runs, so the dataset itself is checked against hand computation here.
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

    private static readonly bool HasServer = MongoServer.SkipReason is null;

    private readonly string _directory = RepoPaths.NewTempDirectory("analytics-parity");
    private readonly string _database = "st_parity_" + Guid.NewGuid().ToString("N")[..8];
    private SqliteSessionStore _sqliteSessions = null!;
    private SqliteAnalyticsStore _sqlite = null!;
    private MongoAnalyticsStore _mongo = null!;
    private string? _uri;

    public async Task InitializeAsync()
    {
        var path = Path.Combine(_directory, "sessions.db");
        _sqliteSessions = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = path }), NullLogger<SqliteSessionStore>.Instance);
        await _sqliteSessions.InitializeAsync(CancellationToken.None);
        await AnalyticsDataset.SeedAsync(_sqliteSessions);
        _sqlite = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = path }));
        if (!HasServer)
        {
            return;
        }

        // Buckets of 3 events: most sessions span several buckets, so every join over buckets is exercised.
        _uri = await MongoServer.ConnectionStringAsync();
        var options = Options.Create(new MongoStoreOptions
        {
            ConnectionString = _uri,
            Database = _database,
            BucketSize = 3,
            UseTransactions = Environment.GetEnvironmentVariable("MONGODB_TRANSACTIONS") != "false",
        });
        var mongoSessions = new MongoSessionStore(options, NullLogger<MongoSessionStore>.Instance);
        await mongoSessions.InitializeAsync(CancellationToken.None);
        await AnalyticsDataset.SeedAsync(mongoSessions);
        _mongo = new MongoAnalyticsStore(options);
    }

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
        var groups = await _sqlite.AggregateGroupsAsync(new AnalyticsFilter(ExperimentId: "exp-c"), CancellationToken.None);
        var latency = await _sqlite.QuantilesAsync(new AnalyticsFilter(ExperimentId: "exp-c"), AnalyticsMetric.LatencyMs, 5, CancellationToken.None);

        // Binary order: "Y" (0x59) before "x" (0x78).
        Assert.Equal(["Y", "x"], groups.Select(g => g.ModelGroup));
        var x = groups[1];
        Assert.Equal((2L, 2L, 7_000.0), (x.Sessions, x.EndedSessions, x.MeanDurationMs!.Value));
        Assert.Equal((45L, 41L, 2L, 1L), (x.Responses, x.LatencyCount, x.Copies, x.SessionsWithCopy));
        Assert.Equal(30L, x.TtftCount);
        Assert.Equal((1L, 0L, 1L), (groups[0].EndedSessions, groups[0].Copies, groups[0].SessionsWithSelection));
        var values = LatenciesOfExpC();
        var quantiles = latency.Single(q => q.ModelGroup == "x");
        Assert.Equal(41, quantiles.Count);
        Assert.Equal(Statistics.Percentile(values, 0.5), quantiles.P50);
        Assert.Equal(Statistics.Percentile(values, 0.95), quantiles.P95);
        Assert.Equal(values.Where((_, i) => i % 9 == 0), quantiles.Sketch);
    }

    [MongoFact]
    public async Task Group_aggregates_are_the_same()
    {
        foreach (var filter in Filters)
        {
            var expected = await _sqlite.AggregateGroupsAsync(filter, CancellationToken.None);
            var actual = await _mongo.AggregateGroupsAsync(filter, CancellationToken.None);

            Assert.Equal(expected.Count, actual.Count);
            foreach (var (e, a) in expected.Zip(actual))
            {
                Assert.Equal(WithoutMeans(e), WithoutMeans(a));
                AssertClose(e.MeanDurationMs, a.MeanDurationMs);
                AssertClose(e.MeanLatencyMs, a.MeanLatencyMs);
                AssertClose(e.MeanTtftMs, a.MeanTtftMs);
            }
        }
    }

    [MongoFact]
    public async Task Quantiles_and_sketches_are_the_same()
    {
        foreach (var filter in Filters)
        {
            foreach (var metric in Enum.GetValues<AnalyticsMetric>())
            {
                foreach (var sketch in new[] { 5000, 5, 1 })
                {
                    var expected = await _sqlite.QuantilesAsync(filter, metric, sketch, CancellationToken.None);
                    var actual = await _mongo.QuantilesAsync(filter, metric, sketch, CancellationToken.None);

                    Assert.Equal(expected.Select(q => (q.ExperimentId, q.ModelGroup, q.Count)), actual.Select(q => (q.ExperimentId, q.ModelGroup, q.Count)));
                    foreach (var (e, a) in expected.Zip(actual))
                    {
                        AssertClose(e.P50, a.P50);
                        AssertClose(e.P95, a.P95);
                        Assert.Equal(e.Sketch, a.Sketch);
                    }
                }
            }
        }
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
        await Group_aggregates_are_the_same();
        await Exports_are_the_same_rows_in_the_same_order();
    }

    private static List<double> LatenciesOfExpC() =>
        [.. Enumerable.Range(0, 30).Select(i => (i * 37 % 11 * 100) + (i % 4 == 0 ? 12.5 : 0)).Concat(Enumerable.Range(0, 11).Select(i => 950.0 - (i * 90))).Order()];

    private static GroupAggregate WithoutMeans(GroupAggregate g) => g with { MeanDurationMs = null, MeanLatencyMs = null, MeanTtftMs = null };

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
