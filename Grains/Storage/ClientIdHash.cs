namespace SessionTracking.Storage;

/// <summary>
/// The 64-bit hash of a client event id that stores keep beside their events and the grain's <see cref="ClientIdHashSet"/>
/// holds (FNV-1a over the id's UTF-16 code units). It only has to be stable across processes and versions: a hash that
/// matches is always confirmed against the stored id itself, so a collision costs one lookup, never a dropped event.
/// </summary>
public static class ClientIdHash
{
    private const ulong OffsetBasis = 14695981039346656037;
    private const ulong Prime = 1099511628211;

    /// <summary>Prime², for a code unit below 256: its high byte is 0, and (h ^ 0) · p · p = h · p², one multiply for two bytes.</summary>
    private const ulong PrimeSquared = unchecked(Prime * Prime);

    /// <summary>The hash of an event's id (which it must have): the grain's when it travelled with the event, else computed.</summary>
    public static ulong Of(StoredEvent e) => e.IdHash > 1 ? e.IdHash : Of(e.ClientId!);

    public static ulong Of(string clientId)
    {
        var hash = OffsetBasis;
        foreach (var c in clientId)
        {
            if (c < 256)
            {
                hash = (hash ^ c) * PrimeSquared;
            }
            else
            {
                hash = (hash ^ (byte)c) * Prime;
                hash = (hash ^ (byte)(c >> 8)) * Prime;
            }
        }

        return hash;
    }
}
