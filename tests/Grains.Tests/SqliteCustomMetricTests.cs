using System.Globalization;
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
/// Custom metrics in the SQLite adapter: rows and aggregates kept by flushes (several per session, as a grain sends
/// them) equal the aggregates of the final rows; a stale custom row is a conflict; a privacy deletion takes a user's
/// share out; a metric defined after the data was stored is backfilled at start-up to the same aggregates as live ones.
/// </summary>
[TestCategory("BVT")]
public sealed class SqliteCustomMetricTests : IAsyncLifetime
{
    private const long T0 = 1_700_000_000_000;
    private const long Hour = 3_600_000;
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-custom-metrics");

    private static readonly Dictionary<string, MetricOptions> Definitions = new(StringComparer.Ordinal)
    {
        ["copied"] = new() { Kind = "proportion", EventType = "copy" },
        ["good"] = new() { Kind = "count", EventType = "rating", Where = "data.score >= 4" },
        ["score"] = new() { Kind = "mean", EventType = "rating", Field = "data.score", PerEvent = true },
        ["spend"] = new() { Kind = "sum", EventType = "purchase", Field = "data.amount", CapPercentile = 0.9 },
        ["p90"] = new() { Kind = "quantile", EventType = "rating", Field = "data.score", Quantile = 0.9 },
        ["flow"] = new() { Kind = "funnel", Steps = ["prompt", "model_response", "copy"] },
        ["early"] = new() { Kind = "proportion", EventType = "copy", WindowHours = 1 },
        ["ratings"] = new() { Kind = "count", EventType = "rating" },
        ["good_share"] = new() { Kind = "ratio", Numerator = "good", Denominator = "ratings" }, // stores nothing: its parts move it
    };

    private static readonly Dictionary<string, ModelPriceOptions> Prices = new(StringComparer.Ordinal)
    {
        ["m1"] = new() { InputPerMillion = 2, OutputPerMillion = 10 },
    };

