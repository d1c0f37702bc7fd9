using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Messaging;

namespace SessionTracking;

/// <summary>
/// The silo gateways a client (a gateway process) sends grain calls through: the active silos of the membership table,
/// minus those whose heartbeat (IAmAlive, written every <c>IAmAliveTablePublishTimeout</c>) is older than
/// <see cref="ClusterSettings.GatewayHeartbeatTimeout"/>. The Orleans client sends each grain's calls through one silo
/// gateway until that silo leaves this list; a frozen silo keeps its sockets open and leaves the membership only when
/// evicted (seconds later), so without this the other silo's sessions that share its gateway would wait for the
/// eviction too. Dropping a silo here only moves routing (its grains stay where they are, reached through another
/// gateway) and it returns when its heartbeat does, so it can be quicker than eviction. If every silo looks stale (a
/// Redis hiccup, clock skew), all active silos are used.
/// </summary>
internal sealed class FreshGatewayListProvider(IMembershipTable table, IOptions<GatewayOptions> gateway, TimeSpan heartbeatTimeout, TimeProvider clock) : IGatewayListProvider
{
    public TimeSpan MaxStaleness => gateway.Value.GatewayListRefreshPeriod;

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => table.InitializeMembershipTableAsync(true, CancellationToken.None);

    public async Task<IList<Uri>> GetGateways()
    {
        var members = await table.ReadAllAsync(CancellationToken.None);
        var active = members.Members.Select(m => m.Item1).Where(e => e.Status == SiloStatus.Active && e.ProxyPort != 0).ToList();
        var now = clock.GetUtcNow().UtcDateTime;
        var fresh = active.Where(e => now - e.IAmAliveTime <= heartbeatTimeout).ToList();
        return [.. (fresh.Count > 0 ? fresh : active).Select(e => SiloAddress.New(e.SiloAddress.Endpoint.Address, e.ProxyPort, e.SiloAddress.Generation).ToGatewayUri())];
    }
}
