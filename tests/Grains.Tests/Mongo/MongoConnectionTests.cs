using System.Net;
using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Clusters;
using MongoDB.Driver.Core.Connections;
using MongoDB.Driver.Core.Servers;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Issue 32 without a server: the transaction options, concerns and refusals built from the options, the adapter
/// boundary's error mapping and timeout, the layout decision at start-up, and the keys that make retries harmless.
/// </summary>
[TestCategory("BVT")]
public sealed class MongoConnectionTests
{
    [Fact]
    public void Transactions_carry_the_configured_write_concern_read_concern_and_commit_time()
    {
        var options = new MongoStoreOptions { ConnectionString = "mongodb://localhost/?replicaSet=rs0", OperationTimeout = TimeSpan.FromSeconds(7) };

        var transaction = MongoConnection.Transaction(options);
        var snapshot = MongoConnection.Transaction(new MongoStoreOptions { ReadConcern = "snapshot" });
        var twoNodes = MongoConnection.Transaction(new MongoStoreOptions { WriteConcern = "2", Journal = false, OperationTimeout = TimeSpan.FromSeconds(7) });

        Assert.Equal(new WriteConcern("majority", wTimeout: TimeSpan.FromSeconds(7), journal: true), transaction.WriteConcern);
        Assert.Equal(("majority", true, 7000), Rendered(transaction.WriteConcern));
        Assert.Equal(ReadConcern.Majority, transaction.ReadConcern);
        Assert.Equal(ReadPreference.Primary, transaction.ReadPreference);
        Assert.Equal(TimeSpan.FromSeconds(7), transaction.MaxCommitTime);
        Assert.Equal(ReadConcern.Snapshot, snapshot.ReadConcern);
        Assert.Equal(("2", false, 7000), Rendered(twoNodes.WriteConcern));
        Assert.Equal(ReadConcern.Snapshot, MongoConnection.Transaction(options, ReadConcern.Snapshot).ReadConcern);
    }

    /// <summary>The write concern as the server receives it: w, j, wtimeout.</summary>
    private static (string W, bool J, int WTimeout) Rendered(WriteConcern concern)
    {
        var d = concern.ToBsonDocument();
        return (d["w"].ToString()!, d["j"].ToBoolean(), d["wtimeout"].ToInt32());
    }

