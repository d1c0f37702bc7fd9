using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
public sealed class SqliteSessionStoreTests : IAsyncLifetime
{
    private readonly string _directory = RepoPaths.NewTempDirectory("sqlite-store");
    private SqliteSessionStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = NewStore();
        await _store.InitializeAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_sequence_number_is_stored_once_and_a_second_writer_gets_a_conflict()
    {
        await _store.CreateSessionAsync(Session("s1"), [], CancellationToken.None);
        await _store.AppendAsync(Flush("s1", 1, 2), CancellationToken.None);

        await Assert.ThrowsAsync<StoreConflictException>(() => _store.AppendAsync(Flush("s1", 2, 3), CancellationToken.None));
        var events = await _store.ReadEventsAsync("s1", 0, 10, CancellationToken.None);

        // The conflicting flush left nothing behind: seq 3 was not written either.
        Assert.Equal([1L, 2L], events.Select(e => e.Seq));
    }

    [Fact]
    public async Task A_conflicting_flush_fails_alone_when_it_shares_a_transaction_with_good_ones()
    {
        await _store.CreateSessionAsync(Session("c1"), [], CancellationToken.None);
        await _store.CreateSessionAsync(Session("c2"), [], CancellationToken.None);
        await _store.AppendAsync(Flush("c1", 1, 2), CancellationToken.None);

        // The writer waits until every flush is queued, then takes them all into one transaction.
        using var hold = new HeldWriter();
        _store.Hooks = hold;
        var conflicting = _store.AppendAsync(Flush("c1", 2, 3), CancellationToken.None);
        var good = Enumerable.Range(0, 20).Select(i => _store.AppendAsync(Flush("c2", (i * 2) + 1, (i * 2) + 2), CancellationToken.None)).ToArray();
        hold.Release();

        await Assert.ThrowsAsync<StoreConflictException>(() => conflicting);
        await Task.WhenAll(good);
        // One transaction held all 21 flushes; it failed on the conflict and was rerun with a savepoint per flush.
        Assert.Equal(1, hold.IsolatedCommits);
        Assert.Equal(21, hold.LastIsolatedBatchSize);
        Assert.Equal(2, (await _store.ReadEventsAsync("c1", 0, 10, CancellationToken.None)).Count);
        Assert.Equal(40, (await _store.ReadEventsAsync("c2", 0, 100, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Concurrent_flushes_of_many_sessions_commit_together_and_all_land()
    {
        var sessions = Enumerable.Range(0, 50).Select(i => $"many-{i}").ToArray();
        foreach (var s in sessions)
        {
            await _store.CreateSessionAsync(Session(s), [], CancellationToken.None);
        }

        await Task.WhenAll(sessions.Select(s => _store.AppendAsync(Flush(s, 1, 3), CancellationToken.None)));

        foreach (var s in sessions)
        {
            Assert.Equal(3, (await _store.ReadEventsAsync(s, 0, 10, CancellationToken.None)).Count);
        }
    }

    [Fact]
    public async Task A_reopened_store_loads_the_session_with_its_last_sequence_and_recent_ids()
    {
        await _store.CreateSessionAsync(Session("s2"), [], CancellationToken.None);
        await _store.AppendAsync(Flush("s2", 1, 5) with { EndTime = DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_100_000) }, CancellationToken.None);
        await _store.DisposeAsync();

        _store = NewStore();
        await _store.InitializeAsync(CancellationToken.None);
        var snapshot = await _store.LoadSessionAsync("s2", recentIdCount: 2, CancellationToken.None);
        var found = await _store.FindStoredClientIdsAsync("s2", ["id-1", "id-9"], CancellationToken.None);

        Assert.NotNull(snapshot);
        Assert.Equal(5, snapshot.LastSeq);
        Assert.Equal(["id-4", "id-5"], snapshot.RecentClientIds.Order());
        Assert.Equal(1_730_000_100_000, snapshot.Session.EndTime!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(["id-1"], found);
        Assert.Null(await _store.LoadSessionAsync("missing", 2, CancellationToken.None));
    }

    [Fact]
    public async Task Text_outside_ASCII_and_absent_client_ids_are_stored_exactly()
    {
        await _store.CreateSessionAsync(Session("u1"), [], CancellationToken.None);
        var data = """{"text":"héllo 👍 日本語","quote":"\"x\"","nested":{"a":[1,2.5,null]}}""";
        await _store.AppendAsync(
            new SessionFlush("u1", [new StoredEvent(1, 10, "custom", data, "ü-1", 11), new StoredEvent(2, 12, "click", "{}", null, 13)], [], [], null),
            CancellationToken.None);

        var events = await _store.ReadEventsAsync("u1", 0, 10, CancellationToken.None);
        Assert.Equal([new StoredEvent(1, 10, "custom", data, "ü-1", 11), new StoredEvent(2, 12, "click", "{}", null, 13)], events);
        Assert.Equal(["ü-1"], await _store.FindStoredClientIdsAsync("u1", ["ü-1", "u-1"], CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_client_id_lookups_each_get_their_own_answer()
    {
        // The lookups share a small pool of open connections with the query prepared: no answer may leak into another.
        var sessions = Enumerable.Range(0, 16).Select(i => $"ids-{i}").ToArray();
        foreach (var s in sessions)
        {
            await _store.CreateSessionAsync(Session(s), [], CancellationToken.None);
            await _store.AppendAsync(Flush(s, 1, 5), CancellationToken.None); // ids id-1 … id-5
        }

        var answers = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(async () =>
        {
            var session = sessions[i % sessions.Length];
            var asked = new[] { $"id-{(i % 7) + 1}", "never-stored", $"id-{(i % 5) + 1}" };
            return (Asked: asked, Found: await _store.FindStoredClientIdsAsync(session, asked, CancellationToken.None));
        })));

        foreach (var (asked, found) in answers)
        {
            Assert.Equal(asked.Where(id => id is "id-1" or "id-2" or "id-3" or "id-4" or "id-5").Distinct().Order(), found.Distinct().Order());
        }
    }

    [Fact]
    public async Task A_database_with_a_row_per_event_is_converted_to_chunks_and_keeps_every_event_and_id()
    {
        var path = Path.Combine(_directory, "old.db");
        var rows = Enumerable.Range(1, 600)
            .Select(i => new StoredEvent(i, 1_730_000_000_000 + i, i % 7 == 0 ? "model_response" : "click", $$"""{"n":{{i}},"text":"é \"q\""}""", i % 3 == 0 ? null : $"id-{i}", 1_730_000_000_500 + i))
            .ToArray();
        await using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await old.OpenAsync();
            await using var command = old.CreateCommand();
            command.CommandText = RowPerEventLayout.CreateTable;
            await command.ExecuteNonQueryAsync();
            foreach (var e in rows)
            {
                await using var insert = old.CreateCommand();
                insert.CommandText = "INSERT INTO session_events VALUES ('old', $seq, $t, $type, $data, $id, $received)";
                insert.Parameters.AddWithValue("$seq", e.Seq);
                insert.Parameters.AddWithValue("$t", e.T);
                insert.Parameters.AddWithValue("$type", e.Type);
                insert.Parameters.AddWithValue("$data", e.DataJson);
                insert.Parameters.AddWithValue("$id", (object?)e.ClientId ?? DBNull.Value);
                insert.Parameters.AddWithValue("$received", e.ReceivedAt);
                await insert.ExecuteNonQueryAsync();
            }
        }

        var store = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = path }), NullLogger<SqliteSessionStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        var read = new List<StoredEvent>();
        for (long after = 0; ;)
        {
            var page = await store.ReadEventsAsync("old", after, 100, CancellationToken.None);
            if (page.Count == 0)
            {
                break;
            }

            read.AddRange(page);
            after = page[^1].Seq;
        }

        var found = await store.FindStoredClientIdsAsync("old", ["id-5", "id-599", "id-6", "nope"], CancellationToken.None);
        var hashes = await store.ReadClientIdHashesAsync("old", CancellationToken.None);
        var taken = await Record.ExceptionAsync(() => store.AppendAsync(Flush("old", 600, 600), CancellationToken.None));
        await store.AppendAsync(Flush("old", 601, 601), CancellationToken.None);
        var next = await store.ReadEventsAsync("old", 600, 10, CancellationToken.None);
        await store.DisposeAsync();

        Assert.Equal(rows, read);
        Assert.Equal(["id-5", "id-599"], found.Order());
        Assert.Equal(rows.Where(e => e.ClientId is not null).Select(e => ClientIdHash.Of(e.ClientId!)).Order(), hashes.Order());
        Assert.IsType<StoreConflictException>(taken);
        Assert.Equal([601L], next.Select(e => e.Seq));
        await using var upgraded = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False");
        await upgraded.OpenAsync();
        await using var tables = upgraded.CreateCommand();
        tables.CommandText = "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE name = 'session_events'), (SELECT COUNT(*) FROM event_chunks)";
        await using var reader = await tables.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((0L, 4L), (reader.GetInt64(0), reader.GetInt64(1))); // 256 + 256 + 88 converted, then the flush of 601
    }

    private SqliteSessionStore NewStore() => new(
        Options.Create(new SqliteStoreOptions { DatabasePath = Path.Combine(_directory, "s.db") }),
        NullLogger<SqliteSessionStore>.Instance);

    internal static SessionInfo Session(string id) =>
        new(id, "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), null, "{}");

    private static SessionFlush Flush(string sessionId, int fromSeq, int toSeq) => new(
        sessionId,
        [.. Enumerable.Range(fromSeq, toSeq - fromSeq + 1).Select(i => new StoredEvent(i, 1_730_000_000_000 + i, "click", "{}", $"id-{i}", 1_730_000_000_000 + i))],
        [],
        [],
        null);
}
