using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Reliability.Tests;

/// <summary>Real gateway processes on a real SQLite file: kill -9 and graceful stops under load.</summary>
[TestCategory("SlowBVT")]
public sealed class CrashRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _data = RepoPaths.NewTempDirectory("crash-tests");

    [Fact]
    public async Task After_kill_minus_9_under_load_every_acknowledged_event_is_readable_and_none_twice()
    {
        var (process, address) = ServiceProcess.StartGateway(_data);
        await using (process)
        {
            await process.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
            using var client = new SessionClient(address);
            var sessions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.StartAsync()));
            var acknowledged = new ConcurrentBag<(string Session, string Id)>();
            var sent = 0;
            using var stop = new CancellationTokenSource();

            var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                for (var batch = 0; !stop.IsCancellationRequested; batch++)
                {
                    var session = sessions[(w + batch) % sessions.Length];
                    var ids = Enumerable.Range(0, 5).Select(i => $"w{w}-b{batch}-e{i}").ToArray();
                    Interlocked.Add(ref sent, ids.Length);
                    if (await client.PostBatchAsync(session, ids) == 200)
                    {
                        foreach (var id in ids)
                        {
                            acknowledged.Add((session, id));
                        }
                    }
                }
            })).ToArray();

            await Task.Delay(TimeSpan.FromSeconds(3));
            process.Kill();
            stop.Cancel();
            await Task.WhenAll(workers);

            var (restarted, restartedAddress) = ServiceProcess.StartGateway(_data);
            await using (restarted)
            {
                await restarted.WaitUntilReadyAsync(new Uri(restartedAddress, "/readyz"), TimeSpan.FromSeconds(90));
                using var reader = new SessionClient(restartedAddress);
                var stored = new List<(string Session, string Id)>();
                foreach (var session in sessions)
                {
                    stored.AddRange((await reader.ReadIdsAsync(session)).Select(id => (session, id)));
                }

                var missing = acknowledged.Except(stored).Count();
                var duplicates = stored.Count - stored.Distinct().Count();
                output.WriteLine($"sent {sent} events, acknowledged {acknowledged.Count}, readable after kill -9 {stored.Count}, acknowledged but missing {missing}, duplicates {duplicates}");

                Assert.True(acknowledged.Count > 100, $"only {acknowledged.Count} events were acknowledged before the kill");
                Assert.Equal(0, missing);
                Assert.Equal(0, duplicates);

                // Retrying every acknowledged batch after the restart stores nothing twice.
                var retried = await reader.PostBatchAsync(sessions[0], acknowledged.Where(a => a.Session == sessions[0]).Select(a => a.Id).Take(100));
                Assert.Equal(200, retried);
                var afterRetry = await reader.ReadIdsAsync(sessions[0]);
                Assert.Equal(afterRetry.Count, afterRetry.Distinct().Count());
                Assert.Equal(stored.Count(s => s.Session == sessions[0]), afterRetry.Count);
            }
        }
    }

    /// <summary>
    /// The read model is written in the transaction of the events it summarises: killed under load (sessions appending
    /// responses and feedback, some ending), the restarted service reports exactly what a recomputation from the stored
    /// events (the JSONL export) gives — and still after more events reach the sessions' new activations.
    /// </summary>
    [Fact]
    public async Task After_kill_minus_9_under_load_the_read_model_equals_a_recomputation_from_the_stored_events()
    {
        var (process, address) = ServiceProcess.StartGateway(_data);
        string[] sessions;
        await using (process)
        {
            await process.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
            using var client = new SessionClient(address);
            sessions = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => StartAsync(client, $"crash-user-{i % 10}", i % 2 == 0 ? "A" : "B")));
            using var stop = new CancellationTokenSource();
            var acknowledged = 0;
            var workers = Enumerable.Range(0, 12).Select(w => Task.Run(async () =>
            {
                for (var batch = 0; !stop.IsCancellationRequested; batch++)
                {
                    var session = sessions[((w * 7) + batch) % sessions.Length];
                    var end = batch % 40 == 39 && w % 3 == 0;
                    if (await PostAsync(client, session, $"w{w}-b{batch}", batch, end) == 200)
                    {
                        Interlocked.Increment(ref acknowledged);
                    }
                }
            })).ToArray();

            await Task.Delay(TimeSpan.FromSeconds(3));
            process.Kill();
            stop.Cancel();
            await Task.WhenAll(workers);
            Assert.True(acknowledged > 50, $"only {acknowledged} batches were acknowledged before the kill");
            output.WriteLine($"{acknowledged} batches acknowledged before kill -9");
        }

        var (restarted, restartedAddress) = ServiceProcess.StartGateway(_data);
        await using (restarted)
        {
            await restarted.WaitUntilReadyAsync(new Uri(restartedAddress, "/readyz"), TimeSpan.FromSeconds(90));
            using var reader = new SessionClient(restartedAddress);
            await AssertRecomputedAsync(reader);

            // New activations continue from the stored summaries.
            foreach (var session in sessions)
            {
                Assert.True(await PostAsync(reader, session, "after-restart", 1, end: false) is 200 or 409);
            }

            await AssertRecomputedAsync(reader);
        }

        static async Task<string> StartAsync(SessionClient client, string user, string group)
        {
            using var response = await client.Http.PostAsync("/session/start", SessionClient.Json($$"""{"user_id":"{{user}}","model_group":"{{group}}","experiment_id":"crash"}"""));
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
        }

        static async Task<int> PostAsync(SessionClient client, string session, string id, int batch, bool end)
        {
            var feedback = (batch % 3) switch { 0 => "up", 1 => "down", _ => "meh" };
            var body = $$"""
                {"session_id":"{{session}}","end":{{(end ? "true" : "false")}},"events":[
                  {"type":"prompt","data":{"text":"q"},"id":"{{id}}-p"},
                  {"type":"model_response","data":{"latency_ms":{{100 + (batch * 37 % 900)}},"ttft_ms":{{batch % 50}}},"id":"{{id}}-r"},
                  {"type":"feedback","data":{"feedback":"{{feedback}}"},"id":"{{id}}-f"}]}
                """;
            try
            {
                using var response = await client.Http.PostAsync("/session/event", SessionClient.Json(body));
                return (int)response.StatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return 0;
            }
        }

        async Task AssertRecomputedAsync(SessionClient reader)
        {
            var stored = ReportRecomputation.ParseExport(await reader.Http.GetStringAsync("/exports/sessions.jsonl?experiment_id=crash"));
            using var response = await reader.Http.GetAsync("/analytics?experiment_id=crash&unit=session");
            var report = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("experiments")[0];
            var failures = new List<string>();
            ReportRecomputation.AssertReport(report, stored, usersAsUnits: false, (ok, message) => { if (!ok) { failures.Add(message); } });
            var byUser = (await (await reader.Http.GetAsync("/analytics?experiment_id=crash&unit=user")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("experiments")[0];
            ReportRecomputation.AssertReport(byUser, stored, usersAsUnits: true, (ok, message) => { if (!ok) { failures.Add("users: " + message); } });
            output.WriteLine($"{stored.Sum(s => s.Figures.GetValueOrDefault("responses"))} stored responses in {stored.Count} sessions; {failures.Count} differences");
            Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        }
    }

    [Fact]
    public async Task A_graceful_stop_flushes_buffered_events_before_exiting()
    {
        // Buffered mode with a flush interval far beyond the test: only the shutdown flush can store these events.
        var environment = new Dictionary<string, string?> { ["Sessions__Durability"] = "Buffered", ["Sessions__FlushInterval"] = "00:10:00" };
        var (process, address) = ServiceProcess.StartGateway(_data, environment);
        string session;
        await using (process)
        {
            await process.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
            using var client = new SessionClient(address);
            session = await client.StartAsync();
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(200, await client.PostBatchAsync(session, [$"g{i}"]));
            }

            Assert.Equal(0, await process.StopAsync(TimeSpan.FromSeconds(60)));
        }

        var (restarted, restartedAddress) = ServiceProcess.StartGateway(_data, environment);
        await using (restarted)
        {
            await restarted.WaitUntilReadyAsync(new Uri(restartedAddress, "/readyz"), TimeSpan.FromSeconds(90));
            using var reader = new SessionClient(restartedAddress);
            Assert.Equal(Enumerable.Range(0, 20).Select(i => $"g{i}"), await reader.ReadIdsAsync(session));
        }
    }

    public void Dispose()
    {
        Directory.Delete(_data, recursive: true);
    }
}
