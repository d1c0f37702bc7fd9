using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Configuration;
using MongoDB.Driver.Core.Events;
using SessionTracking.Analytics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Issue 32's MongoDB findings against a real server (<see cref="MongoServer"/>), each in a database of its own that
/// is dropped afterwards. Skipped where no server is reachable; the server-independent halves are in
/// <see cref="MongoPoisonDataTests"/>, <see cref="MongoConnectionTests"/> and <see cref="MongoDocumentTests"/>.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoResilienceServerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000);
    private readonly string _database = "st_i32_" + Guid.NewGuid().ToString("N")[..8];
    private string? _uri;

    public async Task InitializeAsync()
    {
        if (MongoServer.SkipReason is null)
        {
            _uri = await MongoServer.ConnectionStringAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_uri is not null)
        {
            await new MongoClient(_uri).DropDatabaseAsync(_database);
        }
    }

    [MongoFact]
    public async Task Poison_data_is_stored_and_read_back_exported_and_reloaded_exactly_as_accepted()
    {
        var store = await StartAsync(Options());
        var analytics = new MongoAnalyticsStore(Microsoft.Extensions.Options.Options.Create(Options()));
        var poison = ((IEnumerable<object[]>)MongoPoisonDataTests.Poison).Select(row => (string)row[0]).ToArray();
        await store.CreateSessionAsync(Session("p1") with { EnvironmentJson = poison[0] }, [], CancellationToken.None);
        var events = poison.Select((json, i) => new StoredEvent(i + 1, 1, "model_response", json, null, 1)).ToArray();

        await store.AppendAsync(new SessionFlush("p1", events, [], [new LegacyEvent("u", "p1", "custom", poison[3], Start)], null), CancellationToken.None);
        var read = await store.ReadEventsAsync("p1", 0, 1000, CancellationToken.None);
        var exported = await analytics.ExportEventsAsync(new AnalyticsFilter(), CancellationToken.None).ToListAsync();
        var snapshot = await store.LoadSessionAsync("p1", 10, CancellationToken.None);
        var latency = await Database().GetCollection<BsonDocument>(MongoDocuments.SessionsWithEventsView).Aggregate<BsonDocument>(MongoDocuments.GuideLatencyPipeline()).ToListAsync();

        Assert.Equal(poison, read.Select(e => e.DataJson));
        Assert.Equal(poison, exported.Select(e => e.DataJson));
        Assert.Equal(poison[0], snapshot!.Session.EnvironmentJson);
        Assert.Equal(events.Length, snapshot.LastSeq);
        // Only {"a":1,"a":2,"latency_ms":3,"latency_ms":4} has a numeric latency_ms: the projection holds 4, as the grain counts it.
        Assert.Equal(4.0, Assert.Single(latency)["avg_latency"].ToDouble());
    }

    [MongoFact]
    public async Task Five_hundred_events_of_64_KiB_fill_buckets_below_the_byte_bound_and_stay_readable_and_conflict_checked()
    {
        var options = Options();
        var store = await StartAsync(options);
        var data = $$"""{"text":"{{new string('x', 64 * 1024)}}"}""";
        await store.CreateSessionAsync(Session("big"), [], CancellationToken.None);

        await store.AppendAsync(new SessionFlush("big", [.. Enumerable.Range(1, 500).Select(i => new StoredEvent(i, 1, "model_response", data, $"id-{i}", 1))], [], [], null), CancellationToken.None);
        await store.AppendAsync(new SessionFlush("big", [.. Enumerable.Range(501, 10).Select(i => new StoredEvent(i, 1, "click", "{}", $"id-{i}", 1))], [], [], null), CancellationToken.None);
        var sizes = await Database().GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection)
            .Aggregate<BsonDocument>(new BsonDocument[] { new("$project", new BsonDocument { { "size", new BsonDocument("$bsonSize", "$$ROOT") }, { "bytes", 1 }, { "count", 1 } }) })
            .ToListAsync();
        var read = await store.ReadEventsAsync("big", 0, 1000, CancellationToken.None);
        var page = await store.ReadEventsAsync("big", 498, 5, CancellationToken.None);

        Assert.True(sizes.Count >= 4, $"{sizes.Count} buckets");
        Assert.All(sizes, d => Assert.True(d["size"].ToInt32() <= options.MaxBucketBytes + 4096, $"{d["size"]} bytes"));
        Assert.Equal(510, sizes.Sum(d => d["count"].ToInt32()));
        Assert.Equal(Enumerable.Range(1, 510).Select(i => (long)i), read.Select(e => e.Seq));
        Assert.Equal([499L, 500L, 501L, 502L, 503L], page.Select(e => e.Seq));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AppendAsync(new SessionFlush("big", [new StoredEvent(505, 1, "click", "{}", null, 1)], [], [], null), CancellationToken.None));
    }

    [MongoFact]
    public async Task The_commit_of_a_flush_carries_the_configured_write_concern()
    {
        var commands = new List<BsonDocument>();
        var store = await StartAsync(Options(), cluster => cluster.Subscribe<CommandStartedEvent>(e =>
        {
            if (e.CommandName is "commitTransaction" or "update" or "insert")
            {
                lock (commands)
                {
                    commands.Add(e.Command.DeepClone().AsBsonDocument);
                }
            }
        }));
        lock (commands)
        {
            commands.Clear();
        }

        await store.CreateSessionAsync(Session("wc"), [], CancellationToken.None);
        await store.AppendAsync(new SessionFlush("wc", [new StoredEvent(1, 1, "click", "{}", null, 1)], [], [], null), CancellationToken.None);

        var commits = commands.Where(c => c.GetElement(0).Name == "commitTransaction").ToList();
        Assert.Equal(2, commits.Count);
        Assert.All(commits, c =>
        {
            Assert.Equal("majority", c["writeConcern"]["w"].AsString);
            Assert.True(c["writeConcern"]["j"].ToBoolean());
            Assert.Equal(10_000, c["writeConcern"]["wtimeout"].ToInt32());
        });
        // Inside the transaction no write names its own concern: the commit's is the one that counts.
        Assert.All(commands.Where(c => c.GetElement(0).Name != "commitTransaction"), c => Assert.False(c.Contains("writeConcern")));
    }

    [MongoFact]
    public async Task Buckets_of_the_arithmetic_layout_are_migrated_read_and_extended_and_a_changed_bucket_size_keeps_working()
    {
        await SeedOldLayoutAsync(["o1"], eventsPerSession: 5, oldBucketSize: 3);

        var small = await StartAsync(Options(bucketSize: 3));
        var loaded = await small.LoadSessionAsync("o1", 2, CancellationToken.None);
        var old = await small.ReadEventsAsync("o1", 0, 100, CancellationToken.None);
        await small.AppendAsync(new SessionFlush("o1", [.. Enumerable.Range(6, 3).Select(i => Click(i))], [], [], null), CancellationToken.None);
        var larger = await StartAsync(Options(bucketSize: 10));
        await larger.AppendAsync(new SessionFlush("o1", [.. Enumerable.Range(9, 4).Select(i => Click(i))], [], [], null), CancellationToken.None);
        var all = await larger.ReadEventsAsync("o1", 0, 100, CancellationToken.None);
        var layout = await Database().GetCollection<BsonDocument>(MongoStartup.MetadataCollection).Find(new BsonDocument("_id", MongoStartup.LayoutId)).SingleAsync();
        var indexes = await (await Database().GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection).Indexes.ListAsync()).ToListAsync();

        Assert.Equal(5, loaded!.LastSeq);
        Assert.Equal(["id-4", "id-5"], loaded.RecentClientIds.Order());
        Assert.Equal("""{ "latency_ms" : 1 }""", old[0].DataJson);
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (long)i), all.Select(e => e.Seq));
        Assert.Equal((2, 10), (layout["layout"].ToInt32(), layout["max_events"].ToInt32()));
        Assert.DoesNotContain(indexes, i => i["name"].AsString == "session_id_1_bucket_1");
        await Assert.ThrowsAsync<StoreConflictException>(() => larger.AppendAsync(new SessionFlush("o1", [Click(12)], [], [], null), CancellationToken.None));
        await Assert.ThrowsAsync<StoreConflictException>(() => larger.AppendAsync(new SessionFlush("o1", [Click(5)], [], [], null), CancellationToken.None));
    }

    [MongoFact]
    public async Task Stores_starting_together_on_an_old_database_create_views_and_indexes_and_build_the_read_model_once()
    {
        var ids = Enumerable.Range(0, 30).Select(i => $"r{i:D2}").ToArray();
        await SeedOldLayoutAsync(ids, eventsPerSession: 4, oldBucketSize: 3);

        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => StartAsync(Options())));
        var analytics = new MongoAnalyticsStore(Microsoft.Extensions.Options.Options.Create(Options()));
        var figures = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        var lease = await Database().GetCollection<BsonDocument>(MongoReadModelDocuments.Metadata).CountDocumentsAsync(new BsonDocument("_id", MongoReadModelBackfill.LeaseId));

        Assert.Equal(30L, figures.Sessions.Units);
        Assert.Equal(30.0 * 4, figures.Sessions.Sum(MetricField.Responses));
        Assert.Equal(30L * 4, figures.LatencyMs.Count);
        Assert.Equal(0, lease);
    }

    [MongoFailPointFact]
    public async Task A_commit_whose_result_is_unknown_stores_the_flush_and_its_legacy_rows_once()
    {
        var store = await StartAsync(Options());
        await store.CreateSessionAsync(Session("u1"), [], CancellationToken.None);
        var query = new QueryRow("u1", "u", "g", "q", "r", "m", "p", 5, "[]", Start);
        var flush = new SessionFlush("u1", [Click(1), Click(2) with { ClientId = null }], [query], [new LegacyEvent("u", "u1", "x", "{}", Start)], null);

        // The commit runs, then answers with a write concern error: the driver labels it UnknownTransactionCommitResult
        // and commits again, which the server answers from the transaction already committed.
        await FailPointAsync("commitTransaction", new BsonDocument("writeConcernError", new BsonDocument { { "code", 91 }, { "errmsg", "Replication is being shut down" } }));
        await store.AppendAsync(flush, CancellationToken.None);
        // The grain's retry of the same flush after a failure it could not tell from a loss: refused, nothing added.
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AppendAsync(flush, CancellationToken.None));

        Assert.Equal(1, await Database().GetCollection<BsonDocument>(MongoDocuments.Queries).CountDocumentsAsync(new BsonDocument("session_id", "u1")));
        Assert.Equal(1, await Database().GetCollection<BsonDocument>(MongoDocuments.Events).CountDocumentsAsync(new BsonDocument("session_id", "u1")));
        Assert.Equal([1L, 2L], (await store.ReadEventsAsync("u1", 0, 10, CancellationToken.None)).Select(e => e.Seq));
    }

    [MongoFailPointFact]
    public async Task A_write_conflict_reruns_the_flush_and_it_is_counted_once()
    {
        var store = await StartAsync(Options());
        var analytics = new MongoAnalyticsStore(Microsoft.Extensions.Options.Options.Create(Options()));
        var session = Session("w1");
        await store.CreateSessionAsync(session, [], CancellationToken.None);

        await FailPointAsync("findAndModify", new BsonDocument { { "errorCode", 112 }, { "errorLabels", new BsonArray { "TransientTransactionError" } } });
        await store.AppendAsync(WithReadModel(session, [Response(1, 100)]), CancellationToken.None);
        var figures = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: false, CancellationToken.None));

        Assert.Equal((1L, 1.0, 100.0), (figures.Sessions.Units, figures.Sessions.Sum(MetricField.Responses), figures.Sessions.Sum(MetricField.LatencySum)));
        Assert.Single(await store.ReadEventsAsync("w1", 0, 10, CancellationToken.None));
    }

    [MongoFact]
    public async Task A_heavy_users_deletion_spans_batches_and_leaves_nothing_of_the_user_counted()
    {
        var store = await StartAsync(Options(bucketSize: 3));
        var analytics = new MongoAnalyticsStore(Microsoft.Extensions.Options.Options.Create(Options(bucketSize: 3))) { SessionsPerDeletion = 2, BucketsPerDeletion = 4, LegacyRowsPerDeletion = 3 };
        foreach (var (id, user) in Enumerable.Range(0, 5).Select(i => ($"h{i}", "heavy")).Append(("o", "other")))
        {
            var session = Session(id) with { UserId = user };
            await store.CreateSessionAsync(session, [], CancellationToken.None);
            var events = Enumerable.Range(1, 7).Select(i => Response(i, 100 * i)).ToArray();
            var queries = Enumerable.Range(0, 4).Select(i => new QueryRow(id, user, "g", "q", "r", "m", "p", 5, "[]", Start)).ToList();
            await store.AppendAsync(WithReadModel(session, events) with { Queries = queries }, CancellationToken.None);
        }

        var deletion = await analytics.DeleteUserAsync("heavy", CancellationToken.None);
        var again = await analytics.DeleteUserAsync("heavy", CancellationToken.None);
        var figures = Assert.Single(await analytics.ReadGroupFiguresAsync(null, null, null, usersAsUnits: true, CancellationToken.None));
        var left = await Database().GetCollection<BsonDocument>(MongoReadModelDocuments.UserSummaries).CountDocumentsAsync(new BsonDocument("user_id", "heavy"));

        Assert.Equal(new UserDeletion("heavy", 5, 35, 20, 0), deletion);
        Assert.Equal(new UserDeletion("heavy", 0, 0, 0, 0), again);
        Assert.Equal((1L, 7.0), (figures.Sessions.Units, figures.Sessions.Sum(MetricField.Responses)));
        Assert.Equal((1L, 1.0), (figures.Users!.Units, figures.Users.Sum(MetricField.Sessions)));
        Assert.Equal(7, figures.LatencyMs.Count);
        Assert.Equal(0, left);
        Assert.Empty(await analytics.SessionIdsOfUserAsync("heavy", CancellationToken.None));
    }

    [MongoFact]
    public async Task Listing_and_exporting_sessions_are_served_by_indexes_without_an_in_memory_sort()
    {
        await StartAsync(Options());
        var database = Database();
        foreach (var pipeline in new[]
        {
            MongoAnalyticsPipelines.ListSessions(new AnalyticsFilter(), 50),
            MongoAnalyticsPipelines.ListSessions(new AnalyticsFilter(ExperimentId: "e"), 50),
            MongoAnalyticsPipelines.ExportSessions(new AnalyticsFilter()),
        })
        {
            var explain = await database.RunCommandAsync<BsonDocument>(new BsonDocument
            {
                { "explain", new BsonDocument { { "aggregate", MongoDocuments.Sessions }, { "pipeline", new BsonArray(pipeline) }, { "cursor", new BsonDocument() } } },
                { "verbosity", "queryPlanner" },
            });

            Assert.DoesNotContain("\"SORT\"", explain.ToJson(), StringComparison.Ordinal);
        }
    }

    [MongoFact]
    public async Task Readiness_needs_an_acknowledged_write_and_an_unsatisfiable_write_concern_fails_fast_as_unavailable()
    {
        var healthy = await StartAsync(Options());
        var unsatisfiable = new MongoStoreOptions { ConnectionString = _uri, Database = _database, WriteConcern = "50", OperationTimeout = TimeSpan.FromSeconds(2), HealthTimeout = TimeSpan.FromSeconds(1) };
        var blocked = new MongoSessionStore(Microsoft.Extensions.Options.Options.Create(unsatisfiable), NullLogger<MongoSessionStore>.Instance);
        var started = DateTime.UtcNow;

        Assert.True(await healthy.IsHealthyAsync(CancellationToken.None));
        Assert.False(await blocked.IsHealthyAsync(CancellationToken.None));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => blocked.CreateSessionAsync(Session("x"), [], CancellationToken.None));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
    }

    [MongoStandaloneFact]
    public async Task A_standalone_server_is_refused_at_start_up_while_transactions_are_on()
    {
        var uri = await MongoServer.StandaloneConnectionStringAsync();
        var options = new MongoStoreOptions { ConnectionString = uri, Database = _database };
        var store = new MongoSessionStore(Microsoft.Extensions.Options.Options.Create(options), NullLogger<MongoSessionStore>.Instance);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(CancellationToken.None));

        Assert.Contains("Storage:Mongo:UseTransactions", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await (await new MongoClient(uri).GetDatabase(_database).ListCollectionNamesAsync()).ToListAsync());
    }

    private MongoStoreOptions Options(int bucketSize = 500) => new()
    {
        ConnectionString = _uri,
        Database = _database,
        BucketSize = bucketSize,
        AggregateShards = 2,
        UseTransactions = Environment.GetEnvironmentVariable("MONGODB_TRANSACTIONS") != "false",
    };

    private async Task<MongoSessionStore> StartAsync(MongoStoreOptions options, Action<ClusterBuilder>? cluster = null)
    {
        var store = new MongoSessionStore(Microsoft.Extensions.Options.Options.Create(options), NullLogger<MongoSessionStore>.Instance, cluster);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    private IMongoDatabase Database() => new MongoClient(_uri).GetDatabase(_database);

    /// <summary>Fails the next <paramref name="command"/> once, as <paramref name="data"/> says (needs enableTestCommands).</summary>
    private async Task FailPointAsync(string command, BsonDocument data) =>
        await new MongoClient(_uri).GetDatabase("admin").RunCommandAsync<BsonDocument>(new BsonDocument
        {
            { "configureFailPoint", "failCommand" },
            { "mode", new BsonDocument("times", 1) },
            { "data", new BsonDocument("failCommands", new BsonArray { command }).AddRange(data) },
        });

    /// <summary>
    /// A database as the adapter wrote it before lossless data and byte-bounded buckets: sessions without a summary (before the read model), bucket
    /// <c>_id</c>s "session:index" with <c>bucket</c>, BSON <c>data</c>, no <c>bytes</c>, and the old unique index.
    /// </summary>
    private async Task SeedOldLayoutAsync(IReadOnlyList<string> sessionIds, int eventsPerSession, int oldBucketSize)
    {
        var database = Database();
        var sessions = database.GetCollection<BsonDocument>(MongoDocuments.Sessions);
        var buckets = database.GetCollection<BsonDocument>(MongoDocuments.EventBucketsCollection);
        await buckets.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(Builders<BsonDocument>.IndexKeys.Ascending("session_id").Ascending("bucket"), new CreateIndexOptions { Unique = true }));
        foreach (var id in sessionIds)
        {
            var document = MongoDocuments.Session(Session(id));
            document.Remove("summary");
            document.Remove("environment_json");
            await sessions.InsertOneAsync(document);
            for (var first = 1; first <= eventsPerSession; first += oldBucketSize)
            {
                var last = Math.Min(eventsPerSession, first + oldBucketSize - 1);
                var events = new BsonArray(Enumerable.Range(first, last - first + 1).Select(seq => new BsonDocument
                {
                    { "t", 1L }, { "type", "model_response" }, { "data", new BsonDocument("latency_ms", 1) }, { "seq", (long)seq }, { "received_at", 1L }, { "id", $"id-{seq}" },
                }));
                var bucket = (first - 1) / oldBucketSize;
                await buckets.InsertOneAsync(new BsonDocument
                {
                    { "_id", $"{id}:{bucket}" }, { "session_id", id }, { "bucket", (long)bucket }, { "first_seq", (long)first }, { "last_seq", (long)last }, { "count", events.Count }, { "events", events },
                });
            }
        }
    }

    private static SessionInfo Session(string id) => new(id, "u", "e", "g", Start, null, "{}");

    private static StoredEvent Click(long seq) => new(seq, 1, "click", "{}", $"id-{seq}", 1);

    private static StoredEvent Response(long seq, int latency) => new(seq, 1, "model_response", $$"""{"latency_ms":{{latency}}}""", $"r{seq}", 1);

    private static SessionFlush WithReadModel(SessionInfo session, StoredEvent[] events)
    {
        var builder = new SessionSummaryBuilder(SessionSummary.Started());
        var samples = new List<MetricSample>();
        foreach (var e in events)
        {
            builder.Add(e, samples);
        }

        return new SessionFlush(session.SessionId, events, [], [], null, session, new ReadModelUpdate(SessionSummary.Started(), builder.Snapshot(), samples));
    }
}
