using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Sessions;
using SessionTracking.Storage;
using SessionTracking.Telemetry;

namespace SessionTracking;

/// <summary>
/// One session. Reentrant so that appends arriving while a store write is in flight join the next write
/// (group commit) instead of queuing one write each; every state change below happens between awaits,
/// which the grain's single-threaded scheduler makes atomic.
/// </summary>
// Sessions are many, small and alike: random placement spreads a burst of new sessions evenly. The Orleans 9.2+
// default (resource-optimized) acts on CPU/memory statistics that lag a burst, so a burst lands on one silo.
[Orleans.Placement.RandomPlacement]
[Reentrant]
public sealed partial class SessionGrain(
    ISessionStore store,
    MetricCatalog metricCatalog,
    IOptions<SessionOptions> options,
    TimeProvider clock,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain, IFlushTarget
{
    private readonly SessionOptions _options = options.Value;
    private readonly PendingFlush _pending = new();
    private readonly SessionDedup _dedup = new(options.Value.RecentIdWindow);
    private readonly RequestBudget _budget = new(options.Value.RequestsPerSecond, clock);
    private readonly ClockSkewCorrection _clockSkew = new(options.Value);

    private SessionInfo? _session;
    private long _lastSeq;        // highest number handed out
    private long _durableSeq;     // highest number the store has
    private bool _endRequested;   // no new events accepted
    private long _lastActivityMs;
    private bool _forgotten;      // deleted by a privacy request: a tombstone until collected
    private IGrainTimer? _flushTimer; // Buffered: due once FlushInterval after events start waiting, else off
    private bool _flushTimerDue;
    private GroupCommit? _groupCommit;
    private SessionSummary _durableMetrics = SessionSummary.Started(); // the store's read-model row of this session
    private SessionSummaryBuilder _metrics = new(SessionSummary.Started()); // the row with every accepted event
    private CustomMetricContext? _customMetrics; // null without custom metrics

    private string SessionId => this.GetPrimaryKeyString();

    private GroupCommit Commit => _groupCommit ??= new(this);

    [MemberNotNullWhen(true, nameof(_session))]
    private bool Exists => _session is not null && !_forgotten;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var snapshot = await CallStoreAsync(() => store.LoadSessionAsync(SessionId, _options.RecentIdWindow, cancellationToken));
        if (snapshot is not null)
        {
            _customMetrics = await CallStoreAsync(() => CustomMetricActivation.ContextAsync(metricCatalog, store, snapshot.Session, cancellationToken));
            if (_customMetrics is { } context)
            {
                snapshot = await CallStoreAsync(() => CustomMetricActivation.CompleteAsync(store, snapshot, context, _options.RecentIdWindow, cancellationToken));
            }

            _session = snapshot.Session;
            _lastSeq = _durableSeq = snapshot.LastSeq;
            _endRequested = snapshot.Session.EndTime is not null;
            _dedup.Load(snapshot);
            _durableMetrics = snapshot.Metrics;
            _metrics = NewBuilder(snapshot.Metrics);
            _lastActivityMs = NowMs();
            StartTimers();
        }

        SessionMetrics.ActiveSessions.Add(1);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        SessionMetrics.ActiveSessions.Add(-1);
        try
        {
            await FlushAsync();
        }
        catch (Exception ex)
        {
            LogDeactivationFlushFailed(logger, ex, SessionId, _pending.Events.Count);
        }
    }

    public async ValueTask<StartResult> StartAsync(StartSession command)
    {
        if (_session is not null)
        {
            return new StartResult(SessionStatus.AlreadyExists, _session);
        }

        var startTime = clock.GetUtcNow();
        var session = new SessionInfo(SessionId, command.UserId, command.ExperimentId, command.ModelGroup, startTime, null, command.EnvironmentJson);
        var receivedAt = startTime.ToUnixTimeMilliseconds();
        var initial = (command.InitialEvents ?? [])
            .Select((e, i) => new StoredEvent(i + 1, e.ClientTime ?? receivedAt, e.Type, e.DataJson, e.ClientId, receivedAt, _clockSkew.Correct(e.ClientTime, null, receivedAt)))
            .ToArray();
        SessionSummary created;
        try
        {
            _customMetrics = await CustomMetricActivation.ContextAsync(metricCatalog, store, session, CancellationToken.None);
            created = SessionSummary.OfNewSession(initial, [], _customMetrics);
            await store.CreateSessionAsync(session, initial, created, CancellationToken.None);
        }
        catch (StoreConflictException)
        {
            DeactivateOnIdle();
            return new StartResult(SessionStatus.AlreadyExists, null);
        }
        catch (Exception ex) when (ex is not StoreUnavailableException)
        {
            throw AsPortFailure(ex);
        }

        _session = session;
        _lastSeq = _durableSeq = initial.Length;
        _dedup.AddInitial(initial.Select(e => e.ClientId).OfType<string>());
        _durableMetrics = created;
        _metrics = NewBuilder(_durableMetrics);
        _lastActivityMs = NowMs();
        StartTimers();
        return new StartResult(SessionStatus.Ok, session);
    }

    public ValueTask<AppendResult> AppendAsync(AppendBatch batch) =>
        _budget.TryTake() ? AppendCoreAsync(batch.Events, batch.End, query: null, legacy: null, batch.SentAt) : ValueTask.FromResult(AppendResult.RateLimited);

    public ValueTask<AppendResult> RecordExchangeAsync(QueryExchange exchange) =>
        AppendCoreAsync(
            [exchange.Prompt, exchange.Response],
            end: false,
            _session is null ? null : exchange.Row with { UserId = exchange.Row.UserId ?? _session.UserId, ModelGroup = exchange.Row.ModelGroup ?? _session.ModelGroup },
            legacy: null);

    public ValueTask<AppendResult> RecordLegacyEventAsync(LegacyEvent legacyEvent) =>
        !_budget.TryTake() ? ValueTask.FromResult(AppendResult.RateLimited) : AppendCoreAsync(
            [new IncomingEvent(legacyEvent.EventType, legacyEvent.DataJson, legacyEvent.Timestamp.ToUnixTimeMilliseconds(), null)],
            end: false,
            query: null,
            legacyEvent);

    public ValueTask<EndResult> EndAsync() => OnceMoreOnConflictAsync(0, static (grain, _) => grain.EndOnceAsync());

    private async ValueTask<EndResult> EndOnceAsync()
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            return new EndResult(SessionStatus.NotFound, null, 0);
        }

        if (!_endRequested)
        {
            RequestEnd(clock.GetUtcNow());
        }

        await FlushAsync();
        return new EndResult(SessionStatus.Ok, _session.EndTime, _lastSeq);
    }

    public ValueTask<SessionStatus> GetStatusAsync()
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            return ValueTask.FromResult(SessionStatus.NotFound);
        }

        // A streaming /query asks first and records minutes later; the question is activity, so the idle timer restarts.
        _lastActivityMs = NowMs();
        if (!_budget.TryTake())
        {
            return ValueTask.FromResult(SessionStatus.RateLimited);
        }

        return ValueTask.FromResult(_endRequested ? SessionStatus.Ended : SessionStatus.Ok);
    }

    public async ValueTask ForgetAsync()
    {
        _forgotten = true;
        _endRequested = true;
        _pending.Clear();

        // Appends waiting for a write that will now never happen fail like any failed write: their clients retry
        // and then meet a 404.
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

        // No deactivation here: a new activation would load the session from the store until the caller has deleted
        // it. The tombstone answers "not found" until Orleans collects it as idle.
    }

    public ValueTask<SessionPage?> ReadAsync(long afterSeq, int limit) =>
        OnceMoreOnConflictAsync((afterSeq, limit), static (grain, page) => grain.ReadOnceAsync(page.afterSeq, page.limit));

    private async ValueTask<SessionPage?> ReadOnceAsync(long afterSeq, int limit)
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            return null;
        }

        // Buffered events become durable first, so a read never shows what a crash could take back.
        await FlushAsync();
        var events = await CallStoreAsync(() => store.ReadEventsAsync(SessionId, afterSeq, limit, CancellationToken.None));
        var last = events.Count > 0 ? events[^1].Seq : afterSeq;
        long? next = events.Count == limit && last < _durableSeq ? last : null;
        return new SessionPage(_session, [.. events], _durableSeq, next);
    }

    private ValueTask<AppendResult> AppendCoreAsync(IncomingEvent[] events, bool end, QueryRow? query, LegacyEvent? legacy, long? sentAt = null) =>
        OnceMoreOnConflictAsync((events, end, query, legacy, sentAt), static (grain, a) => grain.AppendOnceAsync(a.events, a.end, a.query, a.legacy, a.sentAt));

    /// <summary>
    /// Runs a call that writes. When another activation of this session wrote first, the failed flush has reloaded the
    /// session from the store and acknowledged nothing, so the call runs once more: dedup and numbering start afresh
    /// from what the store holds. A second conflict becomes a <see cref="StoreUnavailableException"/> (503, retry):
    /// the store's conflict exception never crosses the grain boundary.
    /// </summary>
    private async ValueTask<T> OnceMoreOnConflictAsync<TState, T>(TState state, Func<SessionGrain, TState, ValueTask<T>> call)
    {
        try
        {
            return await call(this, state);
        }
        catch (StoreConflictException)
        {
            SessionMetrics.ConflictRetries.Add(1);
        }

        try
        {
            return await call(this, state);
        }
        catch (StoreConflictException ex)
        {
            LogConflictUnresolved(logger, ex, SessionId);
            throw new StoreUnavailableException("Another activation of this session wrote it concurrently; nothing in this request was stored. Retry.");
        }
    }

    private async ValueTask<AppendResult> AppendOnceAsync(IncomingEvent[] events, bool end, QueryRow? query, LegacyEvent? legacy, long? sentAt)
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            SessionMetrics.Rejected(events.Length, "session_not_found");
            return AppendResult.NotFound;
        }

        DedupLookup lookup;
        try
        {
            lookup = await _dedup.LookupAsync(events, store, SessionId);
        }
        catch (Exception ex)
        {
            throw AsPortFailure(ex);
        }

        if (_forgotten)
        {
            return AppendResult.NotFound; // deleted while the store was asked about ids
        }

        // From here to the flush no await: dedup, numbering and buffering are one atomic step.
        var now = NowMs();
        var duplicate = SessionDedup.FindDuplicates(events, lookup, out var duplicates);
        var accepted = events.Length - duplicates;
        SessionMetrics.Rejected(duplicates, "duplicate");
        if (_endRequested)
        {
            SessionMetrics.Rejected(accepted, "session_ended");
            // A resend of events already stored is answered as before, even after end; anything new is refused.
            return accepted == 0 && query is null && legacy is null
                ? new AppendResult(SessionStatus.Ok, 0, duplicates, _lastSeq, true)
                : new AppendResult(SessionStatus.Ended, 0, duplicates, _lastSeq, true);
        }

        _pending.Events.EnsureCapacity(_pending.Events.Count + accepted);
        for (var i = 0; i < events.Length; i++)
        {
            if (duplicate?[i] == true)
            {
                continue;
            }

            var e = events[i];
            var numbered = new StoredEvent(++_lastSeq, e.ClientTime ?? now, e.Type, e.DataJson, e.ClientId, now, _clockSkew.Correct(e.ClientTime, sentAt, now))
            {
                IdHash = lookup.Keys?[i] ?? 0,
            };
            _pending.Events.Add(numbered);
            _metrics.Add(numbered, _pending.Samples);
            if (e.ClientId is { } id)
            {
                _dedup.Accept(id, lookup.Keys![i]); // a key is set for every event with an id
            }
        }

        if (query is not null)
        {
            _pending.Queries.Add(query);
        }

        if (legacy is not null)
        {
            _pending.LegacyEvents.Add(legacy);
        }

        if (end)
        {
            RequestEnd(clock.GetUtcNow());
        }

        _lastActivityMs = now;
        var lastSeq = _lastSeq;
        if (_options.Durability == DurabilityMode.Acked || end || _pending.Events.Count >= _options.MaxBufferedEvents)
        {
            await FlushAsync();
        }

        ScheduleBufferedFlush();
        SessionMetrics.EventsAccepted.Add(accepted);
        return new AppendResult(SessionStatus.Ok, accepted, duplicates, lastSeq, _endRequested);
    }

    /// <summary>Completes when everything buffered so far is durable (<see cref="GroupCommit"/>: one write per burst).</summary>
    private Task FlushAsync() => Commit.FlushAsync();

    bool IFlushTarget.HasPending => !_pending.IsEmpty;

    SessionFlush IFlushTarget.TakePending() => _pending.Take(_session!, _durableMetrics, _metrics.SnapshotSince(_durableMetrics));

    async Task IFlushTarget.WriteAsync(SessionFlush flush)
    {
        var started = clock.GetTimestamp();
        await store.AppendAsync(flush, CancellationToken.None);
        var elapsed = clock.GetElapsedTime(started);
        SessionMetrics.FlushDuration.Record(elapsed.TotalSeconds);
        LogFlushed(logger, SessionId, flush.Events.Count, elapsed.TotalMilliseconds);
    }

    void IFlushTarget.OnWritten(SessionFlush flush)
    {
        if (flush.Events.Count > 0)
        {
            _durableSeq = flush.Events[^1].Seq;
        }

        if (flush.EndTime is { } end)
        {
            _session = _session! with { EndTime = end };
        }

        _durableMetrics = flush.ReadModel!.Current;
    }

    /// <summary>
    /// Every failure fails the write, whatever its type: only the port's "unavailable" says that nothing was written. A
    /// conflict says our numbering is stale, and any other exception leaves the outcome unknown; after both, the store's
    /// state is the truth, and waiters learn of the failure only once the grain holds it again (their retries are then
    /// numbered and deduplicated against it).
    /// </summary>
    async Task<Exception> IFlushTarget.OnFailedAsync(SessionFlush flush, Exception exception)
    {
        var failure = AsPortFailure(exception);
        OnFlushFailed(flush, exception);
        if (exception is not StoreUnavailableException)
        {
            await ReloadFromStoreAsync(flush);
        }

        return failure;
    }

    // Acked: unacknowledged events behind the failed write share its fate; their callers retry.
    bool IFlushTarget.FailsWaitersBehind => _options.Durability == DurabilityMode.Acked;

    void IFlushTarget.OnIdle() => ScheduleBufferedFlush(); // Buffered: what a failed write put back waits for the timer

    private void OnFlushFailed(SessionFlush flush, Exception ex)
    {
        LogFlushFailed(logger, ex, SessionId, flush.Events.Count);
        if (ex is StoreConflictException)
        {
            // Another activation wrote this session: our numbering is stale (ReloadFromStoreAsync). This activation
            // may be the one the directory no longer points to; the next call finds the registered one.
            DeactivateOnIdle();
            return;
        }

        if (ex is not StoreUnavailableException)
        {
            return; // outcome unknown: ReloadFromStoreAsync takes the store's state
        }

        if (_options.Durability == DurabilityMode.Buffered)
        {
            // Already acknowledged: keep them, in order, for the next attempt.
            _pending.Restore(flush);
            return;
        }

        // Acked: nothing after the durable point was acknowledged. Forget it so retries are accepted afresh.
        foreach (var e in flush.Events.Concat(_pending.Events))
        {
            if (e.ClientId is { } id)
            {
                _dedup.Forget(id);
            }
        }

        _pending.Clear();
        _lastSeq = _durableSeq;
        _endRequested = _session!.EndTime is not null;
        _metrics = NewBuilder(_durableMetrics);
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
            snapshot = await store.LoadSessionAsync(SessionId, _options.RecentIdWindow, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogFlushFailed(logger, ex, SessionId, 0);
        }

        var buffered = _options.Durability == DurabilityMode.Buffered;
        HashSet<string>? storedBeyondWindow = null;
        if (buffered && snapshot is not null)
        {
            storedBeyondWindow = await FindOwedIdsStoredBeyondWindowAsync(snapshot, failed);
            snapshot = storedBeyondWindow is null ? null : snapshot;
        }
        if (buffered)
        {
            _pending.Restore(failed);
        }

        foreach (var e in buffered ? _pending.Events : failed.Events.Concat(_pending.Events))
        {
            if (e.ClientId is { } id)
            {
                _dedup.Forget(id);
            }
        }

        if (snapshot is null || _forgotten)
        {
            // The store did not answer: back to the last state known durable. Should the failed write have committed
            // after all, the next flush reuses its numbers or its read-model version, which the store refuses as a
            // conflict, and that reload finds it.
            if (!buffered)
            {
                _pending.Clear();
                _lastSeq = _durableSeq;
                _endRequested = _session!.EndTime is not null;
                _metrics = NewBuilder(_durableMetrics);
            }

            return;
        }

        _session = snapshot.Session;
        _lastSeq = _durableSeq = snapshot.LastSeq;
        _dedup.Load(snapshot);

        // The read model too: the stored summary is the version the next flush starts from.
        _durableMetrics = snapshot.Metrics;
        _metrics = NewBuilder(snapshot.Metrics);
        if (!buffered)
        {
            _pending.Clear();
            _endRequested = snapshot.Session.EndTime is not null;
            return;
        }

        var owed = _pending.Events.ToList();
        _pending.Events.Clear();
        _pending.Samples.Clear();
        foreach (var e in owed)
        {
            if (e.ClientId is { } id && (_dedup.Holds(id) || storedBeyondWindow!.Contains(id)))
            {
                continue; // the store has it: the failed write committed, or the other activation stored it
            }

            var renumbered = e with { Seq = ++_lastSeq };
            _pending.Events.Add(renumbered);
            _metrics.Add(renumbered, _pending.Samples);
            if (e.ClientId is { } kept)
            {
                _dedup.Accept(kept, ClientIdHashSet.KeyOf(kept));
            }
        }

        if (_pending.EndTime is { } end)
        {
            _metrics.End(_session.StartTime, end, _pending.Samples);
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
        var unseen = failed.Events.Concat(_pending.Events).Select(e => e.ClientId).OfType<string>().Where(id => !recent.Contains(id)).Distinct().ToList();
        if (unseen.Count == 0)
        {
            return found;
        }

        try
        {
            found.UnionWith(await store.FindStoredClientIdsAsync(SessionId, unseen, CancellationToken.None));
            return found;
        }
        catch (Exception ex)
        {
            LogFlushFailed(logger, ex, SessionId, 0);
            return null;
        }
    }

    private void DeactivateUnlessForgotten()
    {
        if (!_forgotten)
        {
            DeactivateOnIdle();
        }
    }

    private void StartTimers()
    {
        if (_options.Durability == DurabilityMode.Buffered)
        {
            // Not periodic: a tick per second of each of 100,000 idle sessions kept half a core busy doing nothing.
            _flushTimer = this.RegisterGrainTimer(
                static (grain, _) => grain.OnFlushTimerAsync(),
                this,
                new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = true });
        }

        if (_session?.EndTime is null)
        {
            var period = TimeSpan.FromTicks(Math.Max(_options.IdleTimeout.Ticks / 4, TimeSpan.TicksPerSecond));
            this.RegisterGrainTimer(
                static (grain, _) => grain.OnIdleTimerAsync(),
                this,
                new GrainTimerCreationOptions(period, period) { Interleave = true });
        }
    }

    /// <summary>Buffered: makes the flush timer due in <c>FlushInterval</c> unless it already is or nothing waits.</summary>
    private void ScheduleBufferedFlush()
    {
        if (_flushTimer is null || _flushTimerDue || _pending.IsEmpty)
        {
            return;
        }

        try
        {
            _flushTimer.Change(_options.FlushInterval, Timeout.InfiniteTimeSpan);
            _flushTimerDue = true;
        }
        catch (ObjectDisposedException)
        {
            // The activation is deactivating (its timers are gone): its deactivation flush writes what waits.
        }
    }

    private async Task OnFlushTimerAsync()
    {
        _flushTimerDue = false;
        try
        {
            await FlushAsync();
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException)
        {
            // Logged by the flush; the failed events are pending again and the timer retries them.
        }
    }

    private async Task OnIdleTimerAsync()
    {
        if (_endRequested || NowMs() - _lastActivityMs < _options.IdleTimeout.TotalMilliseconds)
        {
            return;
        }

        RequestEnd(DateTimeOffset.FromUnixTimeMilliseconds(_lastActivityMs));
        LogIdleEnded(logger, SessionId);
        try
        {
            await FlushAsync();
            DeactivateOnIdle();
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException)
        {
            // The flush failure reset _endRequested (acked) or kept the end pending (buffered): the next tick retries.
        }
    }

    /// <summary>No new events from here on; the end is written with the next flush.</summary>
    private void RequestEnd(DateTimeOffset endTime)
    {
        _endRequested = true;
        _pending.EndTime = endTime;
        _metrics.End(_session!.StartTime, endTime, _pending.Samples);
    }

    private long NowMs() => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A builder of the session's row from <paramref name="from"/>, custom metrics included.</summary>
    private SessionSummaryBuilder NewBuilder(SessionSummary from) => new(from, custom: _customMetrics);

    /// <summary>A store call whose failures reach the caller as the port's types (<see cref="AsPortFailure"/>).</summary>
    private async Task<T> CallStoreAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (ex is not (StoreUnavailableException or StoreConflictException))
        {
            throw AsPortFailure(ex);
        }
    }

    /// <summary>
    /// The port's two failure types pass as they are. Anything else an adapter lets through (a driver error it does not
    /// map, a bug) is answered like an unavailable store, 503 and retry, never a 500 or a hang; it is logged here with
    /// its cause, which does not cross the grain boundary (the gateway may not know the driver's exception types).
    /// </summary>
    private Exception AsPortFailure(Exception ex)
    {
        if (ex is StoreUnavailableException or StoreConflictException)
        {
            return ex;
        }

        LogUnexpectedStoreFailure(logger, ex, SessionId, ex.GetType().Name);
        return new StoreUnavailableException($"The session store failed ({ex.GetType().Name}); nothing in this request was stored. Retry.");
    }


    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: flushed {Count} events in {ElapsedMs:F2} ms")]
    private static partial void LogFlushed(ILogger logger, string sessionId, int count, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: flush of {Count} events failed")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception, string sessionId, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: flush on deactivation failed, {Count} buffered events not stored")]
    private static partial void LogDeactivationFlushFailed(ILogger logger, Exception exception, string sessionId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: another activation kept writing it; the request is answered as unavailable")]
    private static partial void LogConflictUnresolved(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the store threw {ExceptionType}, which its adapter should have mapped; answered as unavailable")]
    private static partial void LogUnexpectedStoreFailure(ILogger logger, Exception exception, string sessionId, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: ended after idle timeout")]
    private static partial void LogIdleEnded(ILogger logger, string sessionId);
}
