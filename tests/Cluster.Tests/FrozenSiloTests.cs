using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Orleans.Runtime;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// A hung silo (SIGSTOP: its sockets still accept connections, it answers nothing) in a two-silo cluster under load,
/// with the shipped failure-detection settings. Every session gets its own client posting batches with event ids and
/// retrying the same batch on 503 or a lost connection. Measured per session: the longest time a batch waited from its
/// first attempt to its acknowledgement ("blocked").
/// </summary>
[TestCategory("SlowBVT")]
public sealed class FrozenSiloTests(ITestOutputHelper output)
{
    /// <summary>
    /// The healthy silo's sessions: the heartbeat timeout (1 s) after the last heartbeat (every 0.25 s), a list refresh
    /// (0.25 s) and the resend; measured 0.8–1.2 s (docs/cluster.md).
    /// </summary>
    private static readonly TimeSpan HealthyGoal = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FrozenGoal = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_frozen_silo_is_routed_around_and_nothing_acknowledged_is_lost_or_duplicated()
    {
        await using var cluster = await ProcessCluster.StartAsync(silos: 2);
        try
        {
            await RunAsync(cluster);
        }
        catch
        {
            output.WriteLine(cluster.RecentOutput());
            throw;
        }
    }

    private async Task RunAsync(ProcessCluster cluster)
    {
        var (gateway, address) = await cluster.StartGatewayAsync();
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        using var management = await ManagementClient.ConnectAsync(cluster.RedisConnectionString, cluster.ClusterId);
        await management.WaitForActiveSilosAsync(2, TimeSpan.FromSeconds(90));
        foreach (var silo in cluster.Silos)
        {
            await silo.Process.WaitUntilReadyAsync(new Uri(silo.HealthAddress, "/readyz"), TimeSpan.FromSeconds(60));
        }

        var sessions = await StartSessionsOnBothSilosAsync(http, management);
        var locations = await management.SessionLocationsAsync(sessions);
        var victim = cluster.Silos.MaxBy(s => locations.Values.Count(l => l?.Endpoint.Port == s.SiloPort))!;
        var survivor = cluster.Silos.Single(s => s != victim);
        var onVictim = sessions.Where(s => locations[s]?.Endpoint.Port == victim.SiloPort).ToHashSet();
        output.WriteLine($"{sessions.Count} sessions, {onVictim.Count} on the silo to freeze (port {victim.SiloPort})");

        var load = new SessionLoad(http, sessions);
        load.Start();
        await Task.Delay(TimeSpan.FromSeconds(3));

        // Freeze at a moment the victim holds no SQLite write lock (see SqliteWriteLock).
        var database = Path.Combine(cluster.DataDirectory, "sessions.db");
        for (var attempt = 0; ; attempt++)
        {
            Signals.Stop(victim.Process);
            if (!SqliteWriteLock.IsHeldBy(victim.Process.Id, database) || attempt == 200)
            {
                break;
            }

            Signals.Continue(victim.Process);
            await Task.Delay(Random.Shared.Next(5, 25));
        }

        var frozenAt = load.Clock.Elapsed;
        Assert.False(SqliteWriteLock.IsHeldBy(victim.Process.Id, database), "the frozen silo holds the SQLite write lock");

        // Liveness: the frozen silo's health endpoint times out (an orchestrator restarts it); the survivor stays ready.
        await Assert.ThrowsAnyAsync<TaskCanceledException>(() => probe.GetAsync(new Uri(victim.HealthAddress, "/healthz")));

        // Frozen until every session answered again after the freeze (at most the goal plus a margin), then woken.
        var deadline = frozenAt + FrozenGoal + TimeSpan.FromSeconds(15);
        while (load.Clock.Elapsed < deadline && !sessions.All(s => load.LastAcknowledged(s) > frozenAt))
        {
            await Task.Delay(200);
        }

        var allBackAt = load.Clock.Elapsed;
        using (var ready = await probe.GetAsync(new Uri(survivor.HealthAddress, "/readyz")))
        {
            Assert.Equal(200, (int)ready.StatusCode);
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        Signals.Continue(victim.Process);
        var wokenAt = load.Clock.Elapsed;

        // After waking, the silo learns it was declared dead and stops; its in-flight writes meet the new activations.
        await Task.Delay(TimeSpan.FromSeconds(8));
        await load.StopAsync();

        var stored = new List<(string Session, string Id)>();
        foreach (var session in sessions)
        {
            var document = await ReadBackAsync(http, session);
            stored.AddRange(document.GetProperty("events").EnumerateArray().Select(e => (session, e.GetProperty("id").GetString()!)));
        }

        var acknowledged = load.Acknowledged.ToList();
        var missing = acknowledged.Except(stored).Count();
        var duplicates = stored.Count - stored.Distinct().Count();
        var healthyBlocked = sessions.Where(s => !onVictim.Contains(s)).Select(load.LongestBlocked).ToList();
        var frozenBlocked = onVictim.Select(load.LongestBlocked).ToList();
        var healthyBackWithin = sessions.Where(s => !onVictim.Contains(s)).Select(s => load.FirstAcknowledgedAfter(s, frozenAt) - frozenAt).ToList();
        var frozenBackWithin = onVictim.Select(s => load.FirstAcknowledgedAfter(s, frozenAt) - frozenAt).ToList();
        output.WriteLine(
            $"froze silo {victim.SiloPort} at {frozenAt.TotalSeconds:F1} s; every session answered again {(allBackAt - frozenAt).TotalSeconds:F1} s later; woken at {wokenAt.TotalSeconds:F1} s");
        output.WriteLine(
            $"blocked, sessions on the healthy silo ({healthyBlocked.Count}): max {healthyBlocked.Max().TotalSeconds:F2} s, median {Median(healthyBlocked):F2} s; " +
            $"sessions on the frozen silo ({frozenBlocked.Count}): max {frozenBlocked.Max().TotalSeconds:F2} s, median {Median(frozenBlocked):F2} s");
        output.WriteLine(
            $"first answer after the freeze, healthy: max {healthyBackWithin.Max().TotalSeconds:F2} s; frozen: max {frozenBackWithin.Max().TotalSeconds:F2} s");
        var healthyReads = sessions.Where(s => !onVictim.Contains(s)).Select(load.LongestRead).ToList();
        var frozenReads = onVictim.Select(load.LongestRead).ToList();
        output.WriteLine(
            $"longest read (GET /session/{{id}}?limit=1), healthy: max {healthyReads.Max().TotalSeconds:F2} s, median {Median(healthyReads):F2} s; " +
            $"frozen: max {frozenReads.Max().TotalSeconds:F2} s; reads: {load.ReadStatusSummary()}");
        var worstHealthy = sessions.Where(s => !onVictim.Contains(s)).Select(load.LongestBlockedBatch).MaxBy(b => b.Acknowledged - b.FirstAttempt);
        output.WriteLine($"longest wait of a healthy silo's session: from {(worstHealthy.FirstAttempt - frozenAt).TotalSeconds:F2} s to {(worstHealthy.Acknowledged - frozenAt).TotalSeconds:F2} s after the freeze");
        output.WriteLine($"acknowledged {acknowledged.Count}, readable {stored.Count}, missing {missing}, duplicates {duplicates}; answers: {load.StatusSummary()}");
        output.WriteLine($"gateway connections lost (ResendOnGatewayLoss): {CountOccurrences(gateway.Output, "Silo gateway connections:")}");

        Assert.Equal(0, missing);
        Assert.Equal(0, duplicates);
        Assert.DoesNotContain(load.Statuses.Keys, status => status >= 500 && status != 503);
        Assert.All(frozenBlocked.Concat(healthyBlocked), blocked => Assert.True(blocked <= FrozenGoal, $"a session was blocked {blocked.TotalSeconds:F1} s"));

        // The Orleans client sends each grain's calls through one silo gateway (chosen per grain-id bucket). The healthy
        // silo's sessions whose bucket points at the frozen silo are routed around once the frozen silo's heartbeat is
        // stale (FreshGatewayListProvider), long before the eviction, and the call caught in flight is resent then
        // (ResendOnGatewayLoss) rather than after its timeout; the others must not notice the freeze.
        Assert.All(healthyBlocked, blocked => Assert.True(blocked <= HealthyGoal, $"a session of the healthy silo was blocked {blocked.TotalSeconds:F2} s"));
        Assert.All(healthyReads, read => Assert.True(read <= HealthyGoal, $"a read of a session of the healthy silo took {read.TotalSeconds:F2} s"));
        Assert.All(frozenReads, read => Assert.True(read <= FrozenGoal, $"a read of a session of the frozen silo took {read.TotalSeconds:F2} s"));
    }

    private static async Task<List<string>> StartSessionsOnBothSilosAsync(HttpClient http, ManagementClient management)
    {
        // A silo places grains only on silos whose grain manifest it has received, which trails membership by a moment.
        var sessions = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            for (var i = 0; i < 20; i++)
            {
                using var started = await http.PostAsync("/session/start", Json("""{"user_id":"u","model_group":"g"}"""));
                started.EnsureSuccessStatusCode();
                sessions.Add((await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
            }
        }
        while ((await management.SessionActivationsPerSiloAsync()).Count(p => p.Value > 0) < 2 && DateTime.UtcNow < deadline);

        return sessions;
    }

    private static int CountOccurrences(string text, string value) => (text.Length - text.Replace(value, "", StringComparison.Ordinal).Length) / value.Length;

    private static double Median(List<TimeSpan> values) => values.Count == 0 ? 0 : values.Order().ElementAt(values.Count / 2).TotalSeconds;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>
    /// One client per session: batches of 3 events with ids, each retried until acknowledged; and one reader per
    /// session asking for its first event every 250 ms.
    /// </summary>
    private sealed class SessionLoad(HttpClient http, List<string> sessions)
    {
        private readonly ConcurrentDictionary<string, TimeSpan> _longestRead = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentDictionary<string, ConcurrentQueue<(TimeSpan FirstAttempt, TimeSpan Acknowledged)>> _batches = new();
        private Task[] _workers = [];

        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public ConcurrentBag<(string Session, string Id)> Acknowledged { get; } = [];

        public ConcurrentDictionary<int, int> Statuses { get; } = new();

        public ConcurrentDictionary<int, int> ReadStatuses { get; } = new();

        public void Start() => _workers = [.. sessions.Select(session => Task.Run(() => RunAsync(session))), .. sessions.Select(session => Task.Run(() => ReadAsync(session)))];

        /// <summary>The longest time one read of the session took, whatever its answer.</summary>
        public TimeSpan LongestRead(string session) => _longestRead.GetValueOrDefault(session);

        public string ReadStatusSummary() => Summary(ReadStatuses);

        private static string Summary(ConcurrentDictionary<int, int> statuses) =>
            string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{(s.Key == 0 ? "no answer" : s.Key.ToString(System.Globalization.CultureInfo.InvariantCulture))}×{s.Value}"));

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_workers);
        }

        public TimeSpan LastAcknowledged(string session) =>
            _batches.TryGetValue(session, out var batches) && !batches.IsEmpty ? batches.Max(b => b.Acknowledged) : TimeSpan.Zero;

        public TimeSpan FirstAcknowledgedAfter(string session, TimeSpan after) =>
            _batches.TryGetValue(session, out var batches) && batches.Any(b => b.Acknowledged > after) ? batches.Where(b => b.Acknowledged > after).Min(b => b.Acknowledged) : TimeSpan.MaxValue;

        public (TimeSpan FirstAttempt, TimeSpan Acknowledged) LongestBlockedBatch(string session) =>
            _batches.TryGetValue(session, out var batches) && !batches.IsEmpty ? batches.MaxBy(b => b.Acknowledged - b.FirstAttempt) : default;

        /// <summary>The longest wait of one batch from its first attempt to its acknowledgement.</summary>
        public TimeSpan LongestBlocked(string session) =>
            _batches.TryGetValue(session, out var batches) && !batches.IsEmpty ? batches.Max(b => b.Acknowledged - b.FirstAttempt) : TimeSpan.MaxValue;

        public string StatusSummary() => Summary(Statuses);

        private async Task ReadAsync(string session)
        {
            while (!_stop.IsCancellationRequested)
            {
                var started = Clock.Elapsed;
                var status = 0;
                try
                {
                    using var response = await http.GetAsync($"/session/{session}?limit=1");
                    status = (int)response.StatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                }

                var took = Clock.Elapsed - started;
                _longestRead.AddOrUpdate(session, took, (_, longest) => took > longest ? took : longest);
                ReadStatuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                await Task.Delay(250);
            }
        }

        private async Task RunAsync(string session)
        {
            var batches = _batches.GetOrAdd(session, _ => new());
            for (var batch = 0; !_stop.IsCancellationRequested; batch++)
            {
                var ids = Enumerable.Range(0, 3).Select(i => $"b{batch}-e{i}").ToArray();
                var body = $$"""{"session_id":"{{session}}","events":[{{string.Join(',', ids.Select(id => $$"""{"type":"click","id":"{{id}}"}"""))}}]}""";
                var firstAttempt = Clock.Elapsed;
                while (!_stop.IsCancellationRequested)
                {
                    var status = 0;
                    try
                    {
                        using var response = await http.PostAsync("/session/event", Json(body));
                        status = (int)response.StatusCode;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                    }

                    Statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                    if (status == 200)
                    {
                        batches.Enqueue((firstAttempt, Clock.Elapsed));
                        foreach (var id in ids)
                        {
                            Acknowledged.Add((session, id));
                        }

                        break;
                    }

                    await Task.Delay(100);
                }

                await Task.Delay(100);
            }
        }
    }

    /// <summary>
    /// The session document, read as a client reads it: a 503 (Retry-After) while the woken silo's last writes still meet
    /// the new activation is retried, as the answer asks; anything else fails the test.
    /// </summary>
    private static async Task<JsonElement> ReadBackAsync(HttpClient http, string session)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await http.GetAsync($"/session/{session}?limit=10000");
            if (response.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable || attempt == 10)
            {
                response.EnsureSuccessStatusCode();
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            }

            Assert.NotNull(response.Headers.RetryAfter);
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }
}
