using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>The session's id dedup on its own, against a real SQLite store and without a cluster.</summary>
[TestCategory("BVT")]
public sealed class SessionDedupTests : IAsyncLifetime
{
    private readonly string _directory = RepoPaths.NewTempDirectory("session-dedup");
    private SqliteSessionStore _sqlite = null!;
    private CountingStore _store = null!;

    public async Task InitializeAsync()
    {
        _sqlite = new SqliteSessionStore(Options.Create(new SqliteStoreOptions { DatabasePath = Path.Combine(_directory, "s.db") }), NullLogger<SqliteSessionStore>.Instance);
        await _sqlite.InitializeAsync(CancellationToken.None);
        _store = new CountingStore(_sqlite);
    }

    public async Task DisposeAsync()
    {
        await _sqlite.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_new_session_answers_resends_and_repeats_within_a_batch_without_asking_the_store()
    {
        var dedup = new SessionDedup(window: 4);
        Assert.Equal(new[] { 2 }, await AcceptAsync(dedup, "s1", "a", "b", "a", "c")); // the second "a" repeats the first
        Assert.Equal(new[] { 0, 2 }, await AcceptAsync(dedup, "s1", "a", "d", "c")); // resends of a and c
        Assert.Empty(await AcceptAsync(dedup, "s1")); // no ids: nothing to find
        Assert.Equal((0, 0), (CountingStore.HashReadsOf("s1"), CountingStore.IdsCheckedOf("s1")));
    }

    [Fact]
    public async Task Ids_older_than_the_window_are_found_in_the_store_and_new_ids_never_ask_it()
    {
        await StoreSessionAsync("s2", count: 10); // ids i1 … i10
        var dedup = new SessionDedup(window: 4);
        dedup.Load((await _sqlite.LoadSessionAsync("s2", 4, CancellationToken.None))!); // the window holds i7 … i10

        Assert.Equal(new[] { 0, 1 }, await AcceptAsync(dedup, "s2", "i1", "i9", "new-1"));
        Assert.Equal((1, 1), (CountingStore.HashReadsOf("s2"), CountingStore.IdsCheckedOf("s2"))); // i1 alone went to the exact check

        Assert.Empty(await AcceptAsync(dedup, "s2", "new-2", "new-3"));
        Assert.Equal((1, 1), (CountingStore.HashReadsOf("s2"), CountingStore.IdsCheckedOf("s2"))); // the key set was built once; new ids are one probe
    }

    [Fact]
    public async Task A_forgotten_id_is_accepted_again()
    {
        var dedup = new SessionDedup(window: 8);
        await AcceptAsync(dedup, "s3", "a", "b");
        dedup.Forget("a");

        Assert.False(dedup.Holds("a"));
        Assert.Equal(new[] { 1 }, await AcceptAsync(dedup, "s3", "a", "b"));
    }

    /// <summary>Looks the batch up, accepts what is new, and returns the indexes of the duplicates.</summary>
    private async Task<int[]> AcceptAsync(SessionDedup dedup, string sessionId, params string[] ids)
    {
        var events = ids.Select(id => new IncomingEvent("click", "{}", null, id)).ToArray();
        var lookup = await dedup.LookupAsync(events, _store, sessionId);
        var duplicate = SessionDedup.FindDuplicates(events, lookup, out var count);
        for (var i = 0; i < events.Length; i++)
        {
            if (duplicate?[i] != true)
            {
                dedup.Accept(ids[i], lookup.Keys![i]);
            }
        }

        var duplicates = Enumerable.Range(0, events.Length).Where(i => duplicate?[i] == true).ToArray();
        Assert.Equal(count, duplicates.Length);
        return duplicates;
    }

    private async Task StoreSessionAsync(string sessionId, int count)
    {
        var session = new SessionInfo(sessionId, "u", "e", "g", DateTimeOffset.FromUnixTimeMilliseconds(1_730_000_000_000), null, "{}");
        var events = Enumerable.Range(1, count).Select(i => new StoredEvent(i, 1_730_000_000_000 + i, "click", "{}", $"i{i}", 1_730_000_000_000 + i)).ToArray();
        await _sqlite.CreateSessionAsync(session, events, CancellationToken.None);
    }
}
