using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// A store that throws exceptions of any type, at any step, before or after its write took effect, loses nothing that
/// was acknowledged and stores nothing twice: the failed call is answered as unavailable (503, retry), and the retry
/// stores the events once, with no gap in the numbering and a read model equal to a recomputation from the stored events.
/// One class per durability mode (each runs its own cluster).
/// </summary>
[TestCategory("BVT")]
public abstract class StoreFaultTests(DurabilityMode durability)
{
    private SqliteTestCluster _cluster = null!;

    /// <summary>Exception types an adapter might let through: none of them is one of the port's two types.</summary>
    public static TheoryData<string, bool> Faults()
    {
        var data = new TheoryData<string, bool>();
        foreach (var type in FaultInjectingStore.ExceptionTypes)
        {
            data.Add(type, false); // thrown before the write: nothing stored
            data.Add(type, true);  // thrown after the write committed: the outcome looks unknown to the grain
        }

        return data;
    }

    protected async Task StartClusterAsync() =>
        _cluster = await SqliteTestCluster.StartAsync<Configurator>($"store-faults-{durability}", silos: 1, ("Sessions:Durability", durability.ToString()), ("Sessions:FlushInterval", "00:00:00.100"), ("Sessions:RecentIdWindow", "8"));

    protected async Task StopClusterAsync() => await _cluster.DisposeAsync();

    private IServiceProvider Silo => ((InProcessSiloHandle)_cluster.Cluster.Primary!).SiloHost.Services;

    /// <summary>The real store behind the faults, for checking what it holds.</summary>
    private SqliteSessionStore Store => Silo.GetRequiredService<SqliteSessionStore>();

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_flush_that_throws_anything_is_retried_into_exactly_one_copy_of_every_event(string exceptionType, bool afterWrite)
    {
        var (id, grain) = await StartAsync();
        Assert.Equal(2, (await grain.AppendAsync(Batch("a", 2))).Accepted);

        FaultInjectingStore.Inject(id, FaultStep.Append, exceptionType, afterWrite);
        var failed = Batch("b", 3);
        if (durability == DurabilityMode.Acked)
        {
            // Answered at once as unavailable (no wait for the call timeout), whatever the store threw.
            var started = DateTime.UtcNow;
            await Assert.ThrowsAsync<StoreUnavailableException>(() => grain.AppendAsync(failed).AsTask());
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));