    [Theory]
    [InlineData("mongodb://h1,h2/?replicaSet=rs0", false)]
    [InlineData("mongodb://h1/?readPreference=primary", false)]
    [InlineData("mongodb://h1,h2/?replicaSet=rs0&readPreference=secondaryPreferred", true)]
    [InlineData("mongodb://h1/?readPreference=primaryPreferred", true)]
    [InlineData("mongodb://h1/?readPreference=nearest", true)]
    public void A_read_preference_other_than_primary_is_refused_naming_the_setting(string url, bool refused)
    {
        var reason = MongoConnection.RefuseConnectionString(url);

        Assert.Equal(refused, reason is not null);
        if (refused)
        {
            Assert.Contains("readPreference", reason, StringComparison.Ordinal);
            Assert.Contains("Storage:Mongo:ConnectionString", reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Start_up_refuses_a_secondary_read_preference_before_contacting_any_server()
    {
        // Port 1 on localhost: no server. The refusal must come first, as InvalidOperationException, not a timeout.
        var options = new MongoStoreOptions { ConnectionString = "mongodb://127.0.0.1:1/?readPreference=secondaryPreferred&serverSelectionTimeoutMS=200" };
        var store = new MongoSessionStore(Microsoft.Extensions.Options.Options.Create(options), Microsoft.Extensions.Logging.Abstractions.NullLogger<MongoSessionStore>.Instance);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(CancellationToken.None));

        Assert.Contains("readPreference=SecondaryPreferred", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_reachable_server_every_call_fails_as_unavailable_within_the_operation_timeout()
    {
        var options = new MongoStoreOptions { ConnectionString = "mongodb://127.0.0.1:1/?replicaSet=rs0", OperationTimeout = TimeSpan.FromMilliseconds(300), HealthTimeout = TimeSpan.FromMilliseconds(300) };
        var store = new MongoSessionStore(Microsoft.Extensions.Options.Options.Create(options), Microsoft.Extensions.Logging.Abstractions.NullLogger<MongoSessionStore>.Instance);
        var started = DateTime.UtcNow;

        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.AppendAsync(new SessionFlush("s", [new StoredEvent(1, 1, "click", "{}", null, 1)], [], [], null), CancellationToken.None));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.ReadEventsAsync("s", 0, 10, CancellationToken.None));
        Assert.False(await store.IsHealthyAsync(CancellationToken.None));

        // The driver's default server selection timeout is 30 s: only the adapter's own limit ends these calls sooner.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), $"{DateTime.UtcNow - started}");
    }

    [Theory]
    [InlineData("""{ isWritablePrimary: true, maxWireVersion: 21 }""", true, true)]
    [InlineData("""{ isWritablePrimary: true, maxWireVersion: 21 }""", false, false)]
    [InlineData("""{ isWritablePrimary: true, setName: "rs0", hosts: ["h1:27017"] }""", true, false)]
    [InlineData("""{ isWritablePrimary: true, msg: "isdbgrid" }""", true, false)]
    public void A_standalone_server_is_refused_while_transactions_are_on(string hello, bool useTransactions, bool refused)
    {
        var reason = MongoConnection.RefuseDeployment(BsonDocument.Parse(hello), useTransactions);

        Assert.Equal(refused, reason is not null);
        if (refused)
        {
            Assert.Contains("Storage:Mongo:UseTransactions", reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Driver_and_mapping_errors_leave_the_adapter_as_the_ports_two_exceptions()
    {
        var connection = new ConnectionId(new ServerId(new ClusterId(1), new DnsEndPoint("localhost", 27017)));
        var duplicate = new MongoCommandException(connection, "E11000 duplicate key", new BsonDocument(), BsonDocument.Parse("""{ ok: 0, code: 11000 }"""));
        var unknownCommit = new MongoCommandException(connection, "commit", new BsonDocument(), BsonDocument.Parse("""{ ok: 0, code: 50 }"""));
        unknownCommit.AddErrorLabel("UnknownTransactionCommitResult");
        var conflict = new StoreConflictException("summary moved");

        Assert.IsType<StoreConflictException>(MongoErrors.Map(duplicate, "store", CancellationToken.None));
        Assert.Contains("may or may not", Assert.IsType<StoreUnavailableException>(MongoErrors.Map(unknownCommit, "store", CancellationToken.None)).Message, StringComparison.Ordinal);
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new MongoConnectionException(connection, "reset", new IOException()), "store", CancellationToken.None));
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new FormatException("bad BSON"), "store", CancellationToken.None));
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new InvalidCastException("not a string"), "store", CancellationToken.None));
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new KeyNotFoundException("seq"), "store", CancellationToken.None));
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new TimeoutException(), "store", CancellationToken.None));
        Assert.IsType<StoreUnavailableException>(MongoErrors.Map(new OperationCanceledException(), "store", CancellationToken.None));
        Assert.Null(MongoErrors.Map(conflict, "store", CancellationToken.None));
        Assert.Null(MongoErrors.Map(new StoreUnavailableException("down"), "store", CancellationToken.None));
        Assert.Null(MongoErrors.Map(new OperationCanceledException(), "store", new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task A_call_that_outlives_the_operation_timeout_fails_as_unavailable_and_the_callers_cancellation_passes()
    {
        var started = DateTime.UtcNow;
        var timedOut = await Assert.ThrowsAsync<StoreUnavailableException>(() => MongoErrors.Guard(
            async ct =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return true;
            },
            "store",
            TimeSpan.FromMilliseconds(50),
            CancellationToken.None));
        using var caller = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => MongoErrors.Guard(
            async ct =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                return true;
            },
            "store",
            TimeSpan.FromMinutes(1),
            caller.Token));

        Assert.Contains("timeout", timedOut.Message, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        Assert.NotNull(cancelled);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => MongoErrors.Guard<int>(_ => throw new FormatException(), "store", Timeout.InfiniteTimeSpan, CancellationToken.None));
        await Assert.ThrowsAsync<StoreConflictException>(() => MongoErrors.Guard<int>(_ => throw new StoreConflictException("x"), "store", Timeout.InfiniteTimeSpan, CancellationToken.None));
    }

    [Fact]
    public void The_bucket_layout_is_migrated_kept_or_given_new_bounds_and_a_newer_one_is_refused()
    {
        var options = new MongoStoreOptions { BucketSize = 500, MaxBucketBytes = 8 * 1024 * 1024 };
        static BsonDocument Recorded(int layout, int events, int bytes) => new() { { "_id", MongoStartup.LayoutId }, { "layout", layout }, { "max_events", events }, { "max_bytes", bytes } };

        Assert.Equal(MongoStartup.LayoutAction.Migrate, MongoStartup.DecideLayout(null, options));
        Assert.Equal(MongoStartup.LayoutAction.Migrate, MongoStartup.DecideLayout(Recorded(1, 500, 0), options));
        Assert.Equal(MongoStartup.LayoutAction.Keep, MongoStartup.DecideLayout(Recorded(2, 500, 8 * 1024 * 1024), options));
        Assert.Equal(MongoStartup.LayoutAction.ChangeBounds, MongoStartup.DecideLayout(Recorded(2, 3, 8 * 1024 * 1024), options));
        Assert.Equal(MongoStartup.LayoutAction.ChangeBounds, MongoStartup.DecideLayout(Recorded(2, 500, 1024 * 1024), options));
        Assert.Contains("layout 3", Assert.Throws<InvalidOperationException>(() => MongoStartup.DecideLayout(Recorded(3, 500, 1), options)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_backfill_lease_is_taken_only_when_expired_on_the_servers_clock_and_renewed_only_by_its_owner()
    {
        var (acquire, update) = MongoReadModelBackfill.AcquireLease("me", TimeSpan.FromMinutes(1));
        var (renew, _) = MongoReadModelBackfill.RenewLease("me", TimeSpan.FromMinutes(1));

        Assert.Equal(BsonDocument.Parse("""{ _id: "read_model_backfill_lease", $expr: { $lt: ["$expires_at", "$$NOW"] } }"""), acquire);
        Assert.Equal(BsonDocument.Parse("""{ _id: "read_model_backfill_lease", owner: "me" }"""), renew);
        Assert.Equal(BsonDocument.Parse("""{ $set: { owner: "me", expires_at: { $add: ["$$NOW", NumberLong(60000)] } } }"""), Assert.Single(update));
    }

    [Fact]
    public void A_sessions_legacy_rows_are_keyed_by_the_flush_so_a_retried_flush_writes_them_once()
    {
        Assert.Equal(BsonDocument.Parse("""{ s: "s1", f: NumberLong(41), k: "q", i: 0 }"""), MongoDocuments.LegacyRowId("s1", 41, "q", 0));
        Assert.NotEqual(MongoDocuments.LegacyRowId("s1", 41, "q", 0), MongoDocuments.LegacyRowId("s1", 41, "e", 0));
        Assert.NotEqual(MongoDocuments.LegacyRowId("s1", 41, "q", 0), MongoDocuments.LegacyRowId("s1", 43, "q", 0));
    }

    [Fact]
    public void A_deletion_batch_takes_sessions_while_their_buckets_fit_and_never_none()
    {
        var sessions = new[] { "a", "b", "c", "d" }.Select(id => new BsonDocument("_id", id)).ToList();
        var counts = new Dictionary<string, (long Buckets, long Events)> { ["a"] = (2, 10), ["b"] = (3, 15), ["c"] = (1, 1) };

        Assert.Equal(["a", "b"], MongoAnalyticsStore.TakeWithinBuckets(sessions, counts, 5).Select(d => d["_id"].AsString));
        Assert.Equal(["a"], MongoAnalyticsStore.TakeWithinBuckets(sessions, counts, 1).Select(d => d["_id"].AsString));
        Assert.Equal(["a", "b", "c", "d"], MongoAnalyticsStore.TakeWithinBuckets(sessions, counts, 100).Select(d => d["_id"].AsString));
    }

    [Fact]
    public void Event_counts_sum_the_buckets_stored_counts_instead_of_measuring_their_arrays()
    {
        var pipeline = MongoAnalyticsPipelines.EventCount();
        var perSession = MongoAnalyticsPipelines.BucketCounts([new BsonString("s1")]);

        Assert.DoesNotContain("$size", new BsonArray(pipeline).ToJson(), StringComparison.Ordinal);
        Assert.Equal(BsonDocument.Parse("""{ $group: { _id: null, n: { $sum: "$count" } } }"""), pipeline[^1]);
        Assert.Equal(BsonDocument.Parse("""{ $group: { _id: "$session_id", buckets: { $sum: 1 }, n: { $sum: "$count" } } }"""), perSession[^1]);
    }
}
