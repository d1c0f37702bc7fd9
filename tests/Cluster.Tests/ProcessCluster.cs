using System.Globalization;
using System.Text;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// A real cluster on this machine: redis-server for membership, standalone silo processes sharing one SQLite file in
/// a temp directory, and client-mode gateway processes. Every process is stopped (or killed) with the cluster.
/// </summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    private readonly RedisServer _redis;
    private readonly List<(string Name, ServiceProcess Process)> _processes = [];
    private readonly Dictionary<string, string?> _settings;

    private ProcessCluster(RedisServer redis, Dictionary<string, string?> settings)
    {
        _redis = redis;
        _settings = settings;
    }

    public string ClusterId { get; } = "test-" + Guid.NewGuid().ToString("N")[..8];

    public string DataDirectory { get; } = RepoPaths.NewTempDirectory("cluster-tests");

    public string RedisConnectionString => _redis.ConnectionString;

    public List<SiloProcess> Silos { get; } = [];

    /// <summary>Starts Redis and <paramref name="silos"/> silos; <paramref name="settings"/> go to every silo and gateway.</summary>
    public static async Task<ProcessCluster> StartAsync(int silos, Dictionary<string, string?>? settings = null)
    {
        var cluster = new ProcessCluster(await RedisServer.StartAsync(), settings ?? []);
        for (var i = 0; i < silos; i++)
        {
            cluster.StartSilo();
        }

        return cluster;
    }

    public SiloProcess StartSilo()
    {
        var siloPort = FreePort.Next();
        var healthPort = FreePort.Next();
        var process = ServiceProcess.Start(RepoPaths.SiloDll, [], Environment(new()
        {
            ["Cluster__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster__GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Storage__Sqlite__DatabasePath"] = Path.Combine(DataDirectory, "sessions.db"),
            ["Health__Port"] = healthPort.ToString(CultureInfo.InvariantCulture),
        }));
        var silo = new SiloProcess(process, siloPort, new Uri($"http://127.0.0.1:{healthPort}"));
        Silos.Add(silo);
        _processes.Add(($"silo {Silos.Count} (port {siloPort})", process));
        return silo;
    }

    /// <summary>A client-mode gateway of this cluster, ready (its /readyz answered 200).</summary>
    public async Task<(ServiceProcess Process, Uri Address)> StartGatewayAsync(Dictionary<string, string?>? settings = null)
    {
        var environment = Environment(new() { ["Orleans__Mode"] = "Client" });
        foreach (var (key, value) in settings ?? [])
        {
            environment[key] = value;
        }

        var (process, address) = ServiceProcess.StartGateway(DataDirectory, environment);
        _processes.Add(($"gateway {address}", process));
        await process.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(120));
        return (process, address);
    }

    /// <summary>The end of every process's output, for a failed test's log.</summary>
    public string RecentOutput(int characters = 4000)
    {
        var text = new StringBuilder();
        foreach (var (name, process) in _processes)
        {
            var log = process.Output;
            text.Append("--- ").Append(name).Append(", last output:\n").AppendLine(log[Math.Max(0, log.Length - characters)..]);
        }

        return text.ToString();
    }

    private Dictionary<string, string?> Environment(Dictionary<string, string?> extra)
    {
        var environment = new Dictionary<string, string?>
        {
            ["Cluster__Provider"] = "Redis",
            ["Cluster__RedisConnectionString"] = _redis.ConnectionString,
            ["Cluster__ClusterId"] = ClusterId,
        };
        foreach (var (key, value) in _settings.Concat(extra))
        {
            environment[key] = value;
        }

        return environment;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, process) in Enumerable.Reverse(_processes))
        {
            Signals.Continue(process); // a frozen process cannot stop gracefully
            await process.DisposeAsync();
        }

        _redis.Dispose();
        Directory.Delete(DataDirectory, recursive: true);
    }
}

/// <summary>A standalone silo process: its silo-to-silo port identifies it in Orleans' silo addresses.</summary>
internal sealed record SiloProcess(ServiceProcess Process, int SiloPort, Uri HealthAddress);
