using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.Grains.Tests.Mongo;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>The SQLite read model: versioned summaries, aggregates by hour with exact edges, the start-up backfill.</summary>
[TestCategory("BVT")]
public sealed class SqliteReadModelTests : IAsyncLifetime
{
    private const long Hour = 3_600_000;
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-read-model");
    private SqliteSessionStore _store = null!;
    private SqliteAnalyticsStore _analytics = null!;

    private string DatabasePath => Path.Combine(_directory, "sessions.db");

    public async Task InitializeAsync()
    {
        (_store, _analytics) = await OpenAsync();
        await AnalyticsDataset.SeedAsync(_store);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_replayed_flush_is_a_conflict_and_counts_nothing_twice()
    {
        var session = new SessionInfo("r1", "ursula", "exp-r", "g", AnalyticsDataset.Time(AnalyticsDataset.T0), null, "{}");
        await _store.CreateSessionAsync(session, [], CancellationToken.None);
        var builder = new SessionSummaryBuilder(SessionSummary.Started());
        var samples = new List<MetricSample>();
        var response = new StoredEvent(1, 1, "model_response", """{"latency_ms":250}""", "r1-1", 1);
        builder.Add(response, samples);
        var flush = new SessionFlush("r1", [response], [], [], null, session, new ReadModelUpdate(SessionSummary.Started(), builder.Snapshot(), samples));
        await _store.AppendAsync(flush, CancellationToken.None);
        var before = await FiguresAsync("exp-r");

        // The same flush again (a retry after a lost answer, or a second activation) and an end-only flush that starts
        // from a version the store no longer has: both conflict, and the figures do not move.
        await Assert.ThrowsAsync<StoreConflictException>(() => _store.AppendAsync(flush, CancellationToken.None));
        var end = new List<MetricSample>();
        builder.End(session.StartTime, session.StartTime.AddSeconds(5), end);
        var stale = new SessionFlush("r1", [], [], [], session.StartTime.AddSeconds(5), session, new ReadModelUpdate(SessionSummary.Started(), builder.Snapshot(), end));
        await Assert.ThrowsAsync<StoreConflictException>(() => _store.AppendAsync(stale, CancellationToken.None));

        var after = await FiguresAsync("exp-r");
        Assert.Equal(before.Sessions.ToBytes(), after.Sessions.ToBytes());
        Assert.Equal(before.Users!.ToBytes(), after.Users!.ToBytes());
        Assert.Equal(1, after.LatencyMs.Count);
        Assert.Equal(0, after.DurationMs.Count);
        Assert.Equal(250, after.Sessions.Sum(MetricField.LatencySum));
    }

    [Fact]
    public async Task A_flush_of_interactions_alone_leaves_the_read_model_alone_and_the_next_figure_counts()
    {
        var session = new SessionInfo("i1", "iris", "exp-i", "g", AnalyticsDataset.Time(AnalyticsDataset.T0), null, "{}");
        await _store.CreateSessionAsync(session, [], CancellationToken.None);
        var durable = SessionSummary.Started();
        var builder = new SessionSummaryBuilder(durable);
        var samples = new List<MetricSample>();
        StoredEvent[] clicks = [new(1, 1, "click", "{}", null, 1), new(2, 2, "scroll", "{}", null, 2)];
        foreach (var e in clicks)
        {
            builder.Add(e, samples);
        }

        var update = new ReadModelUpdate(durable, builder.Snapshot(), samples);
        Assert.False(update.ChangesFigures);
        await _store.AppendAsync(new SessionFlush("i1", clicks, [], [], null, session, update), CancellationToken.None);
        Assert.Equal(0, (await _store.LoadSessionAsync("i1", 10, CancellationToken.None))!.Metrics.ThroughSeq);

        var prompt = new StoredEvent(3, 3, "prompt", "{}", null, 3);
        builder.Add(prompt, samples);
        await _store.AppendAsync(new SessionFlush("i1", [prompt], [], [], null, session, new ReadModelUpdate(durable, builder.Snapshot(), samples)), CancellationToken.None);
        var loaded = (await _store.LoadSessionAsync("i1", 10, CancellationToken.None))!;
        Assert.Equal((3L, 3L, 1.0), (loaded.LastSeq, loaded.Metrics.ThroughSeq, loaded.Metrics[MetricField.Prompts]));
        Assert.Equal(1, (await FiguresAsync("exp-i")).Sessions.Sum(MetricField.Prompts));
    }

    /// <summary>Windows that cut hours (edges read session by session) and span whole hours (read from the aggregates).</summary>
    [Theory]
    [InlineData(null, null)]
    [InlineData(AnalyticsDataset.T0 + 500, AnalyticsDataset.T0 + (2 * AnalyticsDataset.Day) + 15)]
    [InlineData(AnalyticsDataset.T0 - Hour, AnalyticsDataset.T0 + AnalyticsDataset.Day + Hour)]
    [InlineData(AnalyticsDataset.T0 + 1000, AnalyticsDataset.T0 + 2000)]
    [InlineData(null, AnalyticsDataset.T0 + AnalyticsDataset.Day)]
    [InlineData(AnalyticsDataset.T0 + 1, null)]
    public async Task Any_window_equals_the_sum_of_the_summaries_of_the_sessions_starting_in_it(long? from, long? to)
    {
        var figures = await _analytics.ReadGroupFiguresAsync(null, Time(from), Time(to), usersAsUnits: true, CancellationToken.None);
        var expected = SumOfSummaries(from ?? long.MinValue, to ?? long.MaxValue);

        Assert.Equal(expected.Keys.Order(), figures.Select(f => (f.ExperimentId, f.ModelGroup)));
        foreach (var f in figures)
        {
            var (sessions, users) = expected[(f.ExperimentId, f.ModelGroup)];
            Assert.Equal(sessions.ToBytes(), f.Sessions.ToBytes());
            Assert.Equal(users.ToBytes(), f.Users!.ToBytes());
        }
    }

    [Fact]
    public async Task The_start_up_backfill_rebuilds_what_the_flushes_built()
    {
        var windows = new (long? From, long? To)[] { (null, null), (AnalyticsDataset.T0 + 500, AnalyticsDataset.T0 + (2 * AnalyticsDataset.Day) + 15) };
        var incremental = new List<IReadOnlyList<GroupFigures>>();
        foreach (var (from, to) in windows)
        {
            incremental.Add(await _analytics.ReadGroupFiguresAsync(null, Time(from), Time(to), usersAsUnits: true, CancellationToken.None));
        }

        // A database from before the read model: its tables emptied and its version reset.
        await _store.DisposeAsync();
        await using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM session_summaries; DELETE FROM user_summaries; DELETE FROM experiment_moments; DELETE FROM experiment_sketch_bins; PRAGMA user_version = 0;";
            command.ExecuteNonQuery();
        }

        (_store, _analytics) = await OpenAsync();
        for (var i = 0; i < windows.Length; i++)
        {
            var rebuilt = await _analytics.ReadGroupFiguresAsync(null, Time(windows[i].From), Time(windows[i].To), usersAsUnits: true, CancellationToken.None);
            Assert.Equal(incremental[i].Select(f => (f.ExperimentId, f.ModelGroup)), rebuilt.Select(f => (f.ExperimentId, f.ModelGroup)));
            foreach (var (before, after) in incremental[i].Zip(rebuilt))
            {
                Assert.Equal(before.Sessions.ToBytes(), after.Sessions.ToBytes());
                Assert.Equal(before.Users!.ToBytes(), after.Users!.ToBytes());
                foreach (var metric in Enum.GetValues<QuantileMetric>())
                {
                    Assert.Equal(before.Sketch(metric).Bins, after.Sketch(metric).Bins);
                }
            }
        }

        // Once: the version is recorded, and a grain's activation finds each session's summary.
        var snapshot = await _store.LoadSessionAsync("d1", 10, CancellationToken.None);
        Assert.Equal(35, snapshot!.Metrics.ThroughSeq);
        Assert.True(snapshot.Metrics.Ended);
    }

