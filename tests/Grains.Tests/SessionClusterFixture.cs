using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>A two-silo TestCluster whose silos share one SQLite file in a temp directory, as production silos share a store.</summary>
public sealed class SessionClusterFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = RepoPaths.NewTempDirectory("grains-tests");

    public string DatabasePath => Path.Combine(DataDirectory, "sessions.db");

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(initialSilosCount: 2);
        builder.Properties["Storage:Sqlite:DatabasePath"] = DatabasePath;
        builder.Properties["Sessions:RecentIdWindow"] = "8";
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataDirectory, recursive: true);
    }

    public ISessionGrain Session(string id) => Grains.GetGrain<ISessionGrain>(id);

    /// <summary>Starts a session with a fresh id.</summary>
    public async Task<ISessionGrain> StartSessionAsync(string userId = "user-1", string modelGroup = "gpt-4")
    {
        var grain = Session(Guid.NewGuid().ToString("N"));
        var result = await grain.StartAsync(new StartSession(userId, "exp-1", modelGroup, """{"device":"desktop"}"""));
        Assert.Equal(SessionStatus.Ok, result.Status);
        return grain;
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddSessionTracking(siloBuilder.Configuration);

            // Count store writes (group commit is observable as fewer writes than appends).
            siloBuilder.Services.AddSingleton<ISessionStore>(sp => new CountingStore(sp.GetRequiredService<SqliteSessionStore>()));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SessionClusterCollection : ICollectionFixture<SessionClusterFixture>
{
    public const string Name = "session cluster";
}
