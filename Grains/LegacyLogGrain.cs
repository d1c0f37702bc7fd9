using Orleans.Concurrency;
using SessionTracking.Storage;

namespace SessionTracking;

[StatelessWorker]
public sealed class LegacyLogGrain(ISessionStore store) : Grain, ILegacyLogGrain
{
    public async ValueTask WriteQueryAsync(QueryRow row) =>
        await store.WriteLegacyRowsAsync([row], [], CancellationToken.None);

    public async ValueTask WriteEventAsync(LegacyEvent legacyEvent) =>
        await store.WriteLegacyRowsAsync([], [legacyEvent], CancellationToken.None);
}
