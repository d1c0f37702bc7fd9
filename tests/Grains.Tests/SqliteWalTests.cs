using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;
using static SessionTracking.Grains.Tests.SqliteSessionStoreTests;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// The SQLite adapter's WAL under its background checkpointer. Slow lane: these tests watch a timer-driven background
/// thread keep up with sustained writes, which a machine busy with other work can delay past the test's patience.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class SqliteWalTests : IDisposable
{
    private readonly TempDirectory _directory = new("sqlite-wal");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task The_background_checkpoint_moves_the_WAL_into_the_database_file_and_shutdown_truncates_it()
    {
        // One store whose checkpointer never ticks, one that ticks every 100 ms: the same writes, then the file sizes.
        var never = await WriteThousandEventsAsync("never", TimeSpan.FromHours(1));
        var often = await WriteThousandEventsAsync("often", TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(1));

        // Without a checkpoint (and with SQLite's auto-checkpoint off on the writer) the data is only in the WAL.
        Assert.True(never.Wal.Length > 500_000, $"WAL {never.Wal.Length} B");
        Assert.True(Size(never.Database) < 100_000, $"database file {Size(never.Database)} B before any checkpoint");
        Assert.True(Size(often.Database) > 500_000, $"database file {Size(often.Database)} B after background checkpoints");

        foreach (var (store, _, wal) in new[] { never, often })
        {
            Assert.Equal(1000, (await store.ReadEventsAsync("cp", 0, 2000, CancellationToken.None)).Count);
            await store.DisposeAsync();
            await store.DisposeAsync(); // the container disposes it once per registration
            Assert.Equal(0, Size(wal.FullName)); // TRUNCATE on shutdown
        }

        Assert.True(Size(never.Database) > 500_000);
    }

    [Fact]
    public async Task Under_writes_that_never_pause_the_WAL_restarts_instead_of_growing()
    {
        // A PASSIVE checkpoint alone never catches a writer that keeps appending: SQLite restarts the WAL only when a
        // transaction begins after every frame was copied. Eight writers append for two seconds without a pause.
        var path = _directory.File("busy.db");
        var store = new SqliteSessionStore(
            Options.Create(new SqliteStoreOptions { DatabasePath = path, CheckpointInterval = TimeSpan.FromMilliseconds(50) }),
            NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        var data = $$"""{"pad":"{{new string('x', 2000)}}"}""";
        var until = DateTime.UtcNow.AddSeconds(2);
        var written = 0;
        var writers = Enumerable.Range(0, 8).Select(async w =>
        {
            var id = $"busy-{w}";
            await store.CreateSessionAsync(Session(id), [], CancellationToken.None);
            for (var seq = 1; DateTime.UtcNow < until; seq++)
            {
                await store.AppendAsync(new SessionFlush(id, [new StoredEvent(seq, seq, "custom", data, null, seq)], [], [], null), CancellationToken.None);
                Interlocked.Increment(ref written);
            }
        }).ToList();

        long largestWal = 0;
        while (writers.Any(w => !w.IsCompleted))
        {
            largestWal = Math.Max(largestWal, Size(path + "-wal"));
            await Task.Delay(20);
        }

        await Task.WhenAll(writers);
        var stored = await Task.WhenAll(Enumerable.Range(0, 8).Select(w => store.ReadEventsAsync($"busy-{w}", 0, 1_000_000, CancellationToken.None)));
        Assert.Equal(written, stored.Sum(events => events.Count));
        await store.DisposeAsync();

        // Every frame of every commit went through the WAL: without restarts it holds at least the whole database.
        var database = Size(path);
        Assert.True(database > 4_000_000, $"only {database} B written ({written} events): too little to tell");
        Assert.True(largestWal < database / 2, $"WAL reached {largestWal} B for a {database} B database ({written} events)");
    }

    private async Task<(SqliteSessionStore Store, string Database, FileInfo Wal)> WriteThousandEventsAsync(string name, TimeSpan checkpointInterval)
    {
        var path = _directory.File(name + ".db");
        var store = new SqliteSessionStore(
            Options.Create(new SqliteStoreOptions { DatabasePath = path, CheckpointInterval = checkpointInterval }),
            NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        await store.CreateSessionAsync(Session("cp"), [], CancellationToken.None);
        var padding = new string('x', 800);
        for (var i = 0; i < 10; i++)
        {
            await store.AppendAsync(
                new SessionFlush("cp", [.. Enumerable.Range((i * 100) + 1, 100).Select(seq => new StoredEvent(seq, seq, "custom", $$"""{"pad":"{{padding}}"}""", $"id-{seq}", seq))], [], [], null),
                CancellationToken.None);
        }

        return (store, path, new FileInfo(path + "-wal"));
    }

    private static long Size(string path)
    {
        var file = new FileInfo(path);
        return file.Exists ? file.Length : 0;
    }
}
