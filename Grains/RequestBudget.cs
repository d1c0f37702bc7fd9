using SessionTracking.Telemetry;

namespace SessionTracking;

/// <summary>
/// A session's request rate limit: a token bucket refilled continuously at <c>perSecond</c>, holding at most two
/// seconds' worth. It lives in the session grain, whose single-threaded scheduler makes it lock-free, and which every
/// gateway reaches, so the limit is one per session however many gateways there are. A new activation starts full.
/// </summary>
internal sealed class RequestBudget(int perSecond, TimeProvider clock)
{
    private readonly double _capacity = perSecond * 2.0;
    private double _tokens = perSecond * 2.0;
    private long _refilledAt = clock.GetTimestamp();

    /// <summary>Takes one request; false when the session is over its rate (a token is back within 1/perSecond s).</summary>
    public bool TryTake()
    {
        var now = clock.GetTimestamp();
        _tokens = Math.Min(_capacity, _tokens + (clock.GetElapsedTime(_refilledAt, now).TotalSeconds * perSecond));
        _refilledAt = now;
        if (_tokens < 1)
        {
            SessionMetrics.RateLimited.Add(1);
            return false;
        }

        _tokens--;
        return true;
    }
}
