using Orleans.TestingHost;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>Browsers die without unloading: the server ends sessions that stay idle past the timeout.</summary>
[TestCategory("BVT")]
public sealed class IdleSessionTests : IAsyncLifetime
{
    private SqliteTestCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await SqliteTestCluster.StartAsync<Configurator>("idle-tests", silos: 1, ("Sessions:IdleTimeout", "00:00:02"));

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task An_idle_session_is_ended_at_its_last_activity_and_refuses_new_events()
    {
        var grain = _cluster.Cluster.Client.GetGrain<ISessionGrain>(Guid.NewGuid().ToString("N"));
        await grain.StartAsync(new StartSession("u", "e", "g", "{}"));
        var appended = await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "i1")]));
        var page = await grain.ReadAsync(0, 10);
        var lastActivity = page!.Events[0].ReceivedAt;

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (page!.Session.EndTime is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            page = await grain.ReadAsync(0, 10);
        }

        Assert.Equal(SessionStatus.Ok, appended.Status);
        Assert.NotNull(page.Session.EndTime);
        Assert.Equal(lastActivity, page.Session.EndTime!.Value.ToUnixTimeMilliseconds());
        Assert.Equal(SessionStatus.Ended, (await grain.AppendAsync(new AppendBatch([new IncomingEvent("click", "{}", null, "i2")]))).Status);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => siloBuilder.AddSessionTracking(siloBuilder.Configuration);
    }
}