            // The client's retry: stored now, or found stored when the failed write had in fact committed.
            var retried = await grain.AppendAsync(failed);
            Assert.Equal(SessionStatus.Ok, retried.Status);
            Assert.Equal(afterWrite ? 0 : 3, retried.Accepted);
            Assert.Equal(afterWrite ? 3 : 0, retried.Duplicates);
        }
        else
        {
            // Buffered: acknowledged before the write, so the grain itself must get it stored, once.
            Assert.Equal(3, (await grain.AppendAsync(failed)).Accepted);
            await WaitUntilStoredAsync(id, 5);
        }

        Assert.Equal(1, FaultInjectingStore.Thrown(id));
        Assert.Equal(2, (await grain.AppendAsync(Batch("c", 2))).Accepted);
        await grain.EndAsync();

        await AssertStoredOnceAsync(id, ["a1", "a2", "b1", "b2", "b3", "c1", "c2"]);
    }

    [Fact]
    public async Task A_lost_commit_of_more_events_than_the_id_window_holds_stores_each_once()
    {
        var (id, grain) = await StartAsync();
        FaultInjectingStore.Inject(id, FaultStep.Append, nameof(TimeoutException), afterWrite: true);
        var batch = Batch("a", 20); // the window holds 8 ids

        if (durability == DurabilityMode.Acked)
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => grain.AppendAsync(batch).AsTask());
            var retried = await grain.AppendAsync(batch);
            Assert.Equal((0, 20), (retried.Accepted, retried.Duplicates));
        }
        else
        {
            Assert.Equal(20, (await grain.AppendAsync(batch)).Accepted);
            await Task.Delay(500); // several flush intervals: a second copy would have been written by now
        }

        Assert.Equal(1, (await grain.AppendAsync(Batch("b", 1))).Accepted);
        await grain.EndAsync();
        await AssertStoredOnceAsync(id, [.. Enumerable.Range(1, 20).Select(i => $"a{i}"), "b1"]);
    }

    [Theory]
    [InlineData(FaultStep.FindStoredClientIds)]
    [InlineData(FaultStep.ReadClientIdHashes)]
    public async Task A_dedup_lookup_that_throws_fails_the_request_alone(FaultStep step)
    {
        var (id, grain) = await StartAsync();

        // More ids than the window (8) holds, then a new activation: its first append with ids reads the stored id
        // hashes, and a1, older than the window, is looked up in the store.
        Assert.Equal(20, (await grain.AppendAsync(Batch("a", 20))).Accepted);
        await _cluster.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        grain = _cluster.Cluster.Client.GetGrain<ISessionGrain>(id);
        FaultInjectingStore.Inject(id, step, nameof(FormatException), afterWrite: false);

        var resend = new AppendBatch([new IncomingEvent("click", "{}", null, "a1"), new IncomingEvent("click", "{}", null, "d1")]);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => grain.AppendAsync(resend).AsTask());
        Assert.Equal(1, FaultInjectingStore.Thrown(id));

        var outcome = await grain.AppendAsync(resend);
        Assert.Equal(SessionStatus.Ok, outcome.Status);
        Assert.Equal(1, outcome.Accepted);
        Assert.Equal(1, outcome.Duplicates);
        await grain.EndAsync();
        await AssertStoredOnceAsync(id, [.. Enumerable.Range(1, 20).Select(i => $"a{i}"), "d1"]);
    }

    [Fact]
    public async Task An_activation_or_a_read_whose_store_throws_is_answered_as_unavailable_and_then_recovers()
    {
        var (id, grain) = await StartAsync();
        Assert.Equal(2, (await grain.AppendAsync(Batch("a", 2))).Accepted);
        await grain.EndAsync();

        FaultInjectingStore.Inject(id, FaultStep.ReadEvents, nameof(InvalidCastException), afterWrite: false);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => grain.ReadAsync(0, 10).AsTask());
        Assert.Equal(2, (await grain.ReadAsync(0, 10))!.Events.Length);

        await _cluster.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        FaultInjectingStore.Inject(id, FaultStep.Load, nameof(NullReferenceException), afterWrite: false);
        var activation = await Assert.ThrowsAnyAsync<Exception>(() => _cluster.Cluster.Client.GetGrain<ISessionGrain>(id).ReadAsync(0, 10).AsTask());
        Assert.Contains(nameof(StoreUnavailableException), activation.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, (await _cluster.Cluster.Client.GetGrain<ISessionGrain>(id).ReadAsync(0, 10))!.Events.Length);
    }

    [Fact]
    public async Task A_flush_whose_reload_throws_too_still_stores_every_event_once()
    {
        var (id, grain) = await StartAsync();
        FaultInjectingStore.Inject(id, FaultStep.Append, nameof(ArgumentException), afterWrite: true);
        FaultInjectingStore.Inject(id, FaultStep.Load, nameof(IOException), afterWrite: false);
        var batch = Batch("a", 4);
        if (durability == DurabilityMode.Acked)
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => grain.AppendAsync(batch).AsTask());

            // The grain fell back to its last durable state; the write it lost track of is found at the next flush.
            AppendResult? retried = null;
            for (var attempt = 0; attempt < 3 && retried is null; attempt++)
            {
                try
                {
                    retried = await grain.AppendAsync(batch);
                }
                catch (StoreUnavailableException)
                {
                }
            }

            Assert.Equal(SessionStatus.Ok, retried!.Status);
            Assert.Equal(4, retried.Accepted + retried.Duplicates);
        }
        else
        {
            Assert.Equal(4, (await grain.AppendAsync(batch)).Accepted);
            await WaitUntilStoredAsync(id, 4);
        }

        Assert.Equal(2, (await grain.AppendAsync(Batch("b", 2))).Accepted);
        await grain.EndAsync();
        await AssertStoredOnceAsync(id, ["a1", "a2", "a3", "a4", "b1", "b2"]);
    }

    private async Task<(string Id, ISessionGrain Grain)> StartAsync()
    {
        var id = Guid.NewGuid().ToString("N");
        var grain = _cluster.Cluster.Client.GetGrain<ISessionGrain>(id);
        Assert.Equal(SessionStatus.Ok, (await grain.StartAsync(new StartSession("u", $"exp-{id}", "g", "{}"))).Status);
        return (id, grain);
    }

    /// <summary>A prompt and a model response per pair, each with an id: every event moves a figure of the read model.</summary>
    private static AppendBatch Batch(string prefix, int count) =>
        new([.. Enumerable.Range(1, count).Select(i => i % 2 == 1
            ? new IncomingEvent("prompt", """{"text":"q"}""", null, $"{prefix}{i}")
            : new IncomingEvent("model_response", $$"""{"latency_ms":{{100 * i}},"tokens":{{i}}}""", null, $"{prefix}{i}"))]);

    private async Task WaitUntilStoredAsync(string sessionId, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await Store.ReadEventsAsync(sessionId, 0, 1_000, CancellationToken.None)).Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }
    }

    /// <summary>
    /// The store holds each expected id once, numbered 1..n without a gap, and its read-model row and the experiment's
    /// aggregates equal a recomputation from the stored events alone.
    /// </summary>
    private async Task AssertStoredOnceAsync(string sessionId, string[] expectedIds)
    {
        var store = Store;
        var events = await store.ReadEventsAsync(sessionId, 0, 10_000, CancellationToken.None);
        Assert.Equal(expectedIds, events.Select(e => e.ClientId));
        Assert.Equal(Enumerable.Range(1, expectedIds.Length).Select(i => (long)i), events.Select(e => e.Seq));

        var snapshot = (await store.LoadSessionAsync(sessionId, 10, CancellationToken.None))!;
        var builder = new SessionSummaryBuilder(SessionSummary.Started());
        var samples = new List<MetricSample>();
        foreach (var e in events)
        {
            builder.Add(e, samples);
        }

        builder.End(snapshot.Session.StartTime, snapshot.Session.EndTime!.Value, samples);
        var recomputed = builder.Snapshot();
        Assert.Equal(recomputed.Values.ToArray(), snapshot.Metrics.Values.ToArray());

        var figures = Assert.Single(await Silo.GetRequiredService<IAnalyticsStore>().ReadGroupFiguresAsync($"exp-{sessionId}", null, null, usersAsUnits: true, CancellationToken.None));
        var expected = new Moments();
        expected.Add(recomputed.Values);
        Assert.Equal(expected.ToBytes(), figures.Sessions.ToBytes());
        Assert.Equal(expected.ToBytes(), figures.Users!.ToBytes());
        Assert.Equal(events.Count(e => e.Type == "model_response"), figures.LatencyMs.Count);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddSessionTracking(siloBuilder.Configuration);
            siloBuilder.Services.AddSingleton<ISessionStore>(sp => new FaultInjectingStore(sp.GetRequiredService<SqliteSessionStore>()));
        }
    }
}

