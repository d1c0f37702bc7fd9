namespace SessionTracking;

/// <summary>Answers whether a silo is up and its session store answers; readiness probes call it.</summary>
[Alias("SessionTracking.IStoreHealthGrain")]
public interface IStoreHealthGrain : IGrainWithIntegerKey
{
    [Alias("Check")]
    ValueTask<bool> IsStoreHealthyAsync();
}
