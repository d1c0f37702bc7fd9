using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionTracking.Storage;
using SessionTracking.Storage.Sqlite;

namespace SessionTracking.Grains.Tests;

/// <summary>A two-silo TestCluster whose silos share one SQLite file in a temp directory, as production silos share a store.</summary>
public sealed class SessionClusterFixture : IAsyncLifetime
{
    private SqliteTestCluster _cluster = null!;

    public string DataDirectory => _cluster.DataDirectory;

    public string DatabasePath => _cluster.DatabasePath;

    public TestCluster Cluster => _cluster.Cluster;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync() =>
        _cluster = await SqliteTestCluster.StartAsync<SiloConfigurator>("grains-tests", silos: 2, ("Sessions:RecentIdWindow", "8"));

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

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
