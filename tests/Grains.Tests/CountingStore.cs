using SessionTracking.Storage;

namespace SessionTracking.Grains.Tests;

/// <summary>Passes every call to the real SQLite store and counts session flushes, id-hash reads and exact dedup checks per session id.</summary>
internal sealed class CountingStore(ISessionStore inner) : DelegatingSessionStore(inner)
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> FlushesBySession = new();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> IdsCheckedBySession = new();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> ExactCheckGates = new();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> HashReadsBySession = new();

    public static int FlushesOf(string sessionId) => FlushesBySession.GetValueOrDefault(sessionId);

    /// <summary>Holds the session's exact dedup checks (after counting them) until <paramref name="gate"/> completes.</summary>
    public static void HoldExactChecks(string sessionId, Task gate) => ExactCheckGates[sessionId] = gate;

    /// <summary>How many client ids the grain sent to the store's exact dedup check for the session.</summary>
    public static int IdsCheckedOf(string sessionId) => IdsCheckedBySession.GetValueOrDefault(sessionId);

    /// <summary>How often the grain read the session's stored id hashes (to build its key set).</summary>
    public static int HashReadsOf(string sessionId) => HashReadsBySession.GetValueOrDefault(sessionId);

    public override Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken)
    {
        HashReadsBySession.AddOrUpdate(sessionId, 1, (_, n) => n + 1);
        return base.ReadClientIdHashesAsync(sessionId, cancellationToken);
    }

    public override async Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken)
    {
        await base.AppendAsync(flush, cancellationToken);
        FlushesBySession.AddOrUpdate(flush.SessionId ?? "", 1, (_, n) => n + 1);
    }

    public override async Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken)
    {
        IdsCheckedBySession.AddOrUpdate(sessionId, clientIds.Count, (_, n) => n + clientIds.Count);
        if (ExactCheckGates.TryRemove(sessionId, out var gate))
        {
            await gate;
        }

        return await base.FindStoredClientIdsAsync(sessionId, clientIds, cancellationToken);
    }
}