[TestCategory("BVT")]
public sealed class AckedStoreFaultTests() : StoreFaultTests(DurabilityMode.Acked), IAsyncLifetime
{
    public Task InitializeAsync() => StartClusterAsync();

    public Task DisposeAsync() => StopClusterAsync();
}

[TestCategory("BVT")]
public sealed class BufferedStoreFaultTests() : StoreFaultTests(DurabilityMode.Buffered), IAsyncLifetime
{
    public Task InitializeAsync() => StartClusterAsync();

    public Task DisposeAsync() => StopClusterAsync();
}

public enum FaultStep
{
    Append,
    Load,
    ReadEvents,
    ReadClientIdHashes,
    FindStoredClientIds,
}

/// <summary>
/// The silo's SQLite store, throwing on request: for a session, at a step, an exception of a named type, either before
/// the call reaches the store or after the store did what was asked (a commit whose answer was lost).
/// </summary>
internal sealed class FaultInjectingStore(ISessionStore inner) : DelegatingSessionStore(inner)
{
    public static readonly string[] ExceptionTypes =
    [
        nameof(InvalidOperationException), nameof(NullReferenceException), nameof(FormatException), nameof(OverflowException),
        nameof(TimeoutException), nameof(OperationCanceledException), nameof(NotSupportedException), nameof(AdapterBugException),
    ];

    private static readonly ConcurrentDictionary<(string Session, FaultStep Step), (string Type, bool AfterWrite)> Planned = new();
    private static readonly ConcurrentDictionary<string, int> ThrownBySession = new();

    public static void Inject(string sessionId, FaultStep step, string exceptionType, bool afterWrite) =>
        Planned[(sessionId, step)] = (exceptionType, afterWrite);

    public static int Thrown(string sessionId) => ThrownBySession.GetValueOrDefault(sessionId);

    public override Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) =>
        RunAsync(flush.SessionId ?? "", FaultStep.Append, async () =>
        {
            await base.AppendAsync(flush, cancellationToken);
            return true;
        });

    public override Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
        RunAsync(sessionId, FaultStep.Load, () => base.LoadSessionAsync(sessionId, recentIdCount, cancellationToken));

    public override Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        RunAsync(sessionId, FaultStep.ReadEvents, () => base.ReadEventsAsync(sessionId, afterSeq, limit, cancellationToken));

    public override Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
        RunAsync(sessionId, FaultStep.ReadClientIdHashes, () => base.ReadClientIdHashesAsync(sessionId, cancellationToken));

    public override Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
        RunAsync(sessionId, FaultStep.FindStoredClientIds, () => base.FindStoredClientIdsAsync(sessionId, clientIds, cancellationToken));

    private static async Task<T> RunAsync<T>(string sessionId, FaultStep step, Func<Task<T>> call)
    {
        if (!Planned.TryRemove((sessionId, step), out var fault))
        {
            return await call();
        }

        // Counted before the write: a test that sees the write's events stored then sees the count too.
        ThrownBySession.AddOrUpdate(sessionId, 1, (_, n) => n + 1);
        if (fault.AfterWrite)
        {
            await call();
        }

        throw Create(fault.Type);
    }

    private static Exception Create(string type) => type switch
    {
        nameof(InvalidOperationException) => new InvalidOperationException("injected"),
        nameof(NullReferenceException) => new NullReferenceException("injected"),
        nameof(FormatException) => new FormatException("injected"),
        nameof(OverflowException) => new OverflowException("injected"),
        nameof(TimeoutException) => new TimeoutException("injected"),
        nameof(OperationCanceledException) => new OperationCanceledException("injected"),
        nameof(NotSupportedException) => new NotSupportedException("injected"),
        nameof(InvalidCastException) => new InvalidCastException("injected"),
        nameof(ArgumentException) => new ArgumentException("injected"),
        nameof(IOException) => new IOException("injected"),
        _ => new AdapterBugException(),
    };

    /// <summary>A type no layer above the adapter knows, as a driver's own exception would be.</summary>
    private sealed class AdapterBugException() : Exception("injected");
}
