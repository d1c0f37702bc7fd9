using Orleans.Concurrency;
using SessionTracking.Storage;

namespace SessionTracking;

[StatelessWorker]
public sealed class StoreHealthGrain(ISessionStore store) : Grain, IStoreHealthGrain
{
    public async ValueTask<bool> IsStoreHealthyAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            return await store.IsHealthyAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
