using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// CUPED on custom metrics through the SQLite adapter: each user's covariate is the metric over the user's sessions of the
/// pre-period (any experiment), stored once with the user's row; the user aggregates' Σx, Σx², Σxy and the report's
/// adjusted comparison equal a direct computation from the users' values.
/// </summary>
[TestCategory("BVT")]
public sealed class SqliteCupedTests : IAsyncDisposable
{
    private const long T0 = 1_700_000_000_000;
    private const long Day = 86_400_000;
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-cuped");

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task The_covariate_sums_and_the_adjusted_difference_equal_a_direct_computation()
    {
        var options = new AnalyticsOptions
        {
            Metrics = new(StringComparer.Ordinal)
            {
                ["spend"] = new() { Kind = "sum", EventType = "purchase", Field = "data.amount" },
                ["bought"] = new() { Kind = "proportion", EventType = "purchase", Where = "data.amount > 20" },
            },
            Experiments = new(StringComparer.Ordinal) { ["cx"] = new() { Split = new() { ["A"] = 1, ["B"] = 1 }, Unit = AnalysisUnit.User } },
        };
        var catalog = new MetricCatalog(Options.Create(options));
        var storeOptions = Options.Create(new SqliteStoreOptions { DatabasePath = Path.Combine(_directory, "sessions.db") });
        await using var store = new SqliteSessionStore(storeOptions, NullLogger<SqliteSessionStore>.Instance, catalog);
        await store.InitializeAsync(CancellationToken.None);

        // 400 users: a spending level per user, seen in a pre-period session (another experiment, 3 days before) and again
        // in the experiment, where B adds 2; some users have no pre-period session (x = 0), some a second session.
        var random = new Random(7);
        var pairs = new Dictionary<string, List<(double Y, double X)>>(StringComparer.Ordinal) { ["A"] = [], ["B"] = [] };
        var count = 0;
        for (var u = 0; u < 400; u++)
        {
            var user = $"u{u}";
            var group = u % 2 == 0 ? "A" : "B";
            var level = 10 + (random.NextDouble() * 30);
            double x = 0;
            if (u % 10 != 0)
            {
                x = Math.Round(level + (random.NextDouble() * 4), 2);
                await WriteAsync(store, catalog, new SessionInfo($"p{u}", user, "pre", "any", Time(T0 + (u * 1000)), null, "{}"), x, count++);
            }

            var y = 0.0;
            for (var s = 0; s < 1 + (u % 3 == 0 ? 1 : 0); s++)
            {
                var amount = Math.Round(level + (group == "B" ? 2 : 0) + (random.NextDouble() * 4), 2);
                y += amount;
                await WriteAsync(store, catalog, new SessionInfo($"c{u}-{s}", user, "cx", group, Time(T0 + (3 * Day) + (u * 1000) + s), null, "{}"), amount, count++);
            }

            pairs[group].Add((y, x));
        }

        var analytics = new SqliteAnalyticsStore(storeOptions, store);
        var groups = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        var states = (await analytics.ReadMetricStatesAsync(CancellationToken.None)).ToDictionary(s => s.Key);
        var report = new CustomMetricReport(catalog, states, "cx", AnalysisUnit.User, groups);
        var spend = report.Figure("spend")!;
        foreach (var g in groups)
        {
            var expected = CovariateMoments.Of(pairs[g.ModelGroup]);
            var stored = report.Covariate(spend, g)!.Value;
            Assert.Equal(expected.Units, stored.Units);
            foreach (var (e, s) in new[] { (expected.SumY, stored.SumY), (expected.SumX, stored.SumX), (expected.SumXX, stored.SumXX), (expected.SumXY, stored.SumXY), (expected.SumYY, stored.SumYY) })
            {
                Assert.Equal(e, s, 1e-9 * Math.Max(1, Math.Abs(e)));
            }
        }

        var decisions = new ExperimentDecisions(options, options.Experiments["cx"], AnalysisUnit.User, report, report);
        var a = groups.Single(g => g.ModelGroup == "A");
        var b = groups.Single(g => g.ModelGroup == "B");
        var comparison = decisions.Compare(a, b, a, b).CustomMetrics!.Single(c => c.Name == "spend");
        var direct = Cuped.Compare(CovariateMoments.Of(pairs["A"]), CovariateMoments.Of(pairs["B"]))!;
        Assert.Equal(direct.Adjusted.Value!.Value, comparison.Cuped!.Adjusted.Value!.Value, 1e-9);
        Assert.Equal(direct.Adjusted.Low!.Value, comparison.Cuped.Adjusted.Low!.Value, 1e-9);
        Assert.Equal(direct.Theta, comparison.Cuped.Theta, 1e-9);
        Assert.Equal(direct.VarianceReduction!.Value, comparison.Cuped.VarianceReduction!.Value, 1e-9);
        Assert.True(comparison.Cuped.VarianceReduction > 0.1, $"a correlated covariate removes variance: {comparison.Cuped.VarianceReduction:P1}");
        Assert.NotNull(comparison.Cuped.Adjusted.Sequential);

        // The unadjusted comparison is the plain one, and a proportion gets its own covariate.
        Assert.Equal(comparison.Difference.Value!.Value, (pairs["B"].Average(p => p.Y) - pairs["A"].Average(p => p.Y)), 1e-9);
        Assert.NotNull(decisions.Compare(a, b, a, b).CustomMetrics!.Single(c => c.Name == "bought").Cuped);
    }

    private static async Task WriteAsync(SqliteSessionStore store, MetricCatalog catalog, SessionInfo session, double amount, int n)
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

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
