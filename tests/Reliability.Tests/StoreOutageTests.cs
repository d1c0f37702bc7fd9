using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Reliability.Tests;

/// <summary>The store fails mid-load (its adapter throws, as SQLite does on a read-only or full disk) and comes back.</summary>
[TestCategory("BVT")]
public sealed class StoreOutageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly OutageSwitch _outage = new();
    private GatewayHost _factory = null!;

    public Task InitializeAsync()
    {
        _factory = new GatewayHost
        {
            TestServices = services =>
                services.AddSingleton<ISessionStore>(sp => new FailingStore(sp.GetRequiredService<SqliteSessionStore>(), _outage)),
        };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    [Fact]
    public async Task During_an_outage_writes_get_503_and_after_it_nothing_acknowledged_is_lost_or_doubled()
    {
        var http = _factory.CreateClient();
        var sessions = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var started = await http.PostAsync("/session/start", SessionClient.Json("""{"user_id":"u","model_group":"g"}"""));
            sessions.Add(System.Text.Json.JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement.GetProperty("session_id").GetString()!);
        }

        var acknowledged = new ConcurrentBag<(string Session, string Id)>();
        var statuses = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var batch = 0; !stop.IsCancellationRequested; batch++)
            {
                var session = sessions[(w + batch) % sessions.Count];
                var ids = Enumerable.Range(0, 3).Select(i => $"w{w}-b{batch}-e{i}").ToArray();
                var events = string.Join(',', ids.Select(id => $$"""{"type":"click","id":"{{id}}"}"""));
                while (true)
                {
                    // A well-behaved client retries the same batch (same ids) until it is acknowledged.
                    using var response = await http.PostAsync("/session/event", SessionClient.Json($$"""{"session_id":"{{session}}","events":[{{events}}]}"""));
                    var status = (int)response.StatusCode;
                    statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                    if (status == 200)
                    {
                        foreach (var id in ids)
                        {
                            acknowledged.Add((session, id));
                        }

                        break;
                    }

                    Assert.Equal(503, status);
                    Assert.NotNull(response.Headers.RetryAfter);
                    await Task.Delay(20);
                }
            }
        })).ToArray();

        await Task.Delay(700);
        _outage.Failing = true;
        await Task.Delay(1500);
        using (var notReady = await http.GetAsync("/readyz"))
        {
            Assert.Equal(503, (int)notReady.StatusCode);
        }

        _outage.Failing = false;
        await Task.Delay(700);
        stop.Cancel();
        await Task.WhenAll(workers);

        var stored = new List<(string Session, string Id)>();
        var reader = new SessionClient(http.BaseAddress!);
        foreach (var session in sessions)
        {
            using var response = await http.GetAsync($"/session/{session}?limit=10000");
            var document = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            stored.AddRange(document.GetProperty("events").EnumerateArray().Select(e => (session, e.GetProperty("id").GetString()!)));
        }

        output.WriteLine($"answers: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}; acknowledged {acknowledged.Count}, stored {stored.Count}");
        Assert.True(statuses.GetValueOrDefault(503) > 0, "the outage produced no 503");
        Assert.Equal([200, 503], statuses.Keys.Order());
        Assert.Equal(acknowledged.Order(), stored.Order());
        Assert.Equal(stored.Count, stored.Distinct().Count());
        using var ready = await http.GetAsync("/readyz");
        Assert.Equal(200, (int)ready.StatusCode);
    }

    private sealed class OutageSwitch
    {
        public volatile bool Failing;
    }

    /// <summary>Passes calls to the real SQLite store, except writes while the outage is on.</summary>
    private sealed class FailingStore(ISessionStore inner, OutageSwitch outage) : ISessionStore
    {
        public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

        public Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, SessionTracking.ReadModel.SessionSummary? summary, CancellationToken cancellationToken) =>
            outage.Failing ? Fail() : inner.CreateSessionAsync(session, initialEvents, summary, cancellationToken);

        public Task<DateTimeOffset?> FirstStartOfUserAsync(string experimentId, string userId, DateTimeOffset notAfter, CancellationToken cancellationToken) =>
            inner.FirstStartOfUserAsync(experimentId, userId, notAfter, cancellationToken);

        public Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
            inner.LoadSessionAsync(sessionId, recentIdCount, cancellationToken);

        public Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) =>
            outage.Failing ? Fail() : inner.AppendAsync(flush, cancellationToken);

        public Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
            inner.ReadEventsAsync(sessionId, afterSeq, limit, cancellationToken);

        public Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
            inner.ReadClientIdHashesAsync(sessionId, cancellationToken);

        public Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
            inner.FindStoredClientIdsAsync(sessionId, clientIds, cancellationToken);

        public Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken) =>
            outage.Failing ? Fail() : inner.WriteLegacyRowsAsync(queries, legacyEvents, cancellationToken);

        public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken) =>
            !outage.Failing && await inner.IsHealthyAsync(cancellationToken);

        private static Task Fail() => Task.FromException(new StoreUnavailableException("disk I/O error (injected outage)"));
    }
}