    [Fact]
    public async Task Deleting_a_user_takes_their_sessions_out_of_every_aggregate()
    {
        await _analytics.DeleteUserAsync("alice", CancellationToken.None);

        var figures = await _analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None);
        var expected = SumOfSummaries(long.MinValue, long.MaxValue);
        foreach (var f in figures)
        {
            var (sessions, users) = expected.TryGetValue((f.ExperimentId, f.ModelGroup), out var e) ? e : (new Moments(), new Moments());
            Assert.Equal(sessions.ToBytes(), f.Sessions.ToBytes());
            Assert.Equal(users.ToBytes(), f.Users!.ToBytes());
        }

        // exp-a control had alice's c1 (one latency of 1000 ms) among 5 values: 2000, 3000 (c2), 4000 (c4) and 1500 (c5)
        // remain, in the sessions c2, c3, c4 and c5 of three users.
        var control = figures.Single(f => f is { ExperimentId: "exp-a", ModelGroup: "control" });
        Assert.Equal(4, control.LatencyMs.Count);
        Assert.Equal(4, control.Sessions.Units);
        Assert.Equal(3, control.Users!.Units);
    }

    /// <summary>The expected figures, straight from the session summaries: the units summed in C#.</summary>
    private Dictionary<(string, string), (Moments Sessions, Moments Users)> SumOfSummaries(long from, long to)
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT s.experiment_id, s.model_group, s.user_id, {string.Join(", ", MetricFields.Columns.Select(c => "m." + c))} FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id WHERE s.start_time >= $from AND s.start_time < $to";
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        var sessions = new Dictionary<(string, string), Moments>();
        var users = new Dictionary<(string, string, string), double[]>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var values = Enumerable.Range(0, MetricFields.Count).Select(i => reader.GetDouble(3 + i)).ToArray();
            var key = (reader.GetString(0), reader.GetString(1));
            (sessions.TryGetValue(key, out var m) ? m : sessions[key] = new Moments()).Add(values);
            var userKey = (key.Item1, key.Item2, reader.GetString(2));
            users[userKey] = users.TryGetValue(userKey, out var sum) ? [.. sum.Zip(values, (a, b) => a + b)] : values;
        }

        var result = sessions.ToDictionary(s => s.Key, s => (s.Value, new Moments()));
        foreach (var ((experiment, group, _), values) in users)
        {
            result[(experiment, group)].Item2.Add(values);
        }

        return result;
    }

    private async Task<GroupFigures> FiguresAsync(string experiment) =>
        Assert.Single(await _analytics.ReadGroupFiguresAsync(experiment, null, null, usersAsUnits: true, CancellationToken.None));

    private async Task<(SqliteSessionStore, SqliteAnalyticsStore)> OpenAsync()
    {
        var options = Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath });
        var store = new SqliteSessionStore(options, NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return (store, new SqliteAnalyticsStore(options, store));
    }

    private static DateTimeOffset? Time(long? ms) => ms is { } value ? DateTimeOffset.FromUnixTimeMilliseconds(value) : null;
}
