using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Orleans.Runtime;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// Real processes: redis-server, two silos sharing one SQLite file, and a gateway that is an Orleans client of them.
/// Sessions spread over both silos; one silo is SIGKILLed mid-load; every acknowledged event must survive, once.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class MultiSiloClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Sessions_spread_over_two_silos_and_survive_a_silo_kill_with_every_acknowledged_event()
    {
        // Failure detection tuned for a test that finishes in seconds (the shipped values find a dead silo in ~7 s).
        await using var cluster = await ProcessCluster.StartAsync(silos: 2, new()
        {
            ["Orleans__ClusterMembership__ProbeTimeout"] = "00:00:01",
            ["Orleans__ClusterMembership__MaxProbeTimeout"] = "00:00:01",
            ["Orleans__ClusterMembership__NumMissedProbesLimit"] = "2",
            ["Orleans__ClusterMembership__TableRefreshTimeout"] = "00:00:02",
            ["Orleans__ClusterMembership__IAmAliveTablePublishTimeout"] = "00:00:05",
        });
        try
        {
            await RunClusterScenarioAsync(cluster);
        }
        catch
        {
            // The processes' own logs say why a request failed (a crash, a membership problem).
            output.WriteLine(cluster.RecentOutput());
            throw;
        }
    }

    private async Task RunClusterScenarioAsync(ProcessCluster cluster)
    {
        var (siloA, siloB) = (cluster.Silos[0], cluster.Silos[1]);
        var (_, address) = await cluster.StartGatewayAsync();
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(40) };
        using var management = await ManagementClient.ConnectAsync(cluster.RedisConnectionString, cluster.ClusterId);
        await management.WaitForActiveSilosAsync(2, TimeSpan.FromSeconds(90));

        // Both silos host session grains. A silo places grains only on silos whose grain manifest it has received,
        // which trails membership by a moment after start-up, so sessions are started in rounds until both host some.
        var sessions = new List<string>();
        var spreadDeadline = DateTime.UtcNow.AddSeconds(60);
        Dictionary<SiloAddress, int> perSilo;
        do
        {
            for (var i = 0; i < 20; i++)
            {
                using var started = await http.PostAsync("/session/start", Json("""{"user_id":"u","model_group":"g"}"""));
                started.EnsureSuccessStatusCode();
                sessions.Add((await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!);
            }

            perSilo = await management.SessionActivationsPerSiloAsync();
        }
        while (perSilo.Count(p => p.Value > 0) < 2 && DateTime.UtcNow < spreadDeadline);

        output.WriteLine($"{sessions.Count} sessions started");
        output.WriteLine("session activations per silo: " + string.Join(", ", perSilo.Select(p => $"{p.Key}={p.Value}")));
        Assert.Equal(2, perSilo.Count(p => p.Value > 0));
        var victim = perSilo.MaxBy(p => p.Value).Key.Endpoint.Port == siloA.SiloPort ? siloA : siloB;

        // Load with retries (same ids) across the kill.
        var acknowledged = new ConcurrentBag<(string Session, string Id)>();
        var lastFailureAfterKill = new ConcurrentDictionary<string, long>();
        var killedAt = 0L;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var batch = 0; !stop.IsCancellationRequested; batch++)
            {
                var session = sessions[(w * 5 + batch) % sessions.Count];
                var ids = Enumerable.Range(0, 3).Select(i => $"w{w}-b{batch}-e{i}").ToArray();
                var body = $$"""{"session_id":"{{session}}","events":[{{string.Join(',', ids.Select(id => $$"""{"type":"click","id":"{{id}}"}"""))}}]}""";
                while (!stop.IsCancellationRequested)
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

                    if (status == 200)
                    {
                        foreach (var id in ids)
                        {
                            acknowledged.Add((session, id));
                        }

                        break;
                    }

                    Assert.True(status is 0 or 503, $"unexpected status {status}");
                    if (Volatile.Read(ref killedAt) > 0)
                    {
                        lastFailureAfterKill[session] = clock.ElapsedMilliseconds;
                    }

                    await Task.Delay(50);
                }
            }
        })).ToArray();

        await Task.Delay(TimeSpan.FromSeconds(2));
        victim.Process.Kill();
        Volatile.Write(ref killedAt, clock.ElapsedMilliseconds);
        var sessionsServedAfterKill = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (sessionsServedAfterKill.Count < sessions.Count && DateTime.UtcNow < deadline)
        {
            foreach (var session in sessions.Except(sessionsServedAfterKill).ToList())
            {
                using var response = await http.PostAsync("/session/event", Json($$"""{"session_id":"{{session}}","type":"system","id":"probe-{{session}}"}"""));
                if (response.IsSuccessStatusCode)
                {
                    sessionsServedAfterKill.Add(session);
                    acknowledged.Add((session, $"probe-{session}"));
                }
            }

            await Task.Delay(200);
        }

        var recoveredAt = clock.ElapsedMilliseconds;
        await Task.Delay(TimeSpan.FromSeconds(1));
        stop.Cancel();
        await Task.WhenAll(workers);

        Assert.Equal(sessions.Count, sessionsServedAfterKill.Count);
        var stored = new List<(string Session, string Id)>();
        foreach (var session in sessions)
        {
            var document = await http.GetFromJsonAsync<JsonElement>($"/session/{session}?limit=10000");
            stored.AddRange(document.GetProperty("events").EnumerateArray().Select(e => (session, e.GetProperty("id").GetString()!)));
        }

        var missing = acknowledged.Except(stored).Count();
        var duplicates = stored.Count - stored.Distinct().Count();
        var survivorActivations = await management.SessionActivationsPerSiloAsync(retryFor: TimeSpan.FromSeconds(30));
        output.WriteLine($"killed silo on port {victim.SiloPort} at {killedAt} ms; every session served again after {recoveredAt - killedAt} ms; " +
                         $"acknowledged {acknowledged.Count}, readable {stored.Count}, missing {missing}, duplicates {duplicates}; " +
                         "activations now: " + string.Join(", ", survivorActivations.Select(p => $"{p.Key}={p.Value}")));
        Assert.Equal(0, missing);
        Assert.Equal(0, duplicates);
        Assert.All(survivorActivations.Keys, silo => Assert.NotEqual(victim.SiloPort, silo.Endpoint.Port));

        // The cluster keeps serving new sessions.
        using var fresh = await http.PostAsync("/session/start", Json("""{"user_id":"after","model_group":"g"}"""));
        Assert.Equal(201, (int)fresh.StatusCode);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
