using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>A database file written before events had a corrected time is opened by the current store.</summary>
[TestCategory("BVT")]
public sealed class SqliteEventTimeMigrationTests : IDisposable
{
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-event-time");

    private string DatabasePath => Path.Combine(_directory, "old.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task An_old_database_gets_the_column_keeps_its_rows_and_stores_corrected_times_from_then_on()
    {
        // The tables as the previous release created them (no corrected_t), with one session of two events: the
        // first with a client time 10 minutes ahead of its receipt, the second with one before it.
        await using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE sessions (
                    session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, experiment_id TEXT NOT NULL, model_group TEXT NOT NULL,
                    start_time INTEGER NOT NULL, end_time INTEGER NULL, environment TEXT NOT NULL);
                CREATE TABLE session_events (
                    session_id TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL,
                    client_id TEXT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
                CREATE UNIQUE INDEX ux_session_events_client ON session_events (session_id, client_id) WHERE client_id IS NOT NULL;
                INSERT INTO sessions VALUES ('old', 'u', 'e', 'g', 1730000000000, NULL, '{}');
                INSERT INTO session_events VALUES ('old', 1, 1730000600000, 'click', '{}', 'c-1', 1730000000100);
                INSERT INTO session_events VALUES ('old', 2, 1730000000050, 'prompt', '{}', 'c-2', 1730000000200);
                """;
            command.ExecuteNonQuery();
        }

        var store = NewStore();
        await store.InitializeAsync(CancellationToken.None);
        var old = await store.ReadEventsAsync("old", 0, 10, CancellationToken.None);
        var migrated = await store.LoadSessionAsync("old", 10, CancellationToken.None);
        await store.AppendAsync(
            new SessionFlush("old", [new StoredEvent(3, 1730000900000, "click", "{}", "c-3", 1730000000300, CorrectedTime: 1730000000290)], [], [], null),
            CancellationToken.None);
        await store.DisposeAsync();

        // Opened once more: the column is there already, nothing is added twice, every row reads back.
        store = NewStore();
        await store.InitializeAsync(CancellationToken.None);
        var all = await store.ReadEventsAsync("old", 0, 10, CancellationToken.None);
        await store.DisposeAsync();

        // Old rows: no stored correction; their event time is t, never later than the receipt.
        Assert.Equal([null, null], old.Select(e => e.CorrectedTime));
        Assert.Equal([1730000000100L, 1730000000050L], old.Select(e => e.EventTime));
        Assert.Equal([1730000600000L, 1730000000050L], old.Select(e => e.T));
        Assert.Equal([null, null, 1730000000290L], all.Select(e => e.CorrectedTime));
        Assert.Equal(1730000900000L, all[2].T);
        Assert.Equal(2, migrated!.LastSeq);
        Assert.Equal((2L, 1.0), (migrated.Metrics.ThroughSeq, migrated.Metrics[MetricField.Prompts])); // the read model's start-up backfill ran over the old rows too
        await using var check = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        check.Open();
        using var tables = check.CreateCommand();
        tables.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'session_events'";
        Assert.Equal(0L, tables.ExecuteScalar()); // the rows went to event chunks (SqliteChunkMigration)
    }

    private SqliteSessionStore NewStore() => new(
        Options.Create(new SqliteStoreOptions { DatabasePath = DatabasePath }),
        NullLogger<SqliteSessionStore>.Instance);
}
