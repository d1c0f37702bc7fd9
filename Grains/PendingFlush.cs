using SessionTracking.Storage;

namespace SessionTracking;

/// <summary>What a session grain has accepted but the store does not have yet.</summary>
internal sealed class PendingFlush
{
    public List<StoredEvent> Events { get; private set; } = [];

    public List<QueryRow> Queries { get; private set; } = [];

    public List<LegacyEvent> LegacyEvents { get; private set; } = [];

    public DateTimeOffset? EndTime { get; set; }

    public bool IsEmpty => Events.Count == 0 && Queries.Count == 0 && LegacyEvents.Count == 0 && EndTime is null;

    /// <summary>Hands everything pending to one store write and starts an empty buffer.</summary>
    public SessionFlush Take(string sessionId)
    {
        var flush = new SessionFlush(sessionId, Events, Queries, LegacyEvents, EndTime);
        Events = [];
        Queries = [];
        LegacyEvents = [];
        EndTime = null;
        return flush;
    }

    /// <summary>Puts a failed write back in front of whatever arrived since, keeping sequence order.</summary>
    public void Restore(SessionFlush flush)
    {
        Events = [.. flush.Events, .. Events];
        Queries = [.. flush.Queries, .. Queries];
        LegacyEvents = [.. flush.LegacyEvents, .. LegacyEvents];
        EndTime ??= flush.EndTime;
    }

    public void Clear()
    {
        Events = [];
        Queries = [];
        LegacyEvents = [];
        EndTime = null;
    }
}
