using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Sessions;

/// <summary>
/// What one activation knows of its session: metadata, numbering, the read-model row, what waits to be written and the
/// recent client ids. Shared by the grain (the protocol) and its <see cref="SessionWriter"/> (writes and recovery), and
/// touched only on the grain's scheduler, between awaits.
/// </summary>
internal sealed class SessionState(SessionOptions options)
{
    public SessionInfo? Session { get; set; }

    /// <summary>The highest number handed out.</summary>
    public long LastSeq { get; set; }

    /// <summary>The highest number the store has.</summary>
    public long DurableSeq { get; set; }

    /// <summary>No new events are accepted.</summary>
    public bool EndRequested { get; set; }

    /// <summary>Deleted by a privacy request: a tombstone until collected.</summary>
    public bool Forgotten { get; set; }

    /// <summary>The store's read-model row of this session.</summary>
    public SessionSummary DurableMetrics { get; set; } = SessionSummary.Started();

    /// <summary>The row with every accepted event.</summary>
    public SessionSummaryBuilder Metrics { get; set; } = new(SessionSummary.Started());

    /// <summary>Null without custom metrics.</summary>
    public CustomMetricContext? CustomMetrics { get; set; }

    public PendingFlush Pending { get; } = new();

    public SessionDedup Dedup { get; } = new(options.RecentIdWindow);

    /// <summary>A builder of the session's row from <paramref name="from"/>, custom metrics included.</summary>
    public SessionSummaryBuilder NewBuilder(SessionSummary from) => new(from, custom: CustomMetrics);

    /// <summary>A session just created in the store with its first events and row.</summary>
    public void Created(SessionInfo session, StoredEvent[] initial, SessionSummary row)
    {
        Session = session;
        LastSeq = DurableSeq = initial.Length;
        Dedup.AddInitial(initial.Select(e => e.ClientId).OfType<string>());
        DurableMetrics = row;
        Metrics = NewBuilder(row);
    }

    /// <summary>Takes the store's state: metadata, numbering, recent ids and the read-model row (the next flush's version).</summary>
    public void Load(SessionSnapshot snapshot)
    {
        Session = snapshot.Session;
        LastSeq = DurableSeq = snapshot.LastSeq;
        Dedup.Load(snapshot);
        DurableMetrics = snapshot.Metrics;
        Metrics = NewBuilder(snapshot.Metrics);
    }

    /// <summary>
    /// Numbers the events not marked in <paramref name="duplicate"/> after the last number handed out, folds them into the
    /// session's row and buffers them, with their id keys (<paramref name="keys"/>: set for every event with an id) taken
    /// as seen. Synchronous: with the dedup lookup before it, one atomic step on the grain's scheduler.
    /// </summary>
    public void Accept(IncomingEvent[] events, bool[]? duplicate, int accepted, ulong[]? keys, long now, in ClockSkewCorrection clockSkew, long? sentAt)
    {
        Pending.Events.EnsureCapacity(Pending.Events.Count + accepted);
        for (var i = 0; i < events.Length; i++)
        {
            if (duplicate?[i] == true)
            {
                continue;
            }

            var e = events[i];
            var numbered = new StoredEvent(++LastSeq, e.ClientTime ?? now, e.Type, e.DataJson, e.ClientId, now, clockSkew.Correct(e.ClientTime, sentAt, now))
            {
                IdHash = keys?[i] ?? 0,
            };
            Pending.Events.Add(numbered);
            Metrics.Add(numbered, Pending.Samples);
            if (e.ClientId is { } id)
            {
                Dedup.Accept(id, keys![i]);
            }
        }
    }

    /// <summary>No new events from here on; the end is written with the next flush.</summary>
    public void RequestEnd(DateTimeOffset endTime)
    {
        EndRequested = true;
        Pending.EndTime = endTime;
        Metrics.End(Session!.StartTime, endTime, Pending.Samples);
    }
}
