using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;
using static SessionTracking.Grains.Tests.SqliteSessionStoreTests;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// The SQLite adapter's WAL and its background checkpointer. The checkpointer's timer is set never to tick: each test
/// runs the passes itself (<c>RunCheckpointPass</c>) at known moments, so what it asserts does not depend on how soon
/// a busy machine schedules a timer.
/// </summary>
[TestCategory("BVT")]
public sealed class SqliteWalTests : IDisposable
{
    private static readonly TimeSpan Never = TimeSpan.FromHours(1);

    private readonly TempDirectory _directory = new("sqlite-wal");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task The_background_checkpoint_moves_the_WAL_into_the_database_file_and_shutdown_truncates_it()
    {
        // The same writes into two stores, then one background pass on one of them.
        var never = await WriteThousandEventsAsync("never");
        var once = await WriteThousandEventsAsync("once");
        once.Store.RunCheckpointPass();

        // Without a checkpoint (and with SQLite's auto-checkpoint off on the writer) the data is only in the WAL.
        Assert.True(never.Wal.Length > 500_000, $"WAL {never.Wal.Length} B");
        Assert.True(Size(never.Database) < 100_000, $"database file {Size(never.Database)} B before any checkpoint");
        Assert.True(Size(once.Database) > 500_000, $"database file {Size(once.Database)} B after a background pass");

        foreach (var (store, _, wal) in new[] { never, once })
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
        // transaction begins after every frame was copied. Eight writers append round after round; halfway through
        // each round a background pass runs beside them, and the writer copies what it missed before its next
        // transaction, so the WAL starts over at least once a round. Without that, every frame of every commit stays
        // in the WAL, which then outgrows the database file.
        const int Writers = 8, AppendsPerRound = 8, Rounds = 25;
        var path = _directory.File("busy.db");
        var store = new SqliteSessionStore(
            Options.Create(new SqliteStoreOptions { DatabasePath = path, CheckpointInterval = Never }),
            NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        var data = $$"""{"pad":"{{new string('x', 2000)}}"}""";
        for (var w = 0; w < Writers; w++)
        {
            await store.CreateSessionAsync(Session($"busy-{w}"), [], CancellationToken.None);
        }

        var seq = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var appended = 0;
            var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var first = seq;
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                for (var i = 1; i <= AppendsPerRound; i++)
                {
                    var s = first + i;
                    await store.AppendAsync(new SessionFlush($"busy-{w}", [new StoredEvent(s, s, "custom", data, null, s)], [], [], null), CancellationToken.None);
                    if (Interlocked.Increment(ref appended) == Writers * AppendsPerRound / 2)
                    {
                        halfway.SetResult();
                    }
                }
            })).ToArray();

            await halfway.Task;
            store.RunCheckpointPass();
            await Task.WhenAll(writers);
            seq += AppendsPerRound;
        }

        var stored = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => store.ReadEventsAsync($"busy-{w}", 0, 1_000_000, CancellationToken.None)));
        Assert.All(stored, events => Assert.Equal(Enumerable.Range(1, seq).Select(n => (long)n), events.Select(e => e.Seq)));
        var wal = Size(path + "-wal"); // a restarted WAL is overwritten from its start: its size is its high-water mark
        await store.DisposeAsync();

        var database = Size(path);
        Assert.True(database > 2_000_000, $"only {database} B written: too little to tell");
        Assert.True(wal < database / 2, $"WAL reached {wal} B for a {database} B database");
    }

    [Fact]
    public async Task A_tick_whose_pass_copied_much_makes_another_before_the_writer_copies_the_rest()
    {
        // 1000 events of ~2 KB: ~500 pages in the WAL, more than a small pass (256). The second pass finds what was
        // appended during the first (nothing here) and the tick stops; a tick after a few small writes makes one pass.
        var (store, _, _) = await WriteThousandEventsAsync("tick", padding: 2000);
        Assert.Equal(2, store.RunCheckpointTick());

        await store.AppendAsync(new SessionFlush("cp", [new StoredEvent(1001, 1001, "custom", "{}", null, 1001)], [], [], null), CancellationToken.None);
        Assert.Equal(1, store.RunCheckpointTick());
        Assert.Equal(1001, (await store.ReadEventsAsync("cp", 0, 2000, CancellationToken.None)).Count);
        await store.DisposeAsync();
    }

    private async Task<(SqliteSessionStore Store, string Database, FileInfo Wal)> WriteThousandEventsAsync(string name, int padding = 800)
    {
        var path = _directory.File(name + ".db");
        var store = new SqliteSessionStore(
            Options.Create(new SqliteStoreOptions { DatabasePath = path, CheckpointInterval = Never }),
            NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        await store.CreateSessionAsync(Session("cp"), [], CancellationToken.None);
        var pad = new string('x', padding);
        for (var i = 0; i < 10; i++)
        {
            await store.AppendAsync(
                new SessionFlush("cp", [.. Enumerable.Range((i * 100) + 1, 100).Select(seq => new StoredEvent(seq, seq, "custom", $$"""{"pad":"{{pad}}"}""", $"id-{seq}", seq))], [], [], null),
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
