using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>The event-time rule of docs/tracker.md (Event time), one test per case, with the default bounds.</summary>
[TestCategory("BVT")]
public sealed class ClockSkewCorrectionTests
{
    private const long Received = 1_750_000_000_000;
    private const long Minute = 60_000;
    private static readonly ClockSkewCorrection Rule = new(new SessionOptions()); // 30 days, 1 s

    [Fact]
    public void A_clock_ten_minutes_ahead_is_moved_back_by_the_skew()
    {
        // The client's clock reads received + 10 min when it sends; its event happened 3 s before the send.
        var sent = Received + (10 * Minute);
        var t = sent - 3_000;

        Assert.Equal(Received - 3_000, Rule.Correct(t, sent, Received));
    }

    [Fact]
    public void A_clock_two_days_behind_is_moved_forward_by_the_skew()
    {
        var sent = Received - (2 * 24 * 60 * Minute);

        Assert.Equal(Received - 500, Rule.Correct(sent - 500, sent, Received));
    }

    [Fact]
    public void An_event_queued_offline_for_hours_keeps_its_age()
    {
        // Right clock, event logged 5 hours before the request that carried it: corrected = t.
        var t = Received - (300 * Minute);

        Assert.Equal(t, Rule.Correct(t, Received, Received));
    }

    [Fact]
    public void Without_t_the_receive_time_is_the_event_time()
    {
        Assert.Equal(Received, Rule.Correct(null, Received + Minute, Received));
        Assert.Equal(Received, Rule.Correct(null, null, Received));
    }

    [Fact]
    public void Without_sent_at_t_is_kept_but_never_later_than_the_receipt()
    {
        Assert.Equal(Received - Minute, Rule.Correct(Received - Minute, null, Received));
        Assert.Equal(Received, Rule.Correct(Received + (10 * Minute), null, Received));
    }

    [Fact]
    public void A_skew_beyond_the_bound_counts_as_absurd_and_t_is_not_shifted()
    {
        var days31 = 31L * 24 * 60 * Minute;

        // sent_at far in the future, and far in the past (e.g. 0): t kept, clamped to the receipt.
        Assert.Equal(Received, Rule.Correct(Received + days31 - 10, Received + days31, Received));
        Assert.Equal(Received - days31 - 10, Rule.Correct(Received - days31 - 10, Received - days31, Received));
        Assert.Equal(5_000, Rule.Correct(5_000, 0, Received));

        // Just inside the bound the skew is applied.
        var days29 = 29L * 24 * 60 * Minute;
        Assert.Equal(Received - 10, Rule.Correct(Received + days29 - 10, Received + days29, Received));
    }

    [Fact]
    public void A_batch_sent_before_its_event_beyond_the_tolerance_falls_back_to_t()
    {
        // sent_at 5 s before t: one of the two is wrong; the skew it implies is not trusted.
        var sent = Received + (10 * Minute);

        Assert.Equal(Received, Rule.Correct(sent + 5_000, sent, Received));
        Assert.Equal(Received - Minute, Rule.Correct(Received - Minute, Received - Minute - 5_000, Received));
    }

    [Fact]
    public void A_batch_sent_before_its_event_within_the_tolerance_is_corrected_and_clamped_to_the_receipt()
    {
        var sent = Received + (10 * Minute);

        Assert.Equal(Received, Rule.Correct(sent + 400, sent, Received));
        Assert.Equal(Received, Rule.Correct(sent + 1_000, sent, Received));
    }

    [Fact]
    public void The_corrected_time_is_never_before_the_epoch()
    {
        // A t of 1970 in a batch from a right clock would land before 0 after a negative skew.
        Assert.Equal(0, Rule.Correct(10, Received + Minute, Received));
    }

    [Fact]
    public void The_bounds_are_taken_from_the_options()
    {
        var strict = new ClockSkewCorrection(new SessionOptions { MaxClockSkew = TimeSpan.FromMinutes(5), SentAtTolerance = TimeSpan.Zero });
        var sent = Received + (10 * Minute);

        Assert.Equal(Received, strict.Correct(sent - 3_000, sent, Received)); // 10 min > 5 min: t, clamped
        Assert.Equal(Received - 3_000, strict.Correct(Received + Minute - 3_000, Received + Minute, Received));
        Assert.Equal(Received - Minute, strict.Correct(Received - Minute, Received - Minute - 1, Received)); // 1 ms early: not trusted
    }
}
