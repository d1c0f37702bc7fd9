using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking;

/// <summary>What a session grain has accepted but the store does not have yet.</summary>
internal sealed class PendingFlush
{
    public List<StoredEvent> Events { get; private set; } = [];

    public List<QueryRow> Queries { get; private set; } = [];

    public List<LegacyEvent> LegacyEvents { get; private set; } = [];

    /// <summary>Latency, TTFT and duration values of the pending events, for the read model's percentile sketches.</summary>
    public List<MetricSample> Samples { get; private set; } = [];

    public DateTimeOffset? EndTime { get; set; }

    /// <summary>Buffers a request's legacy rows, when it has them.</summary>
    public void Add(QueryRow? query, LegacyEvent? legacy)
    {
        if (query is not null)
        {
            Queries.Add(query);
        }

        if (legacy is not null)
        {
            LegacyEvents.Add(legacy);
        }
    }

    public bool IsEmpty => Events.Count == 0 && Queries.Count == 0 && LegacyEvents.Count == 0 && EndTime is null;

    /// <summary>
    /// Hands everything pending to one store write and starts an empty buffer. The read-model row goes from what the store
    /// has (<paramref name="durable"/>) to <paramref name="current"/>, which covers every event taken here.
    /// </summary>
    public SessionFlush Take(SessionInfo session, SessionSummary durable, SessionSummary current)
    {
        // Lists that are empty (queries, legacy rows, samples: most flushes) stay here for the next flush; the flush
        // gets a shared empty list in their place.
        var flush = new SessionFlush(session.SessionId, Events, TakeOrEmpty(Queries), TakeOrEmpty(LegacyEvents), EndTime, session, new ReadModelUpdate(durable, current, TakeOrEmpty(Samples)));
        Events = [];
        Queries = Queries.Count == 0 ? Queries : [];
        LegacyEvents = LegacyEvents.Count == 0 ? LegacyEvents : [];
        Samples = Samples.Count == 0 ? Samples : [];
        EndTime = null;
        return flush;
    }

    private static IReadOnlyList<T> TakeOrEmpty<T>(List<T> list) => list.Count == 0 ? [] : list;

    /// <summary>Puts a failed write back in front of whatever arrived since, keeping sequence order.</summary>
    public void Restore(SessionFlush flush)
    {
        Events = [.. flush.Events, .. Events];
        Queries = [.. flush.Queries, .. Queries];
        LegacyEvents = [.. flush.LegacyEvents, .. LegacyEvents];
        Samples = [.. flush.ReadModel?.Samples ?? [], .. Samples];
        EndTime ??= flush.EndTime;
    }

    public void Clear()
    {
        Samples = [];
        Events = [];
        Queries = [];
        LegacyEvents = [];
        EndTime = null;
    }
}
