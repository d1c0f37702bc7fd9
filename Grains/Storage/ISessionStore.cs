using SessionTracking.ReadModel;

namespace SessionTracking.Storage;

/// <summary>
/// The storage port. Adapters translate these calls to one database and hold no business rules:
/// numbering, dedup, limits and end/409 live in <see cref="SessionGrain"/>.
/// </summary>
public interface ISessionStore
{
    /// <summary>Creates tables/collections and indexes. Called once at start-up.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Creates a session and its first events (numbered from 1) in one atomic write, with its read-model row
    /// (<paramref name="summary"/>: the grain's, custom metrics included; null: <see cref="SessionSummary.OfNewSession"/>
    /// of those events) and what it adds to the aggregates.
    /// </summary>
    Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, SessionSummary? summary, CancellationToken cancellationToken);

    /// <summary>
    /// The earliest start time among the user's sessions of the experiment that started at or before
    /// <paramref name="notAfter"/>: the user's first exposure, from which custom metrics' windows and retention count.
    /// </summary>
    Task<DateTimeOffset?> FirstStartOfUserAsync(string experimentId, string userId, DateTimeOffset notAfter, CancellationToken cancellationToken);

    /// <summary>Loads what a grain needs on activation, or null when the session does not exist.</summary>
    Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken);

    /// <summary>
    /// Writes one flush atomically: events (append-only), legacy rows, the end time when set, and the session's read-model
    /// row with what it changes in the experiment aggregates (docs/architecture.md, "The flush record").
    /// Throws <see cref="StoreConflictException"/> when a sequence number is already taken or the stored read-model row
    /// is not the version the flush started from (another activation wrote first), so the grain can reload.
    /// </summary>
    Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken);

    /// <summary>Events with <c>seq &gt; afterSeq</c>, in order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// The <see cref="ClientIdHash"/> of every client id stored for the session: a grain builds its
    /// <see cref="ClientIdHashSet"/> from them once a session outgrows its in-memory id window.
    /// </summary>
    Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>
    /// Of <paramref name="clientIds"/>, the ones already stored for the session: the exact check behind a
    /// <see cref="ClientIdHashSet"/> hit (dedup beyond the grain's in-memory window).
    /// </summary>
    Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken);

    /// <summary>Writes legacy rows that belong to no session (a /query or /log_event without session_id).</summary>
    Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken);

    /// <summary>True when the store answers a trivial read and accepts writes.</summary>
    Task<bool> IsHealthyAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A session as a grain needs it on activation: metadata, last sequence number, the client ids of its newest events,
/// and its read-model row.
/// </summary>
public sealed record SessionSnapshot(SessionInfo Session, long LastSeq, IReadOnlyList<string> RecentClientIds, SessionSummary Metrics);

/// <summary>
/// One group commit of one session (or, with no session id, legacy rows only). <paramref name="Session"/> and
/// <paramref name="ReadModel"/> are set on every flush of a session: the store keys the experiment aggregates by the
/// session's experiment, group, user and start hour.
/// </summary>
public sealed record SessionFlush(
    string? SessionId,
    IReadOnlyList<StoredEvent> Events,
    IReadOnlyList<QueryRow> Queries,
    IReadOnlyList<LegacyEvent> LegacyEvents,
    DateTimeOffset? EndTime,
    SessionInfo? Session = null,
    ReadModelUpdate? ReadModel = null);

public static class SessionStoreExtensions
{
    /// <summary>Creates a session whose read-model row the store computes from its first events (no custom metrics).</summary>
    public static Task CreateSessionAsync(this ISessionStore store, SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, CancellationToken cancellationToken) =>
        store.CreateSessionAsync(session, initialEvents, null, cancellationToken);
}

/// <summary>The store refused a flush because its sequence numbers are already taken.</summary>
internal sealed class StoreConflictException(string message, Exception? inner = null) : Exception(message, inner);
