using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// Buffered durability: events acknowledged before they are stored reach the store within <c>Sessions:FlushInterval</c>
/// of being accepted, with no read, end or further event to push them, every time they arrive and after a failed write.
/// </summary>
[TestCategory("BVT")]
public sealed class BufferedFlushTests : IAsyncLifetime
{
    private SqliteTestCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await SqliteTestCluster.StartAsync<Configurator>("buffered-flush-tests", silos: 1, ("Sessions:Durability", "Buffered"), ("Sessions:FlushInterval", "00:00:00.200"));

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Events_that_arrive_after_a_quiet_spell_are_stored_within_the_interval_like_the_first()
    {
        var (id, grain) = await StartAsync();

        await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "a1"), new IncomingEvent("scroll", "{}", null, "a2")]));
        Assert.Equal(["a1", "a2"], await StoredIdsWithinAsync(id, count: 2));
        await Task.Delay(1_000); // five intervals with nothing waiting
        Assert.Single(FlushingStore.Flushes(id));

        await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "b1")]));
        Assert.Equal(["a1", "a2", "b1"], await StoredIdsWithinAsync(id, count: 3));
        Assert.Equal(2, FlushingStore.Flushes(id).Count);
    }

    [Fact]
    public async Task A_failed_write_is_retried_by_the_timer_until_it_succeeds_and_stores_each_event_once()
    {
        var (id, grain) = await StartAsync();
        FlushingStore.FailNext(id, 2);

        var appended = await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "f1")]));

        Assert.Equal(SessionStatus.Ok, appended.Status); // acknowledged before it is stored
        Assert.Equal(["f1"], await StoredIdsWithinAsync(id, count: 1));
        Assert.Equal(2, FlushingStore.Failures(id));
        Assert.Equal([1L], (await grain.ReadAsync(0, 10))!.Events.Select(e => e.Seq));
    }

    private async Task<(string Id, ISessionGrain Grain)> StartAsync()
    {
        var id = Guid.NewGuid().ToString("N");
        var grain = _cluster.Cluster.Client.GetGrain<ISessionGrain>(id);
        Assert.Equal(SessionStatus.Ok, (await grain.StartAsync(new StartSession("u", "e", "g", "{}"))).Status);
        return (id, grain);
    }

    /// <summary>The client ids the store holds for the session once it holds <paramref name="count"/> events (5 s at most).</summary>
    private static async Task<string[]> StoredIdsWithinAsync(string sessionId, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (FlushingStore.Flushes(sessionId).Sum(f => f.Length) < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return [.. FlushingStore.Flushes(sessionId).SelectMany(f => f)];
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddSessionTracking(siloBuilder.Configuration);
            siloBuilder.Services.AddSingleton<ISessionStore>(sp => new FlushingStore(sp.GetRequiredService<SqliteSessionStore>()));
        }
    }

    /// <summary>The SQLite store, recording the client ids of every successful flush and failing flushes on request.</summary>
    private sealed class FlushingStore(SqliteSessionStore inner) : DelegatingSessionStore(inner)
    {
        private static readonly ConcurrentDictionary<string, ConcurrentQueue<string[]>> FlushesBySession = new();
        private static readonly ConcurrentDictionary<string, int> FailuresToCome = new();
        private static readonly ConcurrentDictionary<string, int> FailuresBySession = new();

        public static IReadOnlyCollection<string[]> Flushes(string sessionId) =>
            FlushesBySession.TryGetValue(sessionId, out var flushes) ? flushes : [];

        public static int Failures(string sessionId) => FailuresBySession.GetValueOrDefault(sessionId);

        public static void FailNext(string sessionId, int count) => FailuresToCome[sessionId] = count;

        public override async Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken)
        {
            var id = flush.SessionId ?? "";
            if (FailuresToCome.TryGetValue(id, out var left) && left > 0)
            {
                FailuresToCome[id] = left - 1;
                FailuresBySession.AddOrUpdate(id, 1, (_, n) => n + 1);
                throw new StoreUnavailableException("Failing on request.");
            }

            await base.AppendAsync(flush, cancellationToken);
            FlushesBySession.GetOrAdd(id, _ => new()).Enqueue([.. flush.Events.Select(e => e.ClientId ?? "")]);
        }
    }
}
