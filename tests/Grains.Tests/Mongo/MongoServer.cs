using Testcontainers.MongoDb;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Where the MongoDB tests find a server: <c>MONGODB_URI</c> when set; otherwise a throwaway container
/// (Testcontainers.MongoDb: a single-node replica set, so transactions work) when a Docker daemon is reachable;
/// otherwise none, and the tests are skipped with <see cref="SkipReason"/>. The container is started once per test
/// run and removed by Testcontainers when the run ends.
/// </summary>
internal static class MongoServer
{
    private const string Image = "mongo:7.0.14";

    private static readonly string? ConfiguredUri = Environment.GetEnvironmentVariable("MONGODB_URI") is { Length: > 0 } uri ? uri : null;

    private static readonly Lazy<Task<string>> Container = new(StartContainerAsync);

    /// <summary>Null when a server is available (configured or by container); otherwise why the tests cannot run.</summary>
    public static string? SkipReason { get; } = ConfiguredUri is null && !HasDockerDaemon()
        ? "No MongoDB server: MONGODB_URI is not set and no Docker daemon is reachable for a Testcontainers MongoDB (DOCKER_HOST or /var/run/docker.sock). Set either to run the adapter against a real server."
        : null;

    public static Task<string> ConnectionStringAsync() =>
        ConfiguredUri is { } uri ? Task.FromResult(uri)
        : SkipReason is null ? Container.Value
        : throw new InvalidOperationException(SkipReason);

    private static async Task<string> StartContainerAsync()
    {
        var container = new MongoDbBuilder(Image).WithReplicaSet("rs0").Build();
        await container.StartAsync();
        return container.GetConnectionString();
    }

    private static bool HasDockerDaemon() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST"))
        || File.Exists("/var/run/docker.sock")
        || (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime && File.Exists(Path.Combine(runtime, "docker.sock")));
}
