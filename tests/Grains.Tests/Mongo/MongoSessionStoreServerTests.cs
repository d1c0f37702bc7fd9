using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>The adapter against a real server (<see cref="MongoServer"/>), in a database of its own that is dropped afterwards.</summary>
[TestCategory("BVT")]
public sealed class MongoSessionStoreServerTests : IAsyncLifetime
{
    private readonly string _database = "st_test_" + Guid.NewGuid().ToString("N")[..8];
    private MongoSessionStore _store = null!;
    private MongoAnalyticsStore _analytics = null!;
    private string? _uri;

    public async Task InitializeAsync()
    {
        if (MongoServer.SkipReason is not null)
        {
            return;
        }

        // Two aggregate shards: concurrent writers of one hour meet on the same documents.
        _uri = await MongoServer.ConnectionStringAsync();
        var options = Options.Create(new MongoStoreOptions { ConnectionString = _uri, Database = _database, BucketSize = 3, AggregateShards = 2, UseTransactions = Environment.GetEnvironmentVariable("MONGODB_TRANSACTIONS") != "false" });
        _store = new MongoSessionStore(options, NullLogger<MongoSessionStore>.Instance);
        await _store.InitializeAsync(CancellationToken.None);
        _analytics = new MongoAnalyticsStore(options);
    }

    public async Task DisposeAsync()
    {
        if (_uri is not null)
        {
            await new MongoClient(_uri).DropDatabaseAsync(_database);
        }
    }

    [MongoFact]
    public async Task Events_append_across_buckets_read_back_in_pages_and_conflicts_are_refused()
    {
        await _store.CreateSessionAsync(Session("s1", "g"), [], CancellationToken.None);
        await _store.AppendAsync(Flush("s1", 1, 4), CancellationToken.None);
        await _store.AppendAsync(Flush("s1", 5, 8) with { EndTime = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_060_000) }, CancellationToken.None);

