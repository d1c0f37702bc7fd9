namespace SessionTracking;

/// <summary>
/// Moves a client's event time onto the server's clock. The tracker sends its clock with every request
/// (<c>sent_at</c>); the server's receive time minus that is the client clock's skew (plus the request's transit, a
/// few milliseconds that make the corrected time a little late, never early), and an event's corrected time is
/// <c>t + skew = received_at − (sent_at − t)</c>: how long before the request the event happened, measured on the
/// client's own clock, counted back from the receipt. The rules, in order:
/// <list type="number">
/// <item>no <c>t</c> (the server stamped it): the receive time;</item>
/// <item>no <c>sent_at</c>, or |skew| above <see cref="SessionOptions.MaxClockSkew"/> (a clock or field too wrong to
/// trust), or <c>sent_at</c> earlier than <c>t</c> by more than <see cref="SessionOptions.SentAtTolerance"/> (a batch
/// sent before its event happened): the client's <c>t</c>, never later than the receive time;</item>
/// <item>otherwise <c>received_at − (sent_at − t)</c>, never later than the receive time (<c>sent_at</c> within the
/// tolerance before <c>t</c>) nor before the epoch.</item>
/// </list>
/// </summary>
public readonly struct ClockSkewCorrection(long maxSkewMs, long sentAtToleranceMs)
{
    public ClockSkewCorrection(SessionOptions options)
        : this((long)options.MaxClockSkew.TotalMilliseconds, (long)options.SentAtTolerance.TotalMilliseconds)
    {
    }

    /// <summary>The corrected time of an event with client time <paramref name="clientTime"/> (Unix ms).</summary>
    public long Correct(long? clientTime, long? sentAt, long receivedAt)
    {
        if (clientTime is not { } t)
        {
            return receivedAt;
        }

        if (sentAt is not { } sent || !IsPlausible(t, sent, receivedAt))
        {
            return Math.Min(t, receivedAt);
        }

        // sent − t ≥ −tolerance here, so the result is at most received + tolerance before the clamp.
        return Math.Clamp(receivedAt - (sent - t), 0, receivedAt);
    }

    private bool IsPlausible(long t, long sentAt, long receivedAt) =>
        Math.Abs(receivedAt - sentAt) <= maxSkewMs && sentAt >= t - sentAtToleranceMs;
}
