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
    ILogger<SessionGrain> logger) : Grain, ISessionGrain
{
    private readonly SessionOptions _options = options.Value;
    private readonly SessionState _state = new(options.Value);
    private readonly RequestBudget _budget = new(options.Value.RequestsPerSecond, clock);
    private readonly ClockSkewCorrection _clockSkew = new(options.Value);

    private long _lastActivityMs;
    private SessionTimers? _timers;

    private SessionWriter? _writer;

    private string SessionId => this.GetPrimaryKeyString();

    private SessionWriter Writer => _writer ??= new(_state, store, _options, clock, logger, SessionId, DeactivateOnIdle, ScheduleBufferedFlush);

    private SessionTimers Timers => _timers ??= new(this, _options);

    private SessionInfo? Session => _state.Session;

    [MemberNotNullWhen(true, nameof(Session))]
    private bool Exists => Session is not null && !_state.Forgotten;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var snapshot = await SessionLog.CallStoreAsync(logger, SessionId, () => store.LoadSessionAsync(SessionId, _options.RecentIdWindow, cancellationToken));
        if (snapshot is not null)
        {
            _state.CustomMetrics = await SessionLog.CallStoreAsync(logger, SessionId, () => CustomMetricActivation.ContextAsync(metricCatalog, store, snapshot.Session, cancellationToken));
            if (_state.CustomMetrics is { } context)
            {
                snapshot = await SessionLog.CallStoreAsync(logger, SessionId, () => CustomMetricActivation.CompleteAsync(store, snapshot, context, _options.RecentIdWindow, cancellationToken));
            }

            _state.Load(snapshot);
            _state.EndRequested = snapshot.Session.EndTime is not null;
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
            SessionLog.LogDeactivationFlushFailed(logger, ex, SessionId, _state.Pending.Events.Count);
        }
    }

    public async ValueTask<StartResult> StartAsync(StartSession command)
    {
        if (Session is not null)
        {
            return new StartResult(SessionStatus.AlreadyExists, Session);
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
            _state.CustomMetrics = await CustomMetricActivation.ContextAsync(metricCatalog, store, session, CancellationToken.None);
            created = SessionSummary.OfNewSession(initial, [], _state.CustomMetrics);
            await store.CreateSessionAsync(session, initial, created, CancellationToken.None);
        }
        catch (StoreConflictException)
        {
            DeactivateOnIdle();
            return new StartResult(SessionStatus.AlreadyExists, null);
        }
        catch (Exception ex) when (ex is not StoreUnavailableException)
        {
            throw SessionLog.AsPortFailure(logger, SessionId, ex);
        }

        _state.Created(session, initial, created);
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
            Session is null ? null : exchange.Row with { UserId = exchange.Row.UserId ?? Session.UserId, ModelGroup = exchange.Row.ModelGroup ?? Session.ModelGroup },
            legacy: null);

    public ValueTask<AppendResult> RecordLegacyEventAsync(LegacyEvent legacyEvent) =>
        !_budget.TryTake() ? ValueTask.FromResult(AppendResult.RateLimited) : AppendCoreAsync(
            [new IncomingEvent(legacyEvent.EventType, legacyEvent.DataJson, legacyEvent.Timestamp.ToUnixTimeMilliseconds(), null)],
            end: false,
            query: null,
            legacyEvent);

    public ValueTask<EndResult> EndAsync() => ConflictRetry.OnceMoreAsync(this, logger, SessionId, 0, static (grain, _) => grain.EndOnceAsync());

    private async ValueTask<EndResult> EndOnceAsync()
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            return new EndResult(SessionStatus.NotFound, null, 0);
        }

        if (!_state.EndRequested)
        {
            _state.RequestEnd(clock.GetUtcNow());
        }

        await FlushAsync();
        return new EndResult(SessionStatus.Ok, Session.EndTime, _state.LastSeq);
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

        return ValueTask.FromResult(_state.EndRequested ? SessionStatus.Ended : SessionStatus.Ok);
    }

    // No deactivation: a new activation would load the session from the store until the caller has deleted it. The
    // tombstone answers "not found" until Orleans collects it as idle.
    public async ValueTask ForgetAsync() => await Writer.ForgetAsync();

    public ValueTask<SessionPage?> ReadAsync(long afterSeq, int limit) =>
        ConflictRetry.OnceMoreAsync(this, logger, SessionId, (afterSeq, limit), static (grain, page) => grain.ReadOnceAsync(page.afterSeq, page.limit));

    private async ValueTask<SessionPage?> ReadOnceAsync(long afterSeq, int limit)
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            return null;
        }

        // Buffered events become durable first, so a read never shows what a crash could take back.
        await FlushAsync();
        var events = await SessionLog.CallStoreAsync(logger, SessionId, () => store.ReadEventsAsync(SessionId, afterSeq, limit, CancellationToken.None));
        var last = events.Count > 0 ? events[^1].Seq : afterSeq;
        long? next = events.Count == limit && last < _state.DurableSeq ? last : null;
        return new SessionPage(Session, [.. events], _state.DurableSeq, next);
    }

    private ValueTask<AppendResult> AppendCoreAsync(IncomingEvent[] events, bool end, QueryRow? query, LegacyEvent? legacy, long? sentAt = null) =>
        ConflictRetry.OnceMoreAsync(this, logger, SessionId, (events, end, query, legacy, sentAt), static (grain, a) => grain.AppendOnceAsync(a.events, a.end, a.query, a.legacy, a.sentAt));

    private async ValueTask<AppendResult> AppendOnceAsync(IncomingEvent[] events, bool end, QueryRow? query, LegacyEvent? legacy, long? sentAt)
    {
        if (!Exists)
        {
            DeactivateUnlessForgotten();
            SessionMetrics.Rejected(events.Length, "session_not_found");
            return AppendResult.NotFound;
        }

        var lookup = await Writer.LookupAsync(events);
        if (_state.Forgotten)
        {
            return AppendResult.NotFound; // deleted while the store was asked about ids
        }

        // From here to the flush no await: dedup, numbering and buffering are one atomic step.
        var now = NowMs();
        var duplicate = SessionDedup.FindDuplicates(events, lookup, out var duplicates);
        var accepted = events.Length - duplicates;
        SessionMetrics.Rejected(duplicates, "duplicate");
        if (_state.EndRequested)
        {
            SessionMetrics.Rejected(accepted, "session_ended");
            // A resend of events already stored is answered as before, even after end; anything new is refused.
            return accepted == 0 && query is null && legacy is null
                ? new AppendResult(SessionStatus.Ok, 0, duplicates, _state.LastSeq, true)
                : new AppendResult(SessionStatus.Ended, 0, duplicates, _state.LastSeq, true);
        }

        _state.Accept(events, duplicate, accepted, lookup.Keys, now, _clockSkew, sentAt);
        _state.Pending.Add(query, legacy);

        if (end)
        {
            _state.RequestEnd(clock.GetUtcNow());
        }

        _lastActivityMs = now;
        var lastSeq = _state.LastSeq;
        if (_options.Durability == DurabilityMode.Acked || end || _state.Pending.Events.Count >= _options.MaxBufferedEvents)
        {
            await FlushAsync();
        }

        ScheduleBufferedFlush();
        SessionMetrics.EventsAccepted.Add(accepted);
        return new AppendResult(SessionStatus.Ok, accepted, duplicates, lastSeq, _state.EndRequested);
    }

    /// <summary>Completes when everything buffered so far is durable (<see cref="GroupCommit"/>: one write per burst).</summary>
    private Task FlushAsync() => Writer.Commit.FlushAsync();

    private void DeactivateUnlessForgotten()
    {
        if (!_state.Forgotten)
        {
            DeactivateOnIdle();
        }
    }

    private void StartTimers() =>
        Timers.Start(Session?.EndTime is null, static grain => grain.OnFlushTimerAsync(), static grain => grain.OnIdleTimerAsync(), this);

    /// <summary>Buffered: the flush timer is due in <c>FlushInterval</c> unless it already is or nothing waits.</summary>
    private void ScheduleBufferedFlush() => Timers.ScheduleFlush(!_state.Pending.IsEmpty);

    private Task OnFlushTimerAsync()
    {
        Timers.FlushFired();
        return Writer.FlushQuietlyAsync();
    }

    private async Task OnIdleTimerAsync()
    {
        if (_state.EndRequested || NowMs() - _lastActivityMs < _options.IdleTimeout.TotalMilliseconds)
        {
            return;
        }

        _state.RequestEnd(DateTimeOffset.FromUnixTimeMilliseconds(_lastActivityMs));
        SessionLog.LogIdleEnded(logger, SessionId);
        try
        {
            await FlushAsync();
            DeactivateOnIdle();
        }
        catch (Exception ex) when (ex is StoreUnavailableException or StoreConflictException)
        {
            // The flush failure reset _state.EndRequested (acked) or kept the end pending (buffered): the next tick retries.
        }
    }

    private long NowMs() => clock.GetUtcNow().ToUnixTimeMilliseconds();
}