    private string DatabasePath => Path.Combine(_directory, "sessions.db");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Flushes_keep_rows_and_aggregates_equal_to_the_final_rows()
    {
        var catalog = Catalog(Definitions);
        await using var store = await OpenAsync(catalog);
        var rows = await SeedAsync(store, catalog);
        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), store);

        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, rows, users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, rows, users: true), figures, users: true);

        // A window in the middle of an hour: edge sessions come from their rows, whole hours from the aggregates.
        var (from, to) = (T0 + (Hour / 2), T0 + (2 * Hour) + (Hour / 3));
        var window = rows.Where(r => r.Session.StartTime.ToUnixTimeMilliseconds() >= from && r.Session.StartTime.ToUnixTimeMilliseconds() < to).ToList();
        var windowed = await analytics.ReadGroupFiguresAsync("cx", DateTimeOffset.FromUnixTimeMilliseconds(from), DateTimeOffset.FromUnixTimeMilliseconds(to), usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, window, users: false), windowed, users: false);
        AssertEqualAggregates(Expected(catalog, window, users: true), windowed, users: true);
    }

    [Fact]
    public async Task A_flush_from_a_stale_custom_row_is_a_conflict()
    {
        var catalog = Catalog(Definitions);
        await using var store = await OpenAsync(catalog);
        var session = Session("s1", "u1", "A", T0);
        var context = new CustomMetricContext(catalog.Set, T0, T0);
        var created = SessionSummary.OfNewSession([], [], context);
        await store.CreateSessionAsync(session, [], created, CancellationToken.None);

        var builder = new SessionSummaryBuilder(created, custom: context);
        builder.Add(Event(1, "copy", "{}"), []);
        var first = builder.Snapshot();
        await store.AppendAsync(new SessionFlush(session.SessionId, [Event(1, "copy", "{}")], [], [], null, session, new ReadModelUpdate(created, first, [])), CancellationToken.None);

        // The same change again, from the row as it was before: refused, nothing counted twice.
        var replay = new SessionFlush(session.SessionId, [Event(2, "prompt", "{}")], [], [], null, session, new ReadModelUpdate(created, first, []));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AppendAsync(replay, CancellationToken.None));
        var snapshot = await store.LoadSessionAsync(session.SessionId, 0, CancellationToken.None);
        Assert.Equal(first.Custom!.ToBytes(), snapshot!.Metrics.Custom!.ToBytes());
    }

    [Fact]
    public async Task Two_writers_sharing_the_file_keep_users_rows_exact()
    {
        // Two stores on one file, as two silos of one host: a user's sessions alternate between them, so each writer's
        // cached copy of the user's row goes stale whenever the other one writes it (PRAGMA data_version tells).
        var catalog = Catalog(Definitions);
        await using var first = await OpenAsync(catalog);
        await using var second = await OpenAsync(catalog);
        var rows = await SeedAsync(i => i % 2 == 0 ? first : second, catalog);
        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), first);

        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, rows, users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, rows, users: true), figures, users: true);
    }

    [Fact]
    public async Task A_transaction_rerun_after_a_conflict_counts_each_users_change_once()
    {
        var catalog = Catalog(Definitions);
        await using var store = await OpenAsync(catalog);
        var context = new CustomMetricContext(catalog.Set, T0, T0);
        var (s1, s2) = (Session("s1", "u1", "A", T0), Session("s2", "u1", "A", T0));
        var created = SessionSummary.OfNewSession([], [], context);
        await store.CreateSessionAsync(s1, [], created, CancellationToken.None);
        await store.CreateSessionAsync(s2, [], created, CancellationToken.None);
        var (s1First, flush) = Step(s1, created, Event(1, "rating", """{"score":5}"""));
        await store.AppendAsync(flush, CancellationToken.None);

        // One transaction: a good flush of u1's first session, then a stale one of its second. The transaction fails,
        // and the rerun (a savepoint per flush) must start from u1's stored row, not from the one the failed run computed.
        using var hold = new HeldWriter();
        store.Hooks = hold;
        var (s1Second, good) = Step(s1, s1First, Event(2, "rating", """{"score":4}"""));
        var (notStored, _) = Step(s2, created, Event(1, "rating", """{"score":1}"""));
        var (_, stale) = Step(s2, notStored, Event(2, "rating", """{"score":2}"""));
        var goodTask = store.AppendAsync(good, CancellationToken.None);
        var staleTask = store.AppendAsync(stale, CancellationToken.None);
        hold.Release();
        await goodTask;
        await Assert.ThrowsAsync<StoreConflictException>(() => staleTask);
        Assert.Equal(1, hold.IsolatedCommits);

        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), store);
        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        List<(SessionInfo, SessionSummary)> expected = [(s1, s1Second), (s2, created)];
        AssertEqualAggregates(Expected(catalog, expected, users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, expected, users: true), figures, users: true);

        (SessionSummary After, SessionFlush Flush) Step(SessionInfo session, SessionSummary from, StoredEvent e)
        {
            var after = Fold(catalog, session, [e], from);
            return (after, new SessionFlush(session.SessionId, [e], [], [], null, session, new ReadModelUpdate(from, after, [])));
        }
    }

    [Fact]
    public async Task A_privacy_deletion_takes_the_users_share_out_of_every_aggregate()
    {
        var catalog = Catalog(Definitions);
        await using var store = await OpenAsync(catalog);
        var rows = await SeedAsync(store, catalog);
        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), store);
        var victim = rows[0].Session.UserId;
        await analytics.DeleteUserAsync(victim, CancellationToken.None);

        var remaining = rows.Where(r => r.Session.UserId != victim).ToList();
        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, remaining, users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, remaining, users: true), figures, users: true);
    }

    [Fact]
    public async Task A_metric_defined_after_the_data_is_backfilled_to_the_live_aggregates()
    {
        // Stored with two metrics; restarted with all of them (and a changed one): the others are backfilled.
        var before = new Dictionary<string, MetricOptions>(StringComparer.Ordinal) { ["copied"] = Definitions["copied"], ["good"] = new() { Kind = "count", EventType = "rating", Where = "data.score >= 3" } };
        List<(SessionInfo Session, SessionSummary Final)> rows;
        await using (var store = await OpenAsync(Catalog(before)))
        {
            rows = await SeedAsync(store, Catalog(before));
        }

        var catalog = Catalog(Definitions);
        await using var restarted = await OpenAsync(catalog);
        await restarted.MetricBackfillCompletion.WaitAsync(TimeSpan.FromSeconds(60));
        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), restarted);
        var states = await analytics.ReadMetricStatesAsync(CancellationToken.None);
        Assert.Equal(catalog.Set.StoredMetrics.Select(catalog.Set.KeyOf).Order(), states.Select(s => s.Key).Order());
        Assert.All(states, s => Assert.Equal("complete", s.State));
        Assert.Contains(states, s => s.Name == "score" && s.SessionsDone == rows.Count && s.SessionsTotal == rows.Count);

        // The same data written live with every metric defined from the start.
        var live = new List<(SessionInfo Session, SessionSummary Final)>();
        foreach (var (session, _) in rows)
        {
            live.Add((session, Fold(catalog, session, EventsOf(session))));
        }

        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, live, users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, live, users: true), figures, users: true);

        // A session reloaded by its grain has every metric: nothing left to complete.
        var snapshot = await restarted.LoadSessionAsync(rows[3].Session.SessionId, 0, CancellationToken.None);
        Assert.Empty(new SessionSummaryBuilder(snapshot!.Metrics, custom: new CustomMetricContext(catalog.Set, 0, 0)).MissingMetrics);
    }

    [Fact]
    public async Task A_grain_completes_a_row_that_lacks_a_metric_before_taking_events()
    {
        var few = Catalog(new Dictionary<string, MetricOptions>(StringComparer.Ordinal) { ["copied"] = Definitions["copied"] });
        var session = Session("g1", "u9", "A", T0);
        await using (var store = await OpenAsync(few))
        {
            var events = EventsOf(session);
            var created = SessionSummary.OfNewSession([], [], new CustomMetricContext(few.Set, T0, T0));
            await store.CreateSessionAsync(session, [], created, CancellationToken.None);
            var final = Fold(few, session, events, created);
            await store.AppendAsync(new SessionFlush(session.SessionId, events, [], [], null, session, new ReadModelUpdate(created, final, [])), CancellationToken.None);
        }

        // The new keys marked complete, as if their backfill had run before the session's last write: no backfill
        // starts, and only the activation's completion can fold them.
        var catalog = Catalog(Definitions);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath}"))
        {
            connection.Open();
            foreach (var name in catalog.Set.StoredMetrics)
            {
                using var command = connection.CreateCommand();
                command.CommandText = "INSERT OR REPLACE INTO custom_metric_state (metric, name, state) VALUES ($key, $name, 'complete')";
                command.Parameters.AddWithValue("$key", catalog.Set.KeyOf(name));
                command.Parameters.AddWithValue("$name", name);
                command.ExecuteNonQuery();
            }
        }

        await using var reopened = await OpenAsync(catalog);
        Assert.True(reopened.MetricBackfillCompletion.IsCompleted, "no backfill runs");
        var loaded = await reopened.LoadSessionAsync(session.SessionId, 0, CancellationToken.None);
        Assert.NotEmpty(new SessionSummaryBuilder(loaded!.Metrics, custom: new CustomMetricContext(catalog.Set, T0, T0)).MissingMetrics);
        var context = await CustomMetricActivation.ContextAsync(catalog, reopened, session, CancellationToken.None);
        var completed = await CustomMetricActivation.CompleteAsync(reopened, loaded, context!, 0, CancellationToken.None);
        var expected = Fold(catalog, session, EventsOf(session));
        Assert.Equal(expected.Custom!.ToValues(catalog.Set, out _).Values.ToArray(), completed.Metrics.Custom!.ToValues(catalog.Set, out var missing).Values.ToArray());
        Assert.Empty(missing);

        // Written: the store's row is complete, and the aggregates count the session once for every metric.
        var stored = await reopened.LoadSessionAsync(session.SessionId, 0, CancellationToken.None);
        Assert.Equal(completed.Metrics.Custom!.ToBytes(), stored!.Metrics.Custom!.ToBytes());
        var analytics = new SqliteAnalyticsStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), reopened);
        var figures = await analytics.ReadGroupFiguresAsync("cx", null, null, usersAsUnits: true, CancellationToken.None);
        AssertEqualAggregates(Expected(catalog, [(session, expected)], users: false), figures, users: false);
        AssertEqualAggregates(Expected(catalog, [(session, expected)], users: true), figures, users: true);
    }

    /// <summary>Sessions of two groups over three hours, users with one to three sessions, each written in two flushes.</summary>
    private static Task<List<(SessionInfo Session, SessionSummary Final)>> SeedAsync(SqliteSessionStore store, MetricCatalog catalog) =>
        SeedAsync(_ => store, catalog);

    /// <summary>The same, session <c>i</c> written through <paramref name="storeOf"/>(i).</summary>
    private static async Task<List<(SessionInfo Session, SessionSummary Final)>> SeedAsync(Func<int, SqliteSessionStore> storeOf, MetricCatalog catalog)
    {
        var rows = new List<(SessionInfo, SessionSummary)>();
        for (var i = 0; i < 60; i++)
        {
            var store = storeOf(i);
            var session = Session($"s{i:D2}", $"u{i % 25}", i % 25 % 2 == 0 ? "A" : "B", T0 + (i * 3 * Hour / 60) + (i * 7));
            var events = EventsOf(session);
            var context = await CustomMetricActivation.ContextAsync(catalog, store, session, CancellationToken.None);
            var created = SessionSummary.OfNewSession([], [], context);
            await store.CreateSessionAsync(session, [], created, CancellationToken.None);
            var builder = new SessionSummaryBuilder(created, custom: context);
            var durable = created;
            foreach (var part in events.Chunk((events.Count / 2) + 1))
            {
                var samples = new List<MetricSample>();
                foreach (var e in part)
                {
                    builder.Add(e, samples);
                }

                var current = builder.SnapshotSince(durable);
                await store.AppendAsync(new SessionFlush(session.SessionId, part, [], [], null, session, new ReadModelUpdate(durable, current, samples)), CancellationToken.None);
                durable = current;
            }

            rows.Add((session, durable));
        }

        return rows;
    }

    private static SessionSummary Fold(MetricCatalog catalog, SessionInfo session, IReadOnlyList<StoredEvent> events, SessionSummary? from = null)
    {
        var builder = new SessionSummaryBuilder(from ?? SessionSummary.Started(), custom: new CustomMetricContext(catalog.Set, session.StartTime.ToUnixTimeMilliseconds(), session.StartTime.ToUnixTimeMilliseconds()));
        foreach (var e in events)
        {
            builder.Add(e, []);
        }

        return builder.Snapshot();
    }

    /// <summary>What a session sends: ratings, purchases with a heavy tail, copies late or early, a funnel reached or not.</summary>
    private static List<StoredEvent> EventsOf(SessionInfo session)
    {
        var n = int.Parse(session.SessionId[1..], CultureInfo.InvariantCulture);
        var start = session.StartTime.ToUnixTimeMilliseconds();
        var events = new List<(string Type, string Data, long At)>
        {
            ("prompt", "{}", start + 1000),
            ("model_response", $$"""{"model":"{{(n % 5 == 0 ? "unknown" : "m1")}}","input_tokens":{{100 * n}},"output_tokens":{{n % 7 * 50}}}""", start + 2000),
            ("rating", $$"""{"score":{{n % 6}}}""", start + 3000),
            ("rating", n % 4 == 0 ? """{"score":"5"}""" : """{"score":4.5}""", start + 4000),
            ("purchase", $$"""{"amount":{{(n % 10 == 0 ? 10_000 : n % 3 * 12.5)}}}""", start + 5000),
        };
        if (n % 3 != 0)
        {
            events.Add(("copy", "{}", start + (n % 2 == 0 ? 10 * 60_000 : 2 * Hour)));
        }

        return [.. events.Select((e, i) => new StoredEvent(i + 1, e.At, e.Type, e.Data, $"{session.SessionId}-{i}", e.At, e.At))];
    }

    private static SessionInfo Session(string id, string user, string group, long startMs) =>
        new(id, user, "cx", group, DateTimeOffset.FromUnixTimeMilliseconds(startMs), null, "{}");

    private static StoredEvent Event(long seq, string type, string data) => new(seq, T0 + seq, type, data, $"e{seq}", T0 + seq, T0 + seq);

    /// <summary>The aggregates of the final rows, computed in memory: by group, sessions one by one, users as the sum of their sessions.</summary>
    private static Dictionary<string, Dictionary<string, MetricMoments>> Expected(MetricCatalog catalog, IEnumerable<(SessionInfo Session, SessionSummary Final)> rows, bool users)
    {
        var expected = new Dictionary<string, Dictionary<string, MetricMoments>>(StringComparer.Ordinal);
        Dictionary<string, MetricMoments> Of(string group) => expected.TryGetValue(group, out var d) ? d : expected[group] = new(StringComparer.Ordinal);
        MetricMoments Moments(string group, string key) => Of(group).TryGetValue(key, out var m) ? m : Of(group)[key] = new MetricMoments();
        if (!users)
        {
            foreach (var (session, final) in rows)
            {
                MetricAggregation.AddChange(catalog.Set, null, final.Custom, key => Moments(session.ModelGroup, key), withBins: true);
            }
        }
        else
        {
            foreach (var user in rows.GroupBy(r => (r.Session.ModelGroup, r.Session.UserId)))
            {
                var sum = user.Aggregate(CustomRow.Empty, (row, r) => row.Plus(r.Final.Custom!));
                MetricAggregation.AddChange(catalog.Set, null, sum, key => Moments(user.Key.ModelGroup, key), withBins: true);
            }
        }

        return expected;
    }

    private static void AssertEqualAggregates(Dictionary<string, Dictionary<string, MetricMoments>> expected, IReadOnlyList<GroupFigures> figures, bool users)
    {
        Assert.Equal(expected.Keys.Order(), figures.Select(f => f.ModelGroup).Order());
        foreach (var group in figures)
        {
            var actual = users ? group.CustomUsers! : group.CustomSessions;
            foreach (var (key, moments) in expected[group.ModelGroup])
            {
                var stored = actual.GetValueOrDefault(key) ?? new MetricMoments();
                var slots = moments.Slots.Select(s => s.Key).Union(stored.Slots.Select(s => s.Key)).Order();
                foreach (var slot in slots)
                {
                    Assert.True(Math.Abs(moments[slot] - stored[slot]) <= 1e-9 * Math.Max(1, Math.Abs(moments[slot])), $"{group.ModelGroup} {(users ? "users" : "sessions")} {key} slot {slot}: expected {moments[slot]}, stored {stored[slot]}");
                }
            }
        }
    }

    private async Task<SqliteSessionStore> OpenAsync(MetricCatalog catalog)
    {
        var store = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }), NullLogger<SqliteSessionStore>.Instance, catalog);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private static MetricCatalog Catalog(Dictionary<string, MetricOptions> metrics) =>
        new(Options.Create(new AnalyticsOptions { Metrics = metrics, Prices = Prices }));
}
