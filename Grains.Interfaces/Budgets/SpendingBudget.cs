namespace SessionTracking.Budgets;

/// <summary>
/// A model budget: requests and tokens per window, each a bucket that starts full and refills continuously at its
/// limit per window (so a client that spent a minute's worth waits about a minute, not until a window boundary).
/// Requests are taken before the model is called; tokens are charged after the answer and may overdraw the bucket,
/// because only the provider knows an answer's size: the overdraft refuses the following requests until it has refilled.
/// Each call passes the limits (gateways configured apart share a session's budget without resetting it; the
/// levels are clamped to the limits of the call). Not thread-safe: the gateway locks it, the grain's scheduler
/// serializes it.
/// </summary>
public sealed class SpendingBudget(BudgetLimits initial, TimeProvider clock)
{
    private double _requests = initial.RequestsPerWindow;
    private double _tokens = initial.TokensPerWindow;
    private long _refilledAt = clock.GetTimestamp();

    /// <summary>Takes one request when both buckets allow it; otherwise says which is empty and when it will not be.</summary>
    public BudgetDecision TryTake(BudgetLimits limits)
    {
        Refill(limits);
        var requestWait = limits.RequestsPerWindow > 0 && _requests < 1 ? SecondsUntil(1 - _requests, limits.RequestsPerWindow, limits.WindowSeconds) : 0;
        var tokenWait = limits.TokensPerWindow > 0 && _tokens <= 0 ? SecondsUntil(1 - _tokens, limits.TokensPerWindow, limits.WindowSeconds) : 0;
        if (requestWait == 0 && tokenWait == 0)
        {
            _requests = Math.Max(0, _requests - 1); // stays 0 when the limit is off
            return BudgetDecision.Admitted;
        }

        return tokenWait >= requestWait
            ? new BudgetDecision(BudgetExceeded.Tokens, tokenWait)
            : new BudgetDecision(BudgetExceeded.Requests, requestWait);
    }

    /// <summary>Charges an answer's tokens (prompt and answer), after the model spent them.</summary>
    public void Charge(BudgetLimits limits, long tokens)
    {
        Refill(limits);
        if (limits.TokensPerWindow > 0)
        {
            _tokens -= tokens;
        }
    }

    /// <summary>True when both buckets are full again: the budget is then no different from a new one and may be dropped.</summary>
    public bool IsFull(BudgetLimits limits)
    {
        Refill(limits);
        return _requests >= limits.RequestsPerWindow && _tokens >= limits.TokensPerWindow;
    }

    private void Refill(BudgetLimits limits)
    {
        var now = clock.GetTimestamp();
        var windows = clock.GetElapsedTime(_refilledAt, now).TotalSeconds / limits.WindowSeconds;
        _refilledAt = now;
        _requests = Math.Min(limits.RequestsPerWindow, _requests + (windows * limits.RequestsPerWindow));
        _tokens = Math.Min(limits.TokensPerWindow, _tokens + (windows * limits.TokensPerWindow));
    }

    /// <summary>
    /// Whole seconds (at least 1) until a bucket refilling <paramref name="perWindow"/> per window gains
    /// <paramref name="missing"/>; rounded up, less a nanosecond so that 10.000000000002 s of float error says 10, not 11.
    /// </summary>
    private static int SecondsUntil(double missing, long perWindow, int windowSeconds) =>
        Math.Max(1, (int)Math.Min(int.MaxValue, Math.Ceiling((missing * windowSeconds / perWindow) - 1e-9)));
}

/// <summary>A budget's limits: requests and tokens per window of <see cref="WindowSeconds"/>; 0 turns that limit off.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.BudgetLimits")]
public sealed record BudgetLimits(
    [property: Id(0)] int RequestsPerWindow,
    [property: Id(1)] long TokensPerWindow,
    [property: Id(2)] int WindowSeconds);

/// <summary>Whether a request may call the model; when not, which limit it is over and in how many seconds to retry.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.BudgetDecision")]
public readonly record struct BudgetDecision([property: Id(0)] BudgetExceeded Exceeded, [property: Id(1)] int RetryAfterSeconds)
{
    public static readonly BudgetDecision Admitted = new(BudgetExceeded.None, 0);

    public bool IsAdmitted => Exceeded == BudgetExceeded.None;
}

[GenerateSerializer, Alias("SessionTracking.BudgetExceeded")]
public enum BudgetExceeded
{
    None,
    Requests,
    Tokens,
}
