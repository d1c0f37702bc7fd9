using Microsoft.Extensions.Logging;
using SessionTracking.Storage;
using SessionTracking.Telemetry;

namespace SessionTracking.Sessions;

/// <summary>
/// The session's writes: what a flush carries (<see cref="GroupCommit"/> runs them one at a time), what a written one
/// makes durable, and the recovery after a failed one — restore, forget or reload from the store, by durability mode.
/// </summary>
internal sealed class SessionWriter(
    SessionState state,
    ISessionStore store,
    SessionOptions options,
    TimeProvider clock,
    ILogger logger,
    string sessionId,
    Action deactivate,
    Action onIdle) : IFlushTarget
{
    private GroupCommit? _commit;

    /// <summary>Runs this writer's flushes one at a time, callers during one sharing the next.</summary>
    public GroupCommit Commit => _commit ??= new(this);

    /// <summary>The dedup lookup of a request's ids (<see cref="SessionDedup.LookupAsync"/>), its store failures as the port's.</summary>
    public async ValueTask<DedupLookup> LookupAsync(IncomingEvent[] events)
    {
        try
        {
            return await state.Dedup.LookupAsync(events, store, sessionId);
        }
        catch (Exception ex)
        {
            throw SessionLog.AsPortFailure(logger, sessionId, ex);
        }
    }

    /// <summary>A flush whose failure is logged by the flush and retried later (the buffered timer's): pending again.</summary>
    public async Task FlushQuietlyAsync()
    {
        try
        {
            await Commit.FlushAsync();
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException)
        {
        }
    }

    /// <summary>
    /// A privacy deletion: nothing pending is written any more, and appends waiting for a write that will now never
    /// happen fail like any failed write (their clients retry and then meet a 404); the write in flight is let finish.
    /// </summary>
    public async Task ForgetAsync()
    {
        state.Forgotten = true;
        state.EndRequested = true;
        state.Pending.Clear();
        Commit.FailWaiting(new StoreUnavailableException("The session was deleted."));
        if (Commit.InFlight is { } inFlight)
        {
            try
            {
                await inFlight;
            }
            catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException)
            {
            }
        }
    }

    public bool HasPending => !state.Pending.IsEmpty;

    public SessionFlush TakePending() => state.Pending.Take(state.Session!, state.DurableMetrics, state.Metrics.SnapshotSince(state.DurableMetrics));

    public async Task WriteAsync(SessionFlush flush)
    {
        var started = clock.GetTimestamp();
        await store.AppendAsync(flush, CancellationToken.None);
        var elapsed = clock.GetElapsedTime(started);
        SessionMetrics.FlushDuration.Record(elapsed.TotalSeconds);
        SessionLog.LogFlushed(logger, sessionId, flush.Events.Count, elapsed.TotalMilliseconds);
    }

    public void OnWritten(SessionFlush flush)
    {
        if (flush.Events.Count > 0)
        {
            state.DurableSeq = flush.Events[^1].Seq;
        }

        if (flush.EndTime is { } end)
        {
            state.Session = state.Session! with { EndTime = end };
        }

        state.DurableMetrics = flush.ReadModel!.Current;
    }

    /// <summary>
    /// Every failure fails the write, whatever its type: only the port's "unavailable" says that nothing was written. A
    /// conflict says our numbering is stale, and any other exception leaves the outcome unknown; after both, the store's
    /// state is the truth, and waiters learn of the failure only once the grain holds it again (their retries are then
    /// numbered and deduplicated against it).
    /// </summary>
    public async Task<Exception> OnFailedAsync(SessionFlush flush, Exception exception)
    {
        var failure = SessionLog.AsPortFailure(logger, sessionId, exception);
        OnFlushFailed(flush, exception);
        if (exception is not StoreUnavailableException)
        {
            await ReloadFromStoreAsync(flush);
        }

        return failure;
    }

    // Acked: unacknowledged events behind the failed write share its fate; their callers retry.
    public bool FailsWaitersBehind => options.Durability == DurabilityMode.Acked;

    public void OnIdle() => onIdle(); // Buffered: what a failed write put back waits for the timer

    private void OnFlushFailed(SessionFlush flush, Exception ex)
    {
        SessionLog.LogFlushFailed(logger, ex, sessionId, flush.Events.Count);
        if (ex is StoreConflictException)
        {
            // Another activation wrote this session: our numbering is stale (ReloadFromStoreAsync). This activation
            // may be the one the directory no longer points to; the next call finds the registered one.
            deactivate();
            return;
        }

        if (ex is not StoreUnavailableException)
        {
            return; // outcome unknown: ReloadFromStoreAsync takes the store's state
        }

        if (options.Durability == DurabilityMode.Buffered)
        {
            // Already acknowledged: keep them, in order, for the next attempt.
            state.Pending.Restore(flush);
            return;
        }

        // Acked: nothing after the durable point was acknowledged. Forget it so retries are accepted afresh.
        foreach (var e in flush.Events.Concat(state.Pending.Events))
        {
            if (e.ClientId is { } id)
            {
                state.Dedup.Forget(id);
            }
        }

        state.Pending.Clear();
        state.LastSeq = state.DurableSeq;
        state.EndRequested = state.Session!.EndTime is not null;
        state.Metrics = state.NewBuilder(state.DurableMetrics);
    }

    /// <summary>
    /// After a conflict or a failure of unknown outcome: takes the session's state (last sequence number, recent client
    /// ids, end, read-model row) from the store again. Acked: nothing after the durable point was acknowledged, so it is
    /// dropped and the callers retry. Buffered: the failed events were acknowledged, so they are kept and numbered after
    /// what the store holds, minus ids the store already has (the failed write itself may have committed); the next
    /// flush writes them.
    /// </summary>
    private async Task ReloadFromStoreAsync(SessionFlush failed)
    {
        SessionSnapshot? snapshot = null;
        try
        {
            snapshot = await store.LoadSessionAsync(sessionId, options.RecentIdWindow, CancellationToken.None);
        }
        catch (Exception ex)
        {
            SessionLog.LogFlushFailed(logger, ex, sessionId, 0);
        }

        var buffered = options.Durability == DurabilityMode.Buffered;
        HashSet<string>? storedBeyondWindow = null;
        if (buffered && snapshot is not null)
        {
            storedBeyondWindow = await FindOwedIdsStoredBeyondWindowAsync(snapshot, failed);
            snapshot = storedBeyondWindow is null ? null : snapshot;
        }
        if (buffered)
        {
            state.Pending.Restore(failed);
        }

        foreach (var e in buffered ? state.Pending.Events : failed.Events.Concat(state.Pending.Events))
        {
            if (e.ClientId is { } id)
            {
                state.Dedup.Forget(id);
            }
        }

        if (snapshot is null || state.Forgotten)
        {
            // The store did not answer: back to the last state known durable. Should the failed write have committed
            // after all, the next flush reuses its numbers or its read-model version, which the store refuses as a
            // conflict, and that reload finds it.
            if (!buffered)
            {
                state.Pending.Clear();
                state.LastSeq = state.DurableSeq;
                state.EndRequested = state.Session!.EndTime is not null;
                state.Metrics = state.NewBuilder(state.DurableMetrics);
            }

            return;
        }

        state.Load(snapshot); // the read model too: the stored summary is the version the next flush starts from
        if (!buffered)
        {
            state.Pending.Clear();
            state.EndRequested = snapshot.Session.EndTime is not null;
            return;
        }

        var owed = state.Pending.Events.ToList();
        state.Pending.Events.Clear();
        state.Pending.Samples.Clear();
        foreach (var e in owed)
        {
            if (e.ClientId is { } id && (state.Dedup.Holds(id) || storedBeyondWindow!.Contains(id)))
            {
                continue; // the store has it: the failed write committed, or the other activation stored it
            }

            var renumbered = e with { Seq = ++state.LastSeq };
            state.Pending.Events.Add(renumbered);
            state.Metrics.Add(renumbered, state.Pending.Samples);
            if (e.ClientId is { } kept)
            {
                state.Dedup.Accept(kept, ClientIdHashSet.KeyOf(kept));
            }
        }

        if (state.Pending.EndTime is { } end)
        {
            state.Metrics.End(state.Session!.StartTime, end, state.Pending.Samples);
        }
    }

    /// <summary>
    /// Buffered, after a reload: the owed ids the store holds although its snapshot's window of recent ids does not show
    /// them (a failed write larger than the window may have committed). Null when the store could not be asked.
    /// </summary>
    private async Task<HashSet<string>?> FindOwedIdsStoredBeyondWindowAsync(SessionSnapshot snapshot, SessionFlush failed)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        if (snapshot.LastSeq <= snapshot.RecentClientIds.Count)
        {
            return found; // the window shows every id the store has
        }

        var recent = snapshot.RecentClientIds.ToHashSet(StringComparer.Ordinal);
        var unseen = failed.Events.Concat(state.Pending.Events).Select(e => e.ClientId).OfType<string>().Where(id => !recent.Contains(id)).Distinct().ToList();
        if (unseen.Count == 0)
        {
            return found;
        }

        try
        {
            found.UnionWith(await store.FindStoredClientIdsAsync(sessionId, unseen, CancellationToken.None));
            return found;
        }
        catch (Exception ex)
        {
            SessionLog.LogFlushFailed(logger, ex, sessionId, 0);
            return null;
        }
    }
}
