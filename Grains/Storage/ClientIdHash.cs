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

    public static ulong Of(string clientId)
    {
        var hash = OffsetBasis;
        foreach (var c in clientId)
        {
            hash = (hash ^ (byte)c) * Prime;
            hash = (hash ^ (byte)(c >> 8)) * Prime;
        }

        return hash;
    }
}
