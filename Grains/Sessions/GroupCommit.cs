using SessionTracking.Storage;

namespace SessionTracking.Sessions;

/// <summary>
/// The session side of a <see cref="GroupCommit"/>: what waits to be written, how it is written, and what a written or
/// failed write changes. Called on the grain's scheduler, between awaits, like the grain's own code.
/// </summary>
internal interface IFlushTarget
{
    bool HasPending { get; }

    /// <summary>Everything pending, as one store write; the pending buffer starts empty.</summary>
    SessionFlush TakePending();

    Task WriteAsync(SessionFlush flush);

    void OnWritten(SessionFlush flush);

    /// <summary>After a failed write: restores or reloads the session's state; returns what the write's waiters get.</summary>
    Task<Exception> OnFailedAsync(SessionFlush flush, Exception exception);

    /// <summary>Whether the waiters of the write after a failed one fail with it (nothing after the durable point was acknowledged).</summary>
    bool FailsWaitersBehind { get; }

    /// <summary>The loop stopped: nothing pending, or a write failed.</summary>
    void OnIdle();
}

/// <summary>
/// Group commit within one session: one store write at a time; every caller that arrives while it is in flight waits
/// for the next one, which carries everything pending by then — one store round trip per burst, not per request.
/// </summary>
internal sealed class GroupCommit(IFlushTarget target)
{
    private bool _flushing;
    private TaskCompletionSource? _inFlight;
    private TaskCompletionSource? _nextFlush; // made when someone waits: a session keeps nothing new between writes

    /// <summary>The write in flight, if any.</summary>
    public Task? InFlight => _inFlight?.Task;

    /// <summary>Completes when everything pending so far is written (or fails with the write that carried it).</summary>
    public Task FlushAsync()
    {
        if (!target.HasPending)
        {
            return _inFlight?.Task ?? Task.CompletedTask;
        }

        var completion = (_nextFlush ??= NewCompletion()).Task;
        if (!_flushing)
        {
            _flushing = true;
            _ = RunAsync();
        }

        return completion;
    }

    /// <summary>Fails the callers waiting for the next write, which will not happen (the session was deleted).</summary>
    public void FailWaiting(Exception exception)
    {
        _nextFlush?.TrySetException(exception);
        _nextFlush = null;
    }

    private async Task RunAsync()
    {
        try
        {
            while (target.HasPending)
            {
                var flush = target.TakePending();
                _inFlight = _nextFlush ?? NewCompletion();
                _nextFlush = null;
                try
                {
                    await target.WriteAsync(flush);
                    target.OnWritten(flush);
                    _inFlight.TrySetResult();
                }
                catch (Exception ex)
                {
                    var failure = await target.OnFailedAsync(flush, ex);
                    _inFlight.TrySetException(failure);
                    if (target.FailsWaitersBehind)
                    {
                        FailWaiting(failure);
                    }

                    break;
                }
                finally
                {
                    _inFlight = null;
                }
            }
        }
        finally
        {
            _flushing = false;
            target.OnIdle();
        }
    }

    private static TaskCompletionSource NewCompletion() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
