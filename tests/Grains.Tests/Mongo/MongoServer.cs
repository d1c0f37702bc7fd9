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

    private static readonly string? ConfiguredStandaloneUri = Environment.GetEnvironmentVariable("MONGODB_STANDALONE_URI") is { Length: > 0 } uri ? uri : null;

    private static readonly Lazy<Task<string>> StandaloneContainer = new(StartStandaloneContainerAsync);

    /// <summary>Null when a server is available (configured or by container); otherwise why the tests cannot run.</summary>
    public static string? SkipReason { get; } = ConfiguredUri is null && !HasDockerDaemon()
        ? "No MongoDB server: MONGODB_URI is not set and no Docker daemon is reachable for a Testcontainers MongoDB (DOCKER_HOST or /var/run/docker.sock). Set either to run the adapter against a real server."
        : null;

    /// <summary>Null when a standalone server (no replica set) is available: <c>MONGODB_STANDALONE_URI</c>, else a container.</summary>
    public static string? StandaloneSkipReason { get; } = ConfiguredStandaloneUri is null && !HasDockerDaemon()
        ? "No standalone MongoDB server: MONGODB_STANDALONE_URI is not set and no Docker daemon is reachable for a Testcontainers MongoDB."
        : null;

    /// <summary>
    /// Null when the server accepts <c>configureFailPoint</c> (started with <c>--setParameter enableTestCommands=1</c>),
    /// which the operator states with <c>MONGODB_FAILPOINTS=1</c>: neither the default container nor a production-like
    /// server has it, and xUnit 2 cannot skip a test once it runs.
    /// </summary>
    public static string? FailPointSkipReason { get; } = SkipReason
        ?? (Environment.GetEnvironmentVariable("MONGODB_FAILPOINTS") == "1" ? null : "MONGODB_FAILPOINTS is not 1: the server's failCommand fail point (enableTestCommands) is not known to be available.");

    public static Task<string> StandaloneConnectionStringAsync() =>
        ConfiguredStandaloneUri is { } uri ? Task.FromResult(uri)
        : StandaloneSkipReason is null ? StandaloneContainer.Value
        : throw new InvalidOperationException(StandaloneSkipReason);

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

    private static async Task<string> StartStandaloneContainerAsync()
    {
        var container = new MongoDbBuilder(Image).Build();
        await container.StartAsync();
        return container.GetConnectionString();
    }

    private static bool HasDockerDaemon() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST"))
        || File.Exists("/var/run/docker.sock")
        || (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime && File.Exists(Path.Combine(runtime, "docker.sock")));
}
