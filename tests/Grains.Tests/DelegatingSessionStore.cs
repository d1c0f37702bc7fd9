using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Grains.Tests;

/// <summary>Passes every call to a real store; test stores override the calls they observe or fail.</summary>
internal abstract class DelegatingSessionStore(ISessionStore inner) : ISessionStore
{
    public virtual Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public virtual Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, SessionSummary? summary, CancellationToken cancellationToken) =>
        inner.CreateSessionAsync(session, initialEvents, summary, cancellationToken);

    public virtual Task<DateTimeOffset?> FirstStartOfUserAsync(string experimentId, string userId, DateTimeOffset notAfter, CancellationToken cancellationToken) =>
        inner.FirstStartOfUserAsync(experimentId, userId, notAfter, cancellationToken);

    public virtual Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
        inner.LoadSessionAsync(sessionId, recentIdCount, cancellationToken);

    public virtual Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) => inner.AppendAsync(flush, cancellationToken);

    public virtual Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        inner.ReadEventsAsync(sessionId, afterSeq, limit, cancellationToken);

    public virtual Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
        inner.ReadClientIdHashesAsync(sessionId, cancellationToken);

    public virtual Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
        inner.FindStoredClientIdsAsync(sessionId, clientIds, cancellationToken);

    public virtual Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken) =>
        inner.WriteLegacyRowsAsync(queries, legacyEvents, cancellationToken);

    public virtual Task<bool> IsHealthyAsync(CancellationToken cancellationToken) => inner.IsHealthyAsync(cancellationToken);
}
