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

    /// <summary>Takes the store's state: metadata, numbering, recent ids and the read-model row (the next flush's version).</summary>
    public void Load(SessionSnapshot snapshot)
    {
        Session = snapshot.Session;
        LastSeq = DurableSeq = snapshot.LastSeq;
        Dedup.Load(snapshot);
        DurableMetrics = snapshot.Metrics;
        Metrics = NewBuilder(snapshot.Metrics);
    }

    /// <summary>No new events from here on; the end is written with the next flush.</summary>
    public void RequestEnd(DateTimeOffset endTime)
    {
        EndRequested = true;
        Pending.EndTime = endTime;
        Metrics.End(Session!.StartTime, endTime, Pending.Samples);
    }
}
