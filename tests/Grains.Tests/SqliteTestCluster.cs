using Orleans.TestingHost;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// A <see cref="TestCluster"/> whose silos share one SQLite file in a fresh temp directory, as production silos share a
/// store; disposing it stops the silos and deletes the directory.
/// </summary>
public sealed class SqliteTestCluster : IAsyncDisposable
{
    private SqliteTestCluster(string directory, TestCluster cluster) => (DataDirectory, Cluster) = (directory, cluster);

    public string DataDirectory { get; }

    public string DatabasePath => Path.Combine(DataDirectory, "sessions.db");

    public TestCluster Cluster { get; }

    /// <summary>Starts <paramref name="silos"/> silos configured by <typeparamref name="TConfigurator"/> with <paramref name="settings"/>.</summary>
    public static async Task<SqliteTestCluster> StartAsync<TConfigurator>(string name, short silos, params (string Key, string Value)[] settings)
        where TConfigurator : ISiloConfigurator, new()
    {
        var directory = RepoPaths.NewTempDirectory(name);
        var builder = new TestClusterBuilder(silos);
        builder.Properties["Storage:Sqlite:DatabasePath"] = Path.Combine(directory, "sessions.db");
        foreach (var (key, value) in settings)
        {
            builder.Properties[key] = value;
        }

        builder.AddSiloBuilderConfigurator<TConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new SqliteTestCluster(directory, cluster);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataDirectory, recursive: true);
    }
}
