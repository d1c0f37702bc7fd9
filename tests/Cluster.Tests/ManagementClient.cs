using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime;

namespace SessionTracking.Cluster.Tests;

/// <summary>An Orleans client of the cluster, used only to ask where session grains are activated.</summary>
internal sealed class ManagementClient(IHost host) : IDisposable
{
    public static async Task<ManagementClient> ConnectAsync(string redis, string clusterId)
    {
        var host = new HostBuilder()
            .UseOrleansClient(client => client
                .UseRedisClustering(redis)
                .Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = "session-tracking";
                }))
            .Build();
        await host.StartAsync();
        return new ManagementClient(host);
    }

    public async Task WaitForActiveSilosAsync(int count, TimeSpan timeout)
    {
        var management = host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow + timeout;
        while ((await management.GetHosts(onlyActive: true)).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{count} silos did not join within {timeout}");
            await Task.Delay(250);
        }
    }

    /// <summary>Retries while the client still holds a connection to the killed silo.</summary>
    public async Task<Dictionary<SiloAddress, int>> SessionActivationsPerSiloAsync(TimeSpan retryFor)
    {
        var deadline = DateTime.UtcNow + retryFor;
        while (true)
        {
            try
            {
                return await SessionActivationsPerSiloAsync();
            }
            catch (Exception ex) when (ex is OrleansException or TimeoutException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }
    }

    public async Task<Dictionary<SiloAddress, int>> SessionActivationsPerSiloAsync()
    {
        var grains = host.Services.GetRequiredService<IClusterClient>();
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        var statistics = await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return hosts.Keys.ToDictionary(
            silo => silo,
            silo => statistics.Where(s => s.SiloAddress.Equals(silo) && s.GrainType.Contains("SessionGrain", StringComparison.Ordinal)).Sum(s => s.ActivationCount));
    }

    /// <summary>The silo each session's grain is activated on (null: not activated).</summary>
    public async Task<Dictionary<string, SiloAddress?>> SessionLocationsAsync(IEnumerable<string> sessions)
    {
        var grains = host.Services.GetRequiredService<IClusterClient>();
        var management = grains.GetGrain<IManagementGrain>(0);
        var locations = new Dictionary<string, SiloAddress?>();
        foreach (var session in sessions)
        {
            locations[session] = await management.GetActivationAddress(grains.GetGrain<ISessionGrain>(session));
        }

        return locations;
    }

    public void Dispose()
    {
        host.StopAsync().GetAwaiter().GetResult();
        host.Dispose();
    }
}