        await Assert.ThrowsAsync<StoreConflictException>(() => _store.AppendAsync(Flush("s1", 8, 9), CancellationToken.None));
        var all = await _store.ReadEventsAsync("s1", 0, 100, CancellationToken.None);
        var page = await _store.ReadEventsAsync("s1", 4, 2, CancellationToken.None);
        var snapshot = await _store.LoadSessionAsync("s1", 2, CancellationToken.None);
        var known = await _store.FindStoredClientIdsAsync("s1", ["id-2", "id-99"], CancellationToken.None);
        var hashes = await _store.ReadClientIdHashesAsync("s1", CancellationToken.None);

        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), all.Select(e => e.Seq));
        Assert.Equal([5L, 6L], page.Select(e => e.Seq));
        Assert.Equal(8, snapshot!.LastSeq);
        Assert.Equal(["id-7", "id-8"], snapshot.RecentClientIds.Order());
        Assert.NotNull(snapshot.Session.EndTime);
        Assert.Equal(["id-2"], known);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => ClientIdHash.Of($"id-{i}")).Order(), hashes.Order());
        await Assert.ThrowsAsync<StoreConflictException>(() => _store.CreateSessionAsync(Session("s1", "g"), [], CancellationToken.None));
    }

    [MongoFact]
    public async Task The_guides_pipelines_answer_correctly_on_sessions_and_the_view()
    {
        // Group a: latencies 100, 300 (one session, over two buckets), duration 60 s. Group b: latency 50, duration 30 s
        // and one open session (null duration, ignored by $avg).
        await _store.CreateSessionAsync(Session("a1", "a"), [], CancellationToken.None);
        await _store.CreateSessionAsync(Session("b1", "b"), [], CancellationToken.None);
        await _store.CreateSessionAsync(Session("b2", "b"), [], CancellationToken.None);
        await _store.AppendAsync(new SessionFlush("a1", [Response(1, 100), Click(2), Click(3), Response(4, 300)], [], [], Start.AddSeconds(60)), CancellationToken.None);
        await _store.AppendAsync(new SessionFlush("b1", [Response(1, 50)], [], [], Start.AddSeconds(30)), CancellationToken.None);
        var database = new MongoClient(_uri).GetDatabase(_database);

        var latency = await database.GetCollection<BsonDocument>(MongoDocuments.SessionsWithEventsView).Aggregate<BsonDocument>(MongoDocuments.GuideLatencyPipeline()).ToListAsync();
        var duration = await database.GetCollection<BsonDocument>(MongoDocuments.Sessions).Aggregate<BsonDocument>(MongoDocuments.GuideDurationPipeline()).ToListAsync();

        Assert.Equal(200.0, latency.Single(d => d["_id"] == "a")["avg_latency"].ToDouble());
        Assert.Equal(50.0, latency.Single(d => d["_id"] == "b")["avg_latency"].ToDouble());
        Assert.Equal(60_000.0, duration.Single(d => d["_id"] == "a")["avg_duration_ms"].ToDouble());
        Assert.Equal(30_000.0, duration.Single(d => d["_id"] == "b")["avg_duration_ms"].ToDouble());
    }

    [MongoFact]
    public async Task A_new_session_and_its_flushes_count_once_in_the_aggregates_and_a_replayed_flush_is_a_conflict()
    {
        var session = Session("s1", "g");
        await _store.CreateSessionAsync(session, [], CancellationToken.None);
        var created = Assert.Single(await _analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        var flush = WithReadModel(session, SessionSummary.Started(), [Response(1, 100), Click(2)], null);
        await _store.AppendAsync(flush, CancellationToken.None);

        await Assert.ThrowsAsync<StoreConflictException>(() => _store.AppendAsync(flush with { Events = [] }, CancellationToken.None));
        var figures = Assert.Single(await _analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        var snapshot = await _store.LoadSessionAsync("s1", 0, CancellationToken.None);

        Assert.Equal((1L, 1.0, 0.0), (created.Sessions.Units, created.Sessions.Sum(MetricField.Sessions), created.Sessions.Sum(MetricField.Responses)));
        Assert.Equal((1L, 1.0, 100.0), (figures.Sessions.Units, figures.Sessions.Sum(MetricField.Responses), figures.Sessions.Sum(MetricField.LatencySum)));
        Assert.Equal((1L, 1.0), (figures.Users!.Units, figures.Users.Sum(MetricField.Responses)));
        Assert.Equal(1, figures.LatencyMs.Count);
        Assert.Equal(1, snapshot!.Metrics.ThroughSeq); // the click (seq 2) changes no figure
    }

    [MongoFact]
    public async Task Concurrent_new_sessions_and_flushes_of_one_hour_are_all_counted()
    {
        var sessions = Enumerable.Range(0, 40).Select(i => Session($"c{i}", "g") with { UserId = $"u{i % 7}" }).ToArray();
        await Task.WhenAll(sessions.Select(s => _store.CreateSessionAsync(s, [], CancellationToken.None)));
        await Task.WhenAll(sessions.Select(s => _store.AppendAsync(WithReadModel(s, SessionSummary.Started(), [Response(1, 200), Response(2, 300)], Start.AddSeconds(5)), CancellationToken.None)));

        var figures = Assert.Single(await _analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));

        Assert.Equal((40L, 40.0, 80.0), (figures.Sessions.Units, figures.Sessions.Sum(MetricField.Ended), figures.Sessions.Sum(MetricField.Responses)));
        Assert.Equal((7L, 40.0), (figures.Users!.Units, figures.Users.Sum(MetricField.Sessions)));
        Assert.Equal((80L, 40L), (figures.LatencyMs.Count, figures.DurationMs.Count));
    }

    private static SessionFlush WithReadModel(SessionInfo session, SessionSummary durable, StoredEvent[] events, DateTimeOffset? end)
    {
        var builder = new SessionSummaryBuilder(durable);
        var samples = new List<MetricSample>();
        foreach (var e in events)
        {
            builder.Add(e, samples);
        }

        if (end is { } endTime)
        {
            builder.End(session.StartTime, endTime, samples);
        }

        return new SessionFlush(session.SessionId, events, [], [], end, session, new ReadModelUpdate(durable, builder.Snapshot(), samples));
    }

    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000);

    private static SessionInfo Session(string id, string group) => new(id, "u", "e", group, Start, null, "{}");

    private static StoredEvent Response(long seq, int latency) => new(seq, 1, "model_response", $$"""{"latency_ms":{{latency}}}""", $"r{seq}", 1);

    private static StoredEvent Click(long seq) => new(seq, 1, "click", "{}", $"c{seq}", 1);

    private static SessionFlush Flush(string sessionId, int from, int to) => new(
        sessionId,
        [.. Enumerable.Range(from, to - from + 1).Select(i => new StoredEvent(i, 1_730_000_000_000 + i, "click", "{}", $"id-{i}", 1_730_000_000_000 + i))],
        [],
        [],
        null);
}
