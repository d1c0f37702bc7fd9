using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MongoDB.Driver;
using SessionTracking.Grains.Tests.Mongo;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// Every adapter gives back an event's <c>data</c> exactly as it was written (<see cref="PoisonData"/>), in the first
/// events of a session and in later flushes, and keeps it when the session is read again after the store is reopened.
/// The same test for each adapter: SQLite always, MongoDB where a server is reachable.
/// </summary>
public abstract class StoredDataFidelityTests
{
    protected async Task Every_data_object_is_read_back_exactly_as_written(Func<Task<ISessionStore>> openStore)
    {
        var store = await openStore();
        var session = new SessionInfo("poison-1", "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), null, """{"$oid":"env"}""");
        var first = new StoredEvent(1, 1_730_000_000_001, "custom", PoisonData.Objects[0], "p-1", 1_730_000_000_001);
        await store.CreateSessionAsync(session, [first], CancellationToken.None);

        var builder = new SessionSummaryBuilder(SessionSummary.OfNewSession([first], []));
        var previous = builder.Snapshot();
        var samples = new List<MetricSample>();
        var later = PoisonData.Objects.Skip(1)
            .Select((data, i) => new StoredEvent(i + 2, 1_730_000_000_002 + i, i % 2 == 0 ? "model_response" : "custom", data, $"p-{i + 2}", 1_730_000_000_002 + i))
            .ToArray();
        foreach (var e in later)
        {
            builder.Add(e, samples);
        }

        await store.AppendAsync(new SessionFlush(session.SessionId, later, [], [], null, session, new ReadModelUpdate(previous, builder.Snapshot(), samples)), CancellationToken.None);

        var read = await store.ReadEventsAsync(session.SessionId, 0, 100, CancellationToken.None);
        Assert.Equal(PoisonData.Objects, read.Select(e => e.DataJson));

        var reopened = await openStore();
        Assert.Equal(PoisonData.Objects, (await reopened.ReadEventsAsync(session.SessionId, 0, 100, CancellationToken.None)).Select(e => e.DataJson));
        Assert.Equal(PoisonData.Objects.Count, (await reopened.LoadSessionAsync(session.SessionId, 100, CancellationToken.None))!.LastSeq);
    }
}

[TestCategory("BVT")]
public sealed class SqliteStoredDataFidelityTests : StoredDataFidelityTests, IAsyncLifetime
{
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-fidelity");
    private readonly List<SqliteSessionStore> _stores = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public Task Data_is_kept_as_accepted() => Every_data_object_is_read_back_exactly_as_written(async () =>
    {
        var store = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = Path.Combine(_directory, "s.db") }), NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        _stores.Add(store);
        return store;
    });
}

[TestCategory("BVT")]
public sealed class MongoStoredDataFidelityTests : StoredDataFidelityTests, IAsyncLifetime
{
    private readonly string _database = "st_fidelity_" + Guid.NewGuid().ToString("N")[..8];
    private string? _uri;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_uri is not null)
        {
            await new MongoClient(_uri).DropDatabaseAsync(_database);
        }
    }

    [MongoFact]
    public Task Data_is_kept_as_accepted() => Every_data_object_is_read_back_exactly_as_written(async () =>
    {
        _uri ??= await MongoServer.ConnectionStringAsync();
        var store = new MongoSessionStore(Options.Create(new MongoStoreOptions { ConnectionString = _uri, Database = _database, BucketSize = 4 }), NullLogger<MongoSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    });
}
