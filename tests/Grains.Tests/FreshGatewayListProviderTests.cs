using System.Net;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
public sealed class FreshGatewayListProviderTests
{
    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(1);
    private static readonly DateTime Now = new(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task Silos_with_a_fresh_heartbeat_are_kept_and_stale_ones_left_out()
    {
        var gateways = await GatewaysAsync(
            Silo(1, SiloStatus.Active, heartbeatAge: TimeSpan.FromSeconds(0.3)),
            Silo(2, SiloStatus.Active, heartbeatAge: TimeSpan.FromSeconds(1.6)),
            Silo(3, SiloStatus.Active, heartbeatAge: HeartbeatTimeout));

        Assert.Equal([GatewayUri(1), GatewayUri(3)], gateways);
    }

    [Fact]
    public async Task Silos_that_are_not_active_or_accept_no_clients_are_never_listed()
    {
        var gateways = await GatewaysAsync(
            Silo(1, SiloStatus.Active, heartbeatAge: TimeSpan.Zero),
            Silo(2, SiloStatus.Joining, heartbeatAge: TimeSpan.Zero),
            Silo(3, SiloStatus.Dead, heartbeatAge: TimeSpan.Zero),
            Silo(4, SiloStatus.Active, heartbeatAge: TimeSpan.Zero, proxyPort: 0));

        Assert.Equal([GatewayUri(1)], gateways);
    }

    [Fact]
    public async Task When_every_active_silo_looks_stale_all_of_them_are_used()
    {
        // A Redis hiccup or clock skew makes every heartbeat look old: routing to all beats routing to none.
        var gateways = await GatewaysAsync(
            Silo(1, SiloStatus.Active, heartbeatAge: TimeSpan.FromSeconds(5)),
            Silo(2, SiloStatus.Active, heartbeatAge: TimeSpan.FromSeconds(30)),
            Silo(3, SiloStatus.Dead, heartbeatAge: TimeSpan.FromSeconds(30)));

        Assert.Equal([GatewayUri(1), GatewayUri(2)], gateways);
    }

    [Fact]
    public async Task An_empty_table_gives_an_empty_list()
    {
        Assert.Empty(await GatewaysAsync());
        Assert.Empty(await GatewaysAsync(Silo(1, SiloStatus.ShuttingDown, heartbeatAge: TimeSpan.Zero)));
    }

    [Fact]
    public async Task A_silo_whose_heartbeat_resumes_is_listed_again()
    {
        var table = new StaticMembershipTable();
        var clock = new ManualClock(Now);
        var provider = new FreshGatewayListProvider(table, Options.Create(new GatewayOptions()), HeartbeatTimeout, clock);
        await provider.InitializeGatewayListProvider();
        table.Entries = [Silo(1, SiloStatus.Active, heartbeatAge: TimeSpan.Zero), Silo(2, SiloStatus.Active, heartbeatAge: TimeSpan.Zero)];

        clock.Advance(TimeSpan.FromSeconds(2));
        table.Entries[0].IAmAliveTime = clock.GetUtcNow().UtcDateTime;
        Assert.Equal([GatewayUri(1)], await provider.GetGateways());

        table.Entries[1].IAmAliveTime = clock.GetUtcNow().UtcDateTime;
        Assert.Equal([GatewayUri(1), GatewayUri(2)], await provider.GetGateways());
        Assert.True(table.Initialized);
    }

    private static async Task<IList<Uri>> GatewaysAsync(params MembershipEntry[] entries)
    {
        var provider = new FreshGatewayListProvider(new StaticMembershipTable { Entries = [.. entries] }, Options.Create(new GatewayOptions()), HeartbeatTimeout, new ManualClock(Now));
        return await provider.GetGateways();
    }

    private static MembershipEntry Silo(int n, SiloStatus status, TimeSpan heartbeatAge, int? proxyPort = null) => new()
    {
        SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11_110 + n), n),
        Status = status,
        ProxyPort = proxyPort ?? 30_000 + n,
        HostName = "localhost",
        SiloName = $"silo-{n}",
        StartTime = Now.AddMinutes(-1),
        IAmAliveTime = Now - heartbeatAge,
    };

    /// <summary>The gateway address of silo <paramref name="n"/>: its client port, not its silo port.</summary>
    private static Uri GatewayUri(int n) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 30_000 + n), n).ToGatewayUri();

    private sealed class StaticMembershipTable : IMembershipTable
    {
        public List<MembershipEntry> Entries { get; set; } = [];

        public bool Initialized { get; private set; }

        public Task InitializeMembershipTable(bool tryInitTableVersion)
        {
            Initialized = true;
            return Task.CompletedTask;
        }

        public Task<MembershipTableData> ReadAll() =>
            Task.FromResult(new MembershipTableData([.. Entries.Select(e => Tuple.Create(e, "etag"))], new TableVersion(1, "v1")));

        public Task DeleteMembershipTableEntries(string clusterId) => throw new NotSupportedException();

        public Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate) => throw new NotSupportedException();

        public Task<MembershipTableData> ReadRow(SiloAddress key) => throw new NotSupportedException();

        public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion) => throw new NotSupportedException();

        public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion) => throw new NotSupportedException();

        public Task UpdateIAmAlive(MembershipEntry entry) => throw new NotSupportedException();
    }

    private sealed class ManualClock(DateTime start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
