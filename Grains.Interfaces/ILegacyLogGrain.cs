namespace SessionTracking;

/// <summary>Writes legacy <c>queries</c>/<c>events</c> rows that name no session; stateless, so any silo serves it locally.</summary>
[Alias("SessionTracking.ILegacyLogGrain")]
public interface ILegacyLogGrain : IGrainWithIntegerKey
{
    [Alias("WriteQuery")]
    ValueTask WriteQueryAsync(QueryRow row);

    [Alias("WriteEvent")]
    ValueTask WriteEventAsync(LegacyEvent legacyEvent);
}
