namespace SessionTracking.Sessions;

/// <summary>
/// A session activation's timers: buffered, a flush timer due once <c>FlushInterval</c> after events start waiting (not
/// periodic: a tick per second of each of 100,000 idle sessions kept half a core busy doing nothing); for a live
/// session, an idle check every quarter of <c>IdleTimeout</c> (at least a second). Both interleave with calls.
/// </summary>
internal sealed class SessionTimers(IGrainBase grain, SessionOptions options)
{
    private IGrainTimer? _flushTimer; // Buffered: due once FlushInterval after events start waiting, else off
    private bool _flushDue;

    public void Start<TGrain>(bool live, Func<TGrain, Task> onFlush, Func<TGrain, Task> onIdle, TGrain target)
    {
        if (options.Durability == DurabilityMode.Buffered)
        {
            _flushTimer = grain.RegisterGrainTimer(
                static (state, _) => state.OnFlush(state.Target),
                (OnFlush: onFlush, Target: target),
                new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = true });
        }

        if (live)
        {
            var period = TimeSpan.FromTicks(Math.Max(options.IdleTimeout.Ticks / 4, TimeSpan.TicksPerSecond));
            grain.RegisterGrainTimer(
                static (state, _) => state.OnIdle(state.Target),
                (OnIdle: onIdle, Target: target),
                new GrainTimerCreationOptions(period, period) { Interleave = true });
        }
    }

    /// <summary>Buffered: makes the flush timer due in <c>FlushInterval</c> unless it already is or nothing waits.</summary>
    public void ScheduleFlush(bool pending)
    {
        if (_flushTimer is null || _flushDue || !pending)
        {
            return;
        }

        try
        {
            _flushTimer.Change(options.FlushInterval, Timeout.InfiniteTimeSpan);
            _flushDue = true;
        }
        catch (ObjectDisposedException)
        {
            // The activation is deactivating (its timers are gone): its deactivation flush writes what waits.
        }
    }

    /// <summary>The flush timer fired: the next wait makes it due again.</summary>
    public void FlushFired() => _flushDue = false;
}
