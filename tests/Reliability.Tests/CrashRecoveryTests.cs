using System.Collections.Concurrent;
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
