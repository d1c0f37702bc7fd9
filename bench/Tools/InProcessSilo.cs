using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SessionTracking.Storage;

namespace SessionTracking.Bench;

/// <summary>Measurements that need the grain runtime itself rather than HTTP: memory per session and append cost.</summary>
internal static class InProcessSilo
{
    public static async Task<int> MemoryPerIdleSessionAsync(int count)
    {
        using var host = await BenchSilo.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var before = Measure();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await grains.GetGrain<ISessionGrain>($"mem-{i:D8}").StartAsync(new StartSession($"u{i}", "exp", "g", """{"device":"desktop"}"""));
            }
        })));
        var after = Measure();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"JSON {{\"sessions\":{count},\"managed_bytes_before\":{before},\"managed_bytes_after\":{after},\"bytes_per_session\":{(after - before) / (double)count:F0}}}"));
        await host.StopAsync();
        return 0;
    }

    public static async Task<int> AppendCostAsync(int seededEvents, int appends)
    {
        using var host = await BenchSilo.StartAsync();
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var store = host.Services.GetRequiredService<ISessionStore>();

        // The long session gets its events straight through the store, as a grain would have written them.
        const string longId = "long-session";
        await grains.GetGrain<ISessionGrain>("seed-helper").StartAsync(new StartSession("u", "e", "g", "{}"));
        await store.CreateSessionAsync(new SessionInfo(longId, "u", "e", "g", DateTimeOffset.UtcNow, null, "{}"), [], CancellationToken.None);
        var seedClock = Stopwatch.StartNew();
        for (var from = 1; from <= seededEvents; from += 10_000)
        {
            var events = Enumerable.Range(from, Math.Min(10_000, seededEvents - from + 1))
                .Select(i => new StoredEvent(i, 1_730_000_000_000 + i, "scroll", """{"scrollY":1}""", $"seed-{i}", 1_730_000_000_000 + i))
                .ToArray();
            await store.AppendAsync(new SessionFlush(longId, events, [], [], null), CancellationToken.None);
        }

        var seedSeconds = seedClock.Elapsed.TotalSeconds;
        await grains.GetGrain<ISessionGrain>("new-session").StartAsync(new StartSession("u", "e", "g", "{}"));

        // Warm both activations, then alternate so machine noise hits both equally.
        var longGrain = grains.GetGrain<ISessionGrain>(longId);
        var newGrain = grains.GetGrain<ISessionGrain>("new-session");
        await longGrain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "warm")]));
        await newGrain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "warm")]));
        var longTimes = new List<double>(appends);
        var newTimes = new List<double>(appends);
        for (var i = 0; i < appends; i++)
        {
            longTimes.Add(await TimeAppendAsync(longGrain, $"a{i}"));
            newTimes.Add(await TimeAppendAsync(newGrain, $"a{i}"));
        }

        var page = await longGrain.ReadAsync(seededEvents, 10);
        longTimes.Sort();
        newTimes.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"JSON {{\"seeded_events\":{seededEvents},\"seed_seconds\":{seedSeconds:F1},\"long_last_seq\":{page!.LastSeq},\"appends\":{appends}," +
            $"\"long_mean_ms\":{longTimes.Average():F3},\"new_mean_ms\":{newTimes.Average():F3},\"long_p50_ms\":{longTimes[appends / 2]:F3},\"new_p50_ms\":{newTimes[appends / 2]:F3}," +
            $"\"ratio_mean\":{longTimes.Average() / newTimes.Average():F3},\"ratio_p50\":{longTimes[appends / 2] / newTimes[appends / 2]:F3}}}"));
        await host.StopAsync();
        return 0;
    }

    private static async Task<double> TimeAppendAsync(ISessionGrain grain, string id)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", """{"target":"BUTTON"}""", null, id)]));
        if (result.Accepted != 1)
        {
            throw new InvalidOperationException($"append {id} was not accepted: {result}");
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static long Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A silo in this process on a SQLite file in its own temp directory, which disposing it deletes.</summary>
    private sealed class BenchSilo(IHost host, string directory) : IDisposable
    {
        public IServiceProvider Services => host.Services;

        public static async Task<BenchSilo> StartAsync()
        {
            var directory = Path.Combine(Path.GetTempPath(), "bench-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(directory);
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Storage:Sqlite:DatabasePath"] = Path.Combine(directory, "sessions.db"),
                ["Cluster:SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
                ["Cluster:GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            });
            builder.UseOrleans(silo => silo.UseSessionTrackingClustering(builder.Configuration).AddSessionTracking(builder.Configuration));
            var host = builder.Build();
            await host.StartAsync();
            return new BenchSilo(host, directory);
        }

        public Task StopAsync() => host.StopAsync();

        public void Dispose()
        {
            host.Dispose();
            Directory.Delete(directory, recursive: true); // a million seeded events take 120 MB
        }
    }
}
